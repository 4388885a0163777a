"""Who works a ticket: take ("assign to me"), assign to a colleague, unassign.

The owner is one XOP staff member of the level that owns the ticket (Level 2, 3 or 4; an
Emergency ticket is Level 4's). Ownership moves neither the state nor a clock, so its rules are
a table of their own beside :data:`xop.tickets.model.TABLE`, with the same
:class:`~xop.tickets.model.Decision` cells over the same axes (action × state × model level ×
actor class): :data:`OWNERSHIP_TABLE`. :func:`decide_ownership` adds the facts a cell cannot see
(who owns it now, the colleague's level), the mixin :class:`OwnershipActions` of
:class:`xop.tickets.service.TicketService` enforces it and records each change as an internal
event of the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from xop.core.config import XopConfig
from xop.core.errors import InvalidTransition
from xop.core.vocabulary import STATES
from xop.tickets import validation
from xop.tickets.model import (
    ACTOR_CLASSES,
    EMERGENCY,
    LEVEL_LABELS,
    MODEL_LEVELS,
    Actor,
    Decision,
    actor_of_class,
    level_of,
)

if TYPE_CHECKING:
    from xop.tickets.records import Ticket

OWNERSHIP_ACTIONS: tuple[str, ...] = ("take", "assign", "unassign")


def owning_level(level: int) -> int:
    """The staff level that works a ticket at model ``level`` (Emergency: Level 4)."""
    return 4 if level == EMERGENCY else level


def _cell(action: str, state: str, level: int, who: Actor) -> Decision:
    if who.kind != "staff":
        return Decision(False, f"XOP staff own tickets; a {who.kind} cannot {action} one")
    if state == "closed":
        return Decision(False, "the ticket is closed: reopen it first")
    if level == 1:
        return Decision(False, "at Level 1 the customer's own staff work it; XOP owns a ticket from Level 2")
    owner = owning_level(level)
    if action == "take" and who.level != owner:
        return Decision(False, f"{LEVEL_LABELS[level]} tickets are taken by Level {owner} staff")
    if action in ("assign", "unassign") and (who.level or 0) < owner:
        return Decision(False, f"Level {owner} (or higher) staff {action} {LEVEL_LABELS[level]} tickets")
    return Decision(True)


def _build() -> Mapping[tuple[str, str, int, str], Decision]:
    return MappingProxyType(
        {
            (a, s, lv, c): _cell(a, s, lv, actor_of_class(c))
            for a in OWNERSHIP_ACTIONS
            for s in STATES
            for lv in MODEL_LEVELS
            for c in ACTOR_CLASSES
        }
    )


#: Every cell: (action, state, model level, actor class) → :class:`Decision` (never a clock).
OWNERSHIP_TABLE = _build()


def _get(ticket: Any, key: str) -> Any:
    return ticket[key] if isinstance(ticket, Mapping) else getattr(ticket, key, None)


def decide_ownership(
    cfg: XopConfig, action: str, ticket: Any, actor: Actor, *, to: str | None = None
) -> Decision:
    """The table's cell plus the facts: who owns the ticket now, and (assign) whether ``to`` is
    staff of the owning level (``staff:`` in the config)."""
    level = level_of(ticket)
    d = OWNERSHIP_TABLE[(action, _get(ticket, "state"), level, actor.actor_class)]
    if not d:
        return d
    current = _get(ticket, "owner")
    if action == "take" and current == actor.name:
        return Decision(False, "you already own this ticket")
    if action == "unassign" and current is None:
        return Decision(False, "nobody owns this ticket")
    if action == "assign" and to is not None:
        owner, theirs = owning_level(level), cfg.staff_level(to)
        if theirs != owner:
            why = f"{to} works at Level {theirs}; {LEVEL_LABELS[level]} tickets go to Level {owner} staff"
            return Decision(False, why)
        if current == to:
            return Decision(False, f"{to} already owns this ticket")
    return d


def ownership_actions_for(cfg: XopConfig, ticket: Any, actor: Actor) -> list[str]:
    """The ownership actions ``actor`` may take on ``ticket`` now (hints for the page)."""
    return [a for a in OWNERSHIP_ACTIONS if decide_ownership(cfg, a, ticket, actor)]


def colleagues(cfg: XopConfig, level: int) -> list[str]:
    """The staff users named in the config who work at the owning level of model ``level``."""
    owner = owning_level(level)
    return sorted(name for name, lv in cfg.staff.users.items() if lv == owner)


class OwnershipActions:
    """take, assign, unassign: a mixin of :class:`xop.tickets.service.TicketService`."""

    def take(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """The acting staff member becomes the owner ("assign to me")."""
        return self._own(number, "take", actor, now, to=None)

    def assign(self, number: str, *, to: str, actor: Actor | str, now: datetime) -> Ticket:
        """Give the ticket to ``to``, a staff user of the level that owns it."""
        to = validation.text("to", to, max_len=120)
        return self._own(number, "assign", actor, now, to=to)

    def unassign(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """Nobody owns the ticket any more (it shows under "unassigned")."""
        return self._own(number, "unassign", actor, now, to=None)

    def _own(self, number: str, action: str, actor: Actor | str, now: datetime, *, to: str | None) -> Ticket:
        now, who = validation.check_now(now), self._actor(actor)
        with self._tx() as conn:
            t = self._load(conn, number)
            d = decide_ownership(self.cfg, action, t, who, to=to)
            if not d:
                raise InvalidTransition(
                    f"{t.number}: cannot {action} a ticket that is {t.state} at {LEVEL_LABELS[level_of(t)]}"
                    f" as Level {who.level} staff {who.name!r}: {d.why_not}"
                    if who.kind == "staff"
                    else f"{t.number}: cannot {action} as {who.kind} {who.name!r}: {d.why_not}"
                )
            owner = {"take": who.name, "assign": to, "unassign": None}[action]
            kind = {"take": "taken", "assign": "assigned", "unassign": "unassigned"}[action]
            body = {
                "take": f"{who.name} took the ticket",
                "assign": f"{who.name} assigned the ticket to {to}",
                "unassign": f"{who.name} unassigned {t.owner}",
            }[action]
            self._event(
                conn,
                t,
                kind,
                actor=who,
                now=now,
                public=False,
                body=body,
                payload={"owner": owner, "previous": t.owner},
            )
            self._set(conn, t, now, owner=owner)
        return self.get(t.number)

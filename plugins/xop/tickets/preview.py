"""What an action would do, before it is done: the dry run behind the page's confirmation.

:meth:`DryRun.dry_run` runs the action itself (the same validation, the transition table's
:func:`xop.tickets.model.decide` through ``_require``, the same clock writes and the same emails
queued) inside a transaction that is always rolled back, and reports the difference: the state
and level after, each clock started, met, stopped, paused, resumed or retargeted, and every
email the outbox would have received (recipient, audience, subject). Running the real code
instead of restating its rules means the preview cannot disagree with the action: a refusal is
the action's own refusal, and the recipients are the ones ``xop.tickets.notices`` would pick
(the closing report's management contacts, the next level, watchers...).

Nothing is committed; on PostgreSQL the ticket row is locked for the moment of the dry run,
as the action itself would lock it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from xop.core.vocabulary import CLOCK_LABELS
from xop.notify.delivery import rendered
from xop.notify.tables import notifications
from xop.tickets import records
from xop.tickets.model import ACTIONS, LEVEL_LABELS, Actor, level_of
from xop.tickets.tables import ticket_clocks, ticket_events

if TYPE_CHECKING:
    from xop.tickets.records import Ticket

#: The model's action name -> the service method that performs it (only the RCA's differs).
METHODS: dict[str, str] = {a: {"rca": "send_rca"}.get(a, a) for a in ACTIONS}


@dataclass
class Preview:
    """The outcome of a dry run (nothing of it was written)."""

    action: str
    number: str
    state_before: str
    state_after: str
    level_before: str
    level_after: str
    owner: str | None
    clocks: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)


def _clock_rows(conn: Connection, ticket_id: int) -> dict[int, dict[str, Any]]:
    q = select(ticket_clocks).where(ticket_clocks.c.ticket_id == ticket_id)
    return {r.id: dict(r._mapping) for r in conn.execute(q)}


def clock_changes(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each clock the action touched, in words: starts / starts paused / met / stops / pauses /
    resumes / retargeted, with its due time after the action."""
    out = []
    for cid, new in sorted(after.items()):
        old = before.get(cid)
        if old is None:
            change = "starts paused" if new["paused_at"] is not None else "starts"
        elif old["met_at"] is None and new["met_at"] is not None:
            change = "met"
        elif old["stopped_at"] is None and new["stopped_at"] is not None:
            change = "stops"
        elif old["paused_at"] is None and new["paused_at"] is not None:
            change = "pauses"
        elif old["paused_at"] is not None and new["paused_at"] is None:
            change = "resumes"
        elif old["target_seconds"] != new["target_seconds"] or old["due_at"] != new["due_at"]:
            change = "retargeted"
        else:
            continue
        out.append(
            {
                "name": new["name"],
                "label": CLOCK_LABELS[new["name"]],
                "cycle": new["cycle"],
                "change": change,
                "due_at": new["due_at"],
                "was_due_at": old["due_at"] if old else None,
            }
        )
    return out


class DryRun:
    """``dry_run``: a mixin of :class:`xop.tickets.service.TicketService`."""

    def dry_run(self, action: str, number: str, *, actor: Actor | str, now: datetime, **kw: Any) -> Preview:
        """Run ``action`` (a name of :data:`METHODS`, with that method's keywords) and roll it
        back; returns what it did. Refusals and bad input raise exactly as the action does."""
        if action not in METHODS:
            raise KeyError(f"no action {action!r}; one of {', '.join(METHODS)}")
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                return self._dry(conn, action, number, actor, now, kw)
            finally:
                tx.rollback()

    def _dry(
        self, conn: Connection, action: str, number: str, actor: Actor | str, now: datetime, kw: dict
    ) -> Preview:
        t = records.load(conn, number, lock=False)
        last_event = conn.execute(
            select(ticket_events.c.id)
            .where(ticket_events.c.ticket_id == t.id)
            .order_by(ticket_events.c.id.desc())
        ).first()
        before = _clock_rows(conn, t.id)

        @contextmanager
        def same_tx() -> Iterator[Connection]:
            yield conn

        twin = copy.copy(self)  # the same service whose transaction is ours (and rolled back)
        twin._tx = same_tx  # type: ignore[method-assign]
        twin.get = lambda n: records.load(conn, n, lock=False)  # type: ignore[method-assign]
        after_t: Ticket = getattr(twin, METHODS[action])(number, actor=actor, now=now, **kw)
        events = [
            e
            for e in conn.execute(
                select(ticket_events.c.id).where(
                    ticket_events.c.ticket_id == t.id,
                    ticket_events.c.id > (last_event.id if last_event else 0),
                )
            ).scalars()
        ]
        emails = []
        if events:
            q = select(notifications).where(notifications.c.event_id.in_(events)).order_by(notifications.c.id)
            for row in conn.execute(q):
                subject, _ = rendered(dict(row._mapping))
                emails.append(
                    {
                        "recipient": row.recipient,
                        "audience": row.audience,
                        "kind": row.kind,
                        "subject": subject,
                    }
                )
        return Preview(
            action=action,
            number=t.number,
            state_before=t.state,
            state_after=after_t.state,
            level_before=LEVEL_LABELS[level_of(t)],
            level_after=LEVEL_LABELS[level_of(after_t)],
            owner=after_t.owner,
            clocks=clock_changes(before, _clock_rows(conn, t.id)),
            emails=emails,
        )

    if TYPE_CHECKING:
        engine: Any

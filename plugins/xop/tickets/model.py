"""The ticket model as data: levels, actors, and the transition table.

Every operation on a ticket is an *action*; whether it is allowed depends on the ticket's
state, its level and who acts. :data:`TABLE` holds one :class:`Decision` per cell
(action × state × level × actor class): allowed or not, why not, the state it leads to and what
it does to each SLA clock. The service enforces it (:func:`decide`, which adds the few facts a
cell cannot know, such as "already recovered"), the API's and the page's action hints read it
(:func:`actions_for`), and ``tests/tickets/test_model.py`` walks every cell.

Actors:

- **customer**: the reporter and the customer's contacts (the seed's Level 1). Opens (proposing
  an urgency, never setting one), replies (never meets an XOP clock; resumes a ticket that waits
  on the customer), escalates from Level 1 to Level 2, closes, reopens.
- **staff** of Level 2, 3 or 4 (``staff:`` in the config; unknown users act as Level 2). Only a
  public response by staff of the level that owns the ticket meets that level's response clock.
  The RCA email is Level 3's or 4's (seed: Level 3 provides the RCA).
- **monitoring**: opens tickets with urgency and source, classifies, adds notes.
- **system**: the SLA sweep: escalates on a breach and writes notes.

Levels: 1 (the customer's own staff: no XOP clock runs), 2, 3, 4, and :data:`EMERGENCY` (5):
beyond Level 4, the management conference of seed section 3. An Emergency ticket is stored at
level 4 with ``emergency_at`` set; :func:`level_of` gives its model level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from xop.core.errors import InvalidInput
from xop.core.vocabulary import ACTIVE_STATES, STATES

EMERGENCY = 5
#: Model levels, lowest first. The database stores 1-4; Emergency is level 4 + ``emergency_at``.
MODEL_LEVELS: tuple[int, ...] = (1, 2, 3, 4, EMERGENCY)
LEVEL_LABELS = {1: "Level 1", 2: "Level 2", 3: "Level 3", 4: "Level 4", EMERGENCY: "Emergency"}

ActorKind = Literal["customer", "staff", "monitoring", "system"]
ACTOR_KINDS: tuple[ActorKind, ...] = ("customer", "staff", "monitoring", "system")
STAFF_LEVELS: tuple[int, ...] = (2, 3, 4)
#: The actor classes of the table: one per kind, staff split by level.
ACTOR_CLASSES: tuple[str, ...] = ("customer", "staff2", "staff3", "staff4", "monitoring", "system")

Action = Literal[
    "respond",
    "note",
    "classify",
    "escalate",
    "pause",
    "resume",
    "recover",
    "rca",
    "resolve",
    "close",
    "reopen",
]
ACTIONS: tuple[str, ...] = get_args(Action)

#: Clocks a level owns; reaching the level starts them.
LEVEL_CLOCKS: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {1: (), 2: ("l2_response",), 3: ("l3_response", "l3_recovery"), 4: ("l4_resolution",), EMERGENCY: ()}
)
#: The response clock the owning level's public reply meets.
RESPONSE_CLOCK: Mapping[int, str] = MappingProxyType({2: "l2_response", 3: "l3_response"})
RESPONSE_CLOCKS = ("l2_response", "l3_response")

#: What an action does to a clock (keys of :attr:`Decision.clocks`; absent clocks are untouched).
ClockEffect = Literal[
    "start",  # started now (a new cycle's clock on reopen)
    "start_paused",  # started now, paused: the ticket waits on the customer
    "meet",  # met now
    "stop",  # stopped, not met (left the owning level, resolved, closed)
    "pause",
    "resume",
    "retarget",  # target recomputed from the new urgency; start and pauses kept
]
ALL_CLOCKS = "*"  # a Decision.clocks key: every running clock of the ticket

_MAX_NAME = 120


@dataclass(frozen=True)
class Actor:
    """Who acts on a ticket. ``level`` is set for staff only (2, 3 or 4)."""

    kind: ActorKind
    name: str
    level: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise InvalidInput("actor", f"kind must be one of {', '.join(ACTOR_KINDS)}; got {self.kind!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("actor", f"needs a name, got {self.name!r}")
        if len(self.name) > _MAX_NAME:
            raise InvalidInput("actor", f"name is {len(self.name)} characters long; the limit is {_MAX_NAME}")
        if self.kind == "staff":
            if isinstance(self.level, bool) or self.level not in STAFF_LEVELS:
                raise InvalidInput("actor", f"a staff actor's level is 2, 3 or 4; got {self.level!r}")
        elif self.level is not None:
            raise InvalidInput("actor", f"only staff have a level; a {self.kind} actor got {self.level!r}")

    @classmethod
    def customer(cls, email_or_name: str) -> Actor:
        return cls("customer", email_or_name)

    @classmethod
    def staff(cls, name: str, level: int) -> Actor:
        return cls("staff", name, level)

    @classmethod
    def monitoring(cls, name: str = "xop-monitoring") -> Actor:
        return cls("monitoring", name)

    @classmethod
    def system(cls, name: str = "xop-sweep") -> Actor:
        return cls("system", name)

    @property
    def actor_class(self) -> str:
        """The table's column: ``customer``, ``staff2``..``staff4``, ``monitoring`` or ``system``."""
        return f"staff{self.level}" if self.kind == "staff" else self.kind

    @property
    def is_xop(self) -> bool:
        return self.kind != "customer"


def actor_of_class(actor_class: str, name: str = "someone") -> Actor:
    if actor_class.startswith("staff"):
        return Actor.staff(name, int(actor_class[5:]))
    return Actor(actor_class, name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decision:
    """One cell of the table: allowed, why not, the resulting state, what happens to each clock.

    ``state`` is the state after the action (``None``: unchanged; ``"open|recovered"``: back to
    recovered if the ticket had recovered, else open). ``clocks`` maps clock names (or
    :data:`ALL_CLOCKS`) to a :data:`ClockEffect`; clocks that are not running are never
    touched, and a clock named to ``start`` that already exists for the cycle is kept.
    """

    allowed: bool
    why_not: str = ""
    state: str | None = None
    clocks: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.allowed


def _no(why: str) -> Decision:
    return Decision(False, why)


def _yes(state: str | None = None, **clocks: str) -> Decision:
    return Decision(True, "", state, MappingProxyType(dict(clocks)))


def escalation_clocks(
    from_level: int, to_level: int, *, waiting: bool, recovered: bool = False
) -> dict[str, str]:
    """Clock effects of an escalation: the new owner's clocks start (paused while the ticket waits
    on the customer; no recovery clock once service is recovered); skipped levels' clocks never
    start; lower levels' response clocks stop."""
    effects: dict[str, str] = {}
    for name in RESPONSE_CLOCKS:
        owner = 2 if name == "l2_response" else 3
        if owner < to_level:
            effects[name] = "stop"
    for name in LEVEL_CLOCKS[to_level]:
        if name == "l3_recovery" and recovered:
            continue
        effects[name] = "start_paused" if waiting else "start"
    return effects


def _cell(action: str, state: str, level: int, who: Actor) -> Decision:
    active = state in ACTIVE_STATES
    kind = who.kind
    staff_level = who.level or 0
    if action == "respond":
        if kind in ("monitoring", "system"):
            return _no("monitoring and the sweep add notes; replies come from people")
        if state == "closed":
            return _no("the ticket is closed: reopen it first")
        if kind == "customer":
            if state == "waiting_customer":
                return _yes("open|recovered", **{ALL_CLOCKS: "resume"})
            return _yes()
        clock = RESPONSE_CLOCK.get(level)
        return _yes(**({clock: "meet"} if clock and staff_level == level else {}))
    if action == "note":
        if kind == "customer":
            return _no("a customer's message is a public update (respond), not an internal note")
        return _yes()
    if action == "classify":
        if kind == "customer":
            return _no("a customer proposes an urgency when opening; XOP staff or monitoring classify")
        if kind == "system":
            return _no("the sweep does not classify tickets")
        if not active:
            return _no(f"the ticket is {state}: classify it while it is worked")
        return _yes(**{ALL_CLOCKS: "retarget"})
    if action == "escalate":
        if not active:
            return _no(f"the ticket is {state}: {state} tickets never escalate")
        if level == EMERGENCY:
            return _no("the ticket is already at Emergency; nothing is above it")
        if kind == "monitoring":
            return _no("monitoring opens and notes tickets; people and the sweep escalate them")
        if kind == "customer" and level != 1:
            return _no("a customer escalates from Level 1 to Level 2; XOP escalates further")
        if kind == "staff" and level == 4 and staff_level < 4:
            return _no("Emergency is Level 4's call (product development), or the sweep's on a miss")
        if kind == "system" and level == 1:
            return _no("no XOP clock runs at Level 1: the customer escalates to Level 2")
        return _yes(**escalation_clocks(level, level + 1, waiting=state == "waiting_customer"))
    if action in ("pause", "resume", "recover", "resolve"):
        if kind == "customer":
            why = {
                "pause": "XOP staff set a ticket to wait on the customer",
                "resume": "a customer's reply resumes the ticket (respond)",
                "recover": "XOP staff confirm that service is recovered",
                "resolve": "XOP staff deliver the fix; the customer closes the ticket",
            }[action]
            return _no(why)
        if kind in ("monitoring", "system"):
            return _no(f"a person must {action} a ticket; {kind} only notes")
        if action == "pause":
            if state not in ("open", "recovered"):
                return _no(
                    f"the ticket is {state}: only an open or recovered ticket can wait on the customer"
                )
            return _yes("waiting_customer", **{ALL_CLOCKS: "pause"})
        if action == "resume":
            if state != "waiting_customer":
                return _no(f"the ticket is {state}, not waiting on the customer")
            return _yes("open|recovered", **{ALL_CLOCKS: "resume"})
        if action == "recover":
            if state not in ("open", "waiting_customer"):
                return _no(f"the ticket is {state}: recovery is recorded once, on an open ticket")
            effects = {"l3_recovery": "meet"} | ({"l3_rca": "start"} if level >= 3 else {})
            if state == "waiting_customer":
                effects = {ALL_CLOCKS: "resume"} | effects
            return _yes("recovered", **effects)
        # resolve
        if not active:
            return _no(f"the ticket is {state}: only a worked ticket can be resolved")
        effects = {
            "l4_resolution": "meet",
            "l3_recovery": "meet",
            "l2_response": "stop",
            "l3_response": "stop",
        }
        if level >= 3 and state != "recovered":
            effects["l3_rca"] = "start"  # recovered now, by the fix: the RCA is still owed
        return _yes("resolved", **effects)
    if action == "rca":
        if kind != "staff":
            return _no("the RCA email is written by XOP Level 3 or 4")
        if staff_level < 3:
            return _no("the RCA email is Level 3's (or product development's), not Level 2's")
        if state in ("open", "closed"):
            return _no(f"the ticket is {state}: an RCA follows recovery")
        return _yes(l3_rca="meet")
    if action == "close":
        if kind in ("monitoring", "system"):
            return _no("a person closes a ticket (the customer, or XOP staff with the closing report)")
        if state == "closed":
            return _no("the ticket is already closed")
        return _yes("closed", **{ALL_CLOCKS: "stop"})
    if action == "reopen":
        if kind in ("monitoring", "system"):
            return _no("a person reopens a ticket; monitoring opens a new one")
        if state not in ("resolved", "closed"):
            return _no(f"the ticket is {state}: only resolved or closed tickets are reopened")
        owner = 4 if level == EMERGENCY else level
        return _yes("open", **dict.fromkeys(LEVEL_CLOCKS[owner], "start"))
    raise KeyError(action)


def _build() -> Mapping[tuple[str, str, int, str], Decision]:
    table = {}
    for action in ACTIONS:
        for state in STATES:
            for level in MODEL_LEVELS:
                for cls in ACTOR_CLASSES:
                    table[(action, state, level, cls)] = _cell(action, state, level, actor_of_class(cls))
    return MappingProxyType(table)


#: Every cell: (action, state, model level, actor class) → :class:`Decision`.
TABLE = _build()


def allowed(action: str, state: str, level: int, actor: Actor) -> Decision:
    """The table's cell for ``actor`` doing ``action`` on a ticket in ``state`` at ``level``."""
    try:
        return TABLE[(action, state, level, actor.actor_class)]
    except KeyError:
        raise KeyError(f"no cell for action={action!r} state={state!r} level={level!r}") from None


def _get(ticket: Any, key: str) -> Any:
    return ticket[key] if isinstance(ticket, Mapping) else getattr(ticket, key)


def level_of(ticket: Any) -> int:
    """A ticket's model level: its stored level, or :data:`EMERGENCY` once it reached Emergency."""
    return EMERGENCY if _get(ticket, "emergency_at") is not None else int(_get(ticket, "level"))


def decide(action: str, ticket: Any, actor: Actor, *, to_level: int | None = None) -> Decision:
    """The table's cell for this ticket, plus the facts a cell cannot see.

    Those facts: a ticket is recovered once (a second ``recover`` is refused, also while it waits
    on the customer after recovery); an RCA follows recovery and is sent once; an explicit
    ``to_level`` must be above the ticket's level (escalating past a level starts only the new
    owner's clocks).
    """
    state, level = _get(ticket, "state"), level_of(ticket)
    d = allowed(action, state, level, actor)
    if not d:
        return d
    if action == "recover" and _get(ticket, "recovered_at") is not None:
        return _no(
            f"service was already recorded recovered at {_get(ticket, 'recovered_at'):%Y-%m-%d %H:%M} UTC"
        )
    if action == "rca":
        if _get(ticket, "recovered_at") is None:
            return _no("an RCA follows recovery: mark the ticket recovered first")
        if _get(ticket, "rca_sent_at") is not None:
            return _no(f"the RCA was already sent at {_get(ticket, 'rca_sent_at'):%Y-%m-%d %H:%M} UTC")
    if action in ("respond", "resume") and d.state == "open|recovered":
        return Decision(True, "", "recovered" if _get(ticket, "recovered_at") else "open", d.clocks)
    if action == "resolve" and _get(ticket, "recovered_at") is not None and "l3_rca" in d.clocks:
        return Decision(True, "", d.state, {k: v for k, v in d.clocks.items() if k != "l3_rca"})
    if action == "escalate":
        to = level + 1 if to_level is None else to_level
        if to <= level:
            here = LEVEL_LABELS[level]
            return _no(f"the ticket is at {here}; escalation must go up, not to level {to}")
        if to == EMERGENCY and actor.kind == "staff" and (actor.level or 0) < 4:
            return _no("Emergency is Level 4's call (product development), or the sweep's on a miss")
        if actor.kind == "customer" and to != 2:
            return _no("a customer escalates from Level 1 to Level 2; XOP escalates further")
        waiting, recovered = state == "waiting_customer", _get(ticket, "recovered_at") is not None
        return Decision(True, "", None, escalation_clocks(level, to, waiting=waiting, recovered=recovered))
    return d


def actions_for(ticket: Any, actor: Actor) -> list[str]:
    """The actions ``actor`` may take on ``ticket`` now, in the table's order (for action hints)."""
    return [a for a in ACTIONS if decide(a, ticket, actor)]

"""The transition table: its rules as data, and every cell of it walked through the service.

The walk builds a ticket in each (state, level) through the service itself, then tries every
(action, actor) on it: a refused cell raises InvalidTransition with the table's reason and
changes nothing; an allowed cell runs on a fresh ticket and leads to the state and the clock
effects its decision names. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from xop.core.errors import InvalidInput, InvalidTransition
from xop.core.vocabulary import ACTIVE_STATES, CLOCK_NAMES, STATES
from xop.notify.tables import notifications
from xop.tickets import Actor, TicketService
from xop.tickets.model import (
    ACTIONS,
    ACTOR_CLASSES,
    ALL_CLOCKS,
    EMERGENCY,
    MODEL_LEVELS,
    TABLE,
    actions_for,
    actor_of_class,
    allowed,
    decide,
)
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

CHI = ZoneInfo("America/Chicago")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=CHI).astimezone(UTC)  # Tuesday 09:00 CST
EFFECTS = {"start", "start_paused", "meet", "stop", "pause", "resume", "retarget"}
LEAD = "lena"  # acts as Level 2 (no staff: entry)


# -- the table as data ---------------------------------------------------------------------


def test_every_cell_is_defined_and_explains_itself():
    assert len(TABLE) == len(ACTIONS) * len(STATES) * len(MODEL_LEVELS) * len(ACTOR_CLASSES)
    for (action, state, level, who), d in TABLE.items():
        cell = (action, state, level, who)
        if not d:
            assert d.why_not and not d.clocks and d.state is None, cell
            continue
        assert d.why_not == "", cell
        assert d.state in (None, "open|recovered", *STATES), cell
        for clock, effect in d.clocks.items():
            assert clock in (*CLOCK_NAMES, ALL_CLOCKS) and effect in EFFECTS, cell


def test_rules_that_must_hold_in_every_cell():
    for (action, state, level, who), d in TABLE.items():
        cell = (action, state, level, who)
        if who == "customer":  # a customer never meets an XOP clock, never classifies
            assert "meet" not in d.clocks.values(), cell
            assert action != "classify" or not d, cell
            assert action != "escalate" or not d or level == 1, cell
        if action == "escalate" and state not in ACTIVE_STATES:
            assert not d, cell  # resolved and closed tickets never escalate
        if action == "respond" and d:
            met = {c for c, e in d.clocks.items() if e == "meet"}
            owner = {2: {"l2_response"}, 3: {"l3_response"}}.get(level, set())
            assert met == (owner if who == f"staff{level}" else set()), cell
        if who in ("monitoring", "system"):
            assert action in ("note", "classify", "escalate") or not d, cell
        if action == "escalate" and d and state == "waiting_customer":
            assert "start" not in d.clocks.values(), cell  # clocks started while waiting start paused
    # Escalating past a level starts only the new owner's clocks.
    skip = decide("escalate", _fake(level=2), Actor.staff("x", 3), to_level=4)
    assert dict(skip.clocks) == {"l2_response": "stop", "l3_response": "stop", "l4_resolution": "start"}
    skip = decide("escalate", _fake(level=1), Actor.staff("x", 2), to_level=3)
    assert {c for c, e in skip.clocks.items() if e == "start"} == {"l3_response", "l3_recovery"}


def _fake(**kw):
    return {
        "state": "open",
        "level": 2,
        "emergency_at": None,
        "recovered_at": None,
        "rca_sent_at": None,
    } | kw


def test_actor_is_validated():
    assert Actor.staff("omar", 3).actor_class == "staff3"
    assert Actor.customer("carl@acme.example").kind == "customer"
    assert Actor.monitoring().name == "xop-monitoring" and Actor.system().name == "xop-sweep"
    for bad in (lambda: Actor.staff("x", 5), lambda: Actor("customer", "x", 2), lambda: Actor("robot", "x")):
        with pytest.raises(InvalidInput) as err:
            bad()
        assert err.value.field == "actor"
    with pytest.raises(InvalidInput):
        Actor.customer("  ")


def test_action_hints_follow_the_table():
    t = _fake(state="recovered", level=3, recovered_at=T0)
    assert "rca" in actions_for(t, Actor.staff("omar", 3))
    assert "rca" not in actions_for(t, Actor.staff("lena", 2))
    assert actions_for(_fake(state="closed"), Actor.customer("carl@acme.example")) == ["reopen"]
    assert actions_for(_fake(level=1), Actor.customer("carl@acme.example")) == [
        "respond",
        "escalate",
        "close",
    ]
    assert allowed("recover", "open", 2, Actor.staff("x", 2))
    assert not decide("recover", _fake(recovered_at=T0, state="waiting_customer"), Actor.staff("x", 2))


# -- every cell through the service --------------------------------------------------------


def _counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (tickets, ticket_events, ticket_clocks, notifications)
        }


def _build(svc: TicketService, state: str, level: int, now: datetime):
    """A ticket in ``state`` at model ``level``, made through the service."""
    t = svc.open(
        customer="acme",
        subject="Walk",
        reporter_name="Carl Caller",
        reporter_email="carl@acme.example",
        urgency="major",
        level=1 if level == 1 else 2,
        actor=LEAD,
        now=now,
    )
    if level >= 3:
        t = svc.escalate(t.number, actor=LEAD, now=now, to_level=min(level, 4))
    if level == EMERGENCY:
        t = svc.escalate(t.number, actor=Actor.staff("priya", 4), now=now)
    if state == "waiting_customer":
        t = svc.pause(t.number, actor=LEAD, now=now)
    elif state == "recovered":
        t = svc.recover(t.number, actor=LEAD, now=now)
    elif state in ("resolved", "closed"):
        t = svc.resolve(t.number, actor=LEAD, now=now, body="Fixed")
        if state == "closed":
            t = svc.close(t.number, actor=LEAD, now=now, report="Done")
    assert (t.state, (EMERGENCY if t.emergency_at else t.level)) == (state, level)
    return t


def _clone(engine, probe) -> str:
    """A copy of ``probe`` (ticket row and clocks) under a new number, in one transaction."""
    with engine.begin() as c:
        row = dict(c.execute(sa.select(tickets).where(tickets.c.id == probe.id)).one()._mapping)
        n = c.execute(sa.select(sa.func.count()).select_from(tickets)).scalar_one() + 1
        row |= {"number": f"XOP-9{n:05d}", "dedup_key": None}
        del row["id"]
        new_id = c.execute(sa.insert(tickets).returning(tickets.c.id), row).scalar_one()
        clocks = [
            dict(r._mapping)
            for r in c.execute(sa.select(ticket_clocks).where(ticket_clocks.c.ticket_id == probe.id))
        ]
        for k in clocks:
            del k["id"]
            k["ticket_id"] = new_id
        if clocks:
            c.execute(sa.insert(ticket_clocks), clocks)
    return row["number"]


def _do(svc: TicketService, action: str, number: str, actor: Actor, now: datetime):
    calls = {
        "respond": lambda: svc.respond(number, actor=actor, body="Reply", now=now),
        "note": lambda: svc.note(number, actor=actor, body="Note", now=now),
        "classify": lambda: svc.classify(number, urgency="critical", actor=actor, now=now),
        "escalate": lambda: svc.escalate(number, actor=actor, now=now),
        "pause": lambda: svc.pause(number, actor=actor, now=now),
        "resume": lambda: svc.resume(number, actor=actor, now=now),
        "recover": lambda: svc.recover(number, actor=actor, now=now),
        "rca": lambda: svc.send_rca(
            number, actor=actor, now=now, cause="c", extent="e", actions="a", plan="p"
        ),
        "resolve": lambda: svc.resolve(number, actor=actor, now=now, body="Fixed"),
        "close": lambda: svc.close(number, actor=actor, now=now, report="Done"),
        "reopen": lambda: svc.reopen(number, actor=actor, now=now, reason="Again"),
    }
    return calls[action]()


def _running(clocks: list[dict]) -> dict[tuple[str, int], dict]:
    return {(c["name"], c["cycle"]): c for c in clocks if c["met_at"] is None and c["stopped_at"] is None}


def _check_effects(decision, before: list[dict], after: list[dict], cycle: int, cell) -> None:
    was, now_ = _running(before), {(c["name"], c["cycle"]): c for c in after}
    for name, effect in decision.clocks.items():
        if name == ALL_CLOCKS:
            for key in was:
                c = now_[key]
                if effect == "pause":
                    assert c["paused_at"] is not None, cell
                elif effect == "resume":
                    assert c["paused_at"] is None, cell
                elif effect == "stop":
                    assert c["stopped_at"] is not None or c["met_at"] is not None, cell
            continue
        keys = [k for k in was if k[0] == name]
        if effect in ("meet", "stop"):
            for k in keys:
                assert now_[k]["met_at" if effect == "meet" else "stopped_at"] is not None, (cell, name)
        elif effect in ("start", "start_paused"):
            started = now_.get((name, cycle))
            assert started is not None and started["met_at"] is None, (cell, name)
            assert (started["paused_at"] is not None) == (effect == "start_paused"), (cell, name)
    if not decision.clocks:  # nothing named: no clock moved
        for key in was:
            assert now_[key]["met_at"] is None and now_[key]["stopped_at"] is None, cell


def test_the_service_enforces_every_cell(db_engine, xop_config):
    """Every refused cell is tried on the ticket itself; every allowed cell is run on a copy of it,
    once per distinct (action, state, level, actor kind, decision): staff of different levels with
    the same decision behave alike."""
    svc = TicketService(db_engine, xop_config)
    now = T0
    walked, ran = 0, set()
    for state in STATES:
        for level in MODEL_LEVELS:
            probe = _build(svc, state, level, now)
            for action in ACTIONS:
                for who in ACTOR_CLASSES:
                    actor = actor_of_class(who, f"walk-{who}")
                    cell = (action, state, level, who)
                    d = decide(action, probe, actor)
                    assert d.allowed <= TABLE[cell].allowed, cell  # facts only ever refuse more
                    walked += 1
                    if not d:
                        before = _counts(db_engine)
                        with pytest.raises(InvalidTransition) as err:
                            _do(svc, action, probe.number, actor, now)
                        assert d.why_not in str(err.value), cell
                        assert _counts(db_engine) == before, cell
                        continue
                    key = (action, state, level, actor.kind, d.state, tuple(sorted(d.clocks.items())))
                    if key in ran:
                        continue
                    ran.add(key)
                    number = _clone(db_engine, probe)
                    before = svc.clocks(number)
                    after_t = _do(svc, action, number, actor, now + timedelta(minutes=1))
                    expected = d.state or state
                    if action == "escalate":
                        expected = state
                    assert after_t.state == expected, cell
                    _check_effects(d, before, svc.clocks(number), after_t.reopen_count, cell)
    assert walked == len(TABLE) and len(ran) > 250

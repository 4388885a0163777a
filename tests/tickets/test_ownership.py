"""Ticket owners: take, assign to a colleague of the owning level, unassign; each an internal event,
each refused by the ownership table where it must be. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from xop.core.errors import InvalidTransition
from xop.core.vocabulary import STATES
from xop.tickets import Actor, TicketService
from xop.tickets.model import ACTOR_CLASSES, MODEL_LEVELS
from xop.tickets.ownership import (
    OWNERSHIP_ACTIONS,
    OWNERSHIP_TABLE,
    colleagues,
    decide_ownership,
    ownership_actions_for,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def _open(svc: TicketService, **kw):
    return svc.open(
        customer="acme",
        subject="Bridge drops callers",
        reporter_name="Carl",
        reporter_email="carl@acme.example",
        now=T0,
        **kw,
    )


def test_the_table_has_every_cell_and_only_staff_own():
    cells = len(OWNERSHIP_ACTIONS) * len(STATES) * len(MODEL_LEVELS) * len(ACTOR_CLASSES)
    assert len(OWNERSHIP_TABLE) == cells
    for (action, state, level, who), d in OWNERSHIP_TABLE.items():
        assert not d.clocks and d.state is None, (action, state, level, who)
        if not who.startswith("staff") or state == "closed" or level == 1:
            assert not d and d.why_not, (action, state, level, who)
        if d:
            assert d.why_not == ""


def test_take_assign_unassign_are_history(svc):
    t = _open(svc)
    assert t.owner is None
    t = svc.take(t.number, actor="lena", now=T0 + timedelta(minutes=1))
    assert t.owner == "lena"
    t = svc.assign(t.number, to="mia", actor="lena", now=T0 + timedelta(minutes=2))
    assert t.owner == "mia"
    t = svc.unassign(t.number, actor="mia", now=T0 + timedelta(minutes=3))
    assert t.owner is None
    events = [e for e in svc.history(t.number) if e["kind"] in ("taken", "assigned", "unassigned")]
    assert [(e["kind"], e["actor"], e["payload"]) for e in events] == [
        ("taken", "lena", {"owner": "lena", "previous": None}),
        ("assigned", "lena", {"owner": "mia", "previous": "lena"}),
        ("unassigned", "mia", {"owner": None, "previous": "mia"}),
    ]
    assert not any(e["public"] for e in events)
    # ownership moves no clock: the L2 response clock still runs
    assert [c["met_at"] or c["stopped_at"] for c in svc.clocks(t.number)] == [None]


def test_refusals_name_the_reason_and_change_nothing(svc, xop_config):
    t = _open(svc)
    with pytest.raises(InvalidTransition, match="Level 2 tickets are taken by Level 2 staff"):
        svc.take(t.number, actor="omar", now=T0)  # omar works at Level 3
    with pytest.raises(InvalidTransition, match="omar works at Level 3"):
        svc.assign(t.number, to="omar", actor="lena", now=T0)
    with pytest.raises(InvalidTransition, match="nobody owns this ticket"):
        svc.unassign(t.number, actor="lena", now=T0)
    with pytest.raises(InvalidTransition, match="XOP staff own tickets"):
        svc.take(t.number, actor=Actor.customer("carl@acme.example"), now=T0)
    svc.take(t.number, actor="lena", now=T0)
    with pytest.raises(InvalidTransition, match="you already own"):
        svc.take(t.number, actor="lena", now=T0)
    assert [e["kind"] for e in svc.history(t.number)] == ["opened", "taken"]
    l1 = _open(svc, level=1)
    assert ownership_actions_for(xop_config, svc.get(l1.number), Actor.staff("lena", 2)) == []


def test_escalated_ticket_goes_to_the_new_levels_staff(svc, xop_config):
    t = _open(svc)
    t = svc.escalate(t.number, actor="lena", now=T0 + timedelta(minutes=5))
    assert t.level == 3
    assert "l3" in colleagues(xop_config, 3) and "l4" not in colleagues(xop_config, 3)
    assert not decide_ownership(xop_config, "take", t, Actor.staff("lena", 2))
    t = svc.assign(t.number, to="omar", actor="l3", now=T0 + timedelta(minutes=6))
    assert t.owner == "omar"
    assert ownership_actions_for(xop_config, t, Actor.staff("l3", 3)) == ["take", "assign", "unassign"]
    assert ownership_actions_for(xop_config, t, Actor.staff("l4", 4)) == ["assign", "unassign"]

"""The SLA sweep: warnings once per threshold, breach actions, escalation, idempotence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import outbox_rows
from xop.tickets import TicketService
from xop.tickets.sweep import sweep
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

CHI = ZoneInfo("America/Chicago")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


def open_ticket(svc: TicketService, now: datetime, **kw):
    args = {
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "No audio on conference 5000",
        "reporter_name": "Carl Caller",
        "reporter_email": "carl@acme.example",
        "now": now,
    } | kw
    if "urgency" in kw and "actor" not in kw:
        args["actor"] = "lena"  # only XOP staff (or monitoring) set an urgency; lena acts as L2
    return svc.open(**args)


def kinds(engine, number: str) -> list[str]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(ticket_events.c.kind)
                .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                .where(tickets.c.number == number)
                .order_by(ticket_events.c.id)
            ).scalars()
        )


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def test_warnings_once_per_threshold_then_escalation(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), proposed_urgency="critical")  # L2 response due 11:00
    assert sweep(db_engine, xop_config, now=chi(2026, 12, 1, 9, 59)).tickets == 0
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 10, 0))  # 50 %
    assert (s.tickets, s.warnings, s.breaches) == (1, 1, 0)
    assert sweep(db_engine, xop_config, now=chi(2026, 12, 1, 10, 1)).warnings == 0  # once
    # A late sweep past 75 % and 90 % sends one warning (the highest), not two.
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 10, 50))
    assert s.warnings == 1
    warned = [m["subject"] for m in outbox_rows(db_engine, "sla_warning")]
    assert len(warned) == 2 and "50 %" in warned[0] and "90 %" in warned[1]
    assert all(m["recipient"] == "support@xopnetworks.com" for m in outbox_rows(db_engine, "sla_warning"))

    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 11, 0))  # due: breach escalates to L3
    assert (s.breaches, s.escalations, s.escalated) == (1, 1, [t.number])
    t = svc.get(t.number)
    assert (t.level, t.urgency) == (3, "critical")
    esc = outbox_rows(db_engine, "ticket_escalated")
    assert [m["recipient"] for m in esc] == ["carl@acme.example"]
    body = esc[0]["mime"].decode()
    assert "support@xopnetworks.com" in body and "972-590-0200" in body and t.number in esc[0]["subject"]
    # Internal notice: one digest per sweep batch, not one email per escalated ticket.
    digest = outbox_rows(db_engine, "sla_escalations")
    assert [m["recipient"] for m in digest] == ["support@xopnetworks.com"]
    assert digest[0]["subject"] == f"[XOP SLA] 1 ticket escalated automatically: {t.number}"
    assert "L2 -> L3" in digest[0]["mime"].decode() and outbox_rows(db_engine, "sla_breach") == []
    assert kinds(db_engine, t.number) == ["opened", "sla_warning", "sla_warning", "sla_breached", "escalated"]
    # L3 clocks run from the escalation instant.
    with db_engine.connect() as c:
        due = dict(
            c.execute(
                sa.select(ticket_clocks.c.name, ticket_clocks.c.due_at).where(
                    ticket_clocks.c.ticket_id == t.id
                )
            ).all()
        )
    assert due["l3_response"] == chi(2026, 12, 1, 13, 0) and due["l3_recovery"] == chi(2026, 12, 1, 17, 0)

    # Rerunning the same sweep changes nothing.
    before = (kinds(db_engine, t.number), len(outbox_rows(db_engine)))
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 11, 0))
    assert (s.warnings, s.breaches, s.escalations) == (0, 0, 0)
    assert (kinds(db_engine, t.number), len(outbox_rows(db_engine))) == before


@pytest.mark.parametrize("urgency", ["major", "critical"])
def test_notify_breach_reaches_management_only_when_critical(svc, db_engine, xop_config, urgency):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), urgency=urgency)
    t = svc.escalate(t.number, actor="l2", now=chi(2026, 12, 1, 9, 30))
    svc.respond(t.number, actor="l3", body="On it", now=chi(2026, 12, 1, 9, 45))  # meets L3 response
    svc.recover(t.number, actor="l3", now=chi(2026, 12, 1, 12, 0))  # RCA due in 1 or 2 business days
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 3, 12, 0))
    assert (s.breaches, s.escalations) == (1, 0)
    assert svc.get(t.number).level == 3  # notify keeps the level
    emergency = outbox_rows(db_engine, "emergency")
    events = [e for e in svc.history(t.number) if e["kind"] == "emergency"]
    if urgency == "major":  # not an emergency: the owning level is told, management is not
        assert emergency == [] and events == []
        breach = outbox_rows(db_engine, "sla_breach")
        assert [m["recipient"] for m in breach] == ["support@xopnetworks.com"]
        return
    assert {m["recipient"] for m in emergency} == {"support@xopnetworks.com", "mgmt@xopnetworks.com"}
    assert "972-590-0219" in emergency[0]["mime"].decode()
    assert len(events) == 1 and events[0]["payload"]["clock"] == "l3_rca"
    assert events[0]["payload"]["from_level"] == 3 and events[0]["payload"]["reason"]
    assert {m["event_id"] for m in emergency} == {events[0]["id"]}  # written together
    # Once per ticket: a later sweep adds nothing.
    before = len(outbox_rows(db_engine))
    sweep(db_engine, xop_config, now=chi(2026, 12, 9, 12, 0))
    assert len(outbox_rows(db_engine)) == before
    assert len([e for e in svc.history(t.number) if e["kind"] == "emergency"]) == 1


def test_recovery_breach_escalates_to_level4(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), urgency="critical")
    svc.escalate(t.number, actor="l2", now=chi(2026, 12, 1, 9, 0))
    svc.respond(t.number, actor="l3", body="Looking", now=chi(2026, 12, 1, 9, 30))
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 15, 0))  # 6 h recovery target
    assert s.escalated == [t.number] and svc.get(t.number).level == 4
    esc = outbox_rows(db_engine, "ticket_escalated")[-1]
    assert "Level 4" in esc["subject"] and "Product Development" in esc["mime"].decode()


def test_paused_and_closed_tickets_never_escalate(svc, db_engine, xop_config):
    paused = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.pause(paused.number, actor="l2", now=chi(2026, 12, 1, 9, 30))
    closed = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.close(closed.number, actor="l2", now=chi(2026, 12, 1, 9, 10), report="Customer withdrew it")
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 20, 9, 0))
    assert (s.tickets, s.breaches) == (0, 0)
    assert svc.get(paused.number).level == 2 and svc.get(closed.number).level == 2


def test_sweep_escalates_thousands_in_one_pass(svc, db_engine, xop_config):
    numbers = [open_ticket(svc, chi(2026, 12, 1, 9, 0)).number for _ in range(40)]
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 2, 9, 0), batch_size=15)
    assert s.breaches == 40 and sorted(s.escalated) == sorted(numbers)
    assert len(outbox_rows(db_engine, "ticket_escalated")) == 40
    digests = outbox_rows(db_engine, "sla_escalations")  # one per batch of 15, 15, 10
    assert [m["subject"].split("] ")[1].split(" ticket")[0] for m in digests] == ["15", "15", "10"]
    assert sum(m["mime"].decode().count("L2 -> L3") for m in digests) == 40


def test_two_sweeps_at_once_handle_each_breach_once(pg_engine, xop_config):
    svc = TicketService(pg_engine, xop_config)
    numbers = [open_ticket(svc, chi(2026, 12, 1, 9, 0)).number for _ in range(60)]
    barrier = threading.Barrier(2)
    results = []

    def run() -> None:
        barrier.wait()
        results.append(sweep(pg_engine, xop_config, now=chi(2026, 12, 2, 9, 0), batch_size=10))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(r.breaches for r in results) == 60
    assert sorted(n for r in results for n in r.escalated) == sorted(numbers)
    with pg_engine.connect() as c:
        per_ticket = c.execute(
            sa.select(ticket_events.c.ticket_id, sa.func.count())
            .where(ticket_events.c.kind == "escalated")
            .group_by(ticket_events.c.ticket_id)
        ).all()
    assert len(per_ticket) == 60 and {n for _, n in per_ticket} == {1}
    assert len(outbox_rows(pg_engine, "ticket_escalated")) == 60


def test_reclassification_after_warning_keeps_warned_thresholds(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), urgency="minor")
    svc.escalate(t.number, actor="l2", now=chi(2026, 12, 1, 9, 0))  # L3 response minor: 24 h
    svc.respond(t.number, actor="l3", body="ok", now=chi(2026, 12, 1, 9, 5))
    # Recovery minor 24 h -> 50 % after 12 business hours: Wed 11:00.
    assert sweep(db_engine, xop_config, now=chi(2026, 12, 2, 11, 0)).warnings == 1
    svc.classify(t.number, urgency="critical", actor="l3", now=chi(2026, 12, 2, 11, 30))
    # Critical recovery is 6 h from Tue 09:00: long overdue now -> breach at the next sweep.
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 2, 11, 35))
    assert s.breaches == 1 and svc.get(t.number).level == 4

"""The edge paths of issue 12, one scenario each, on SQLite and PostgreSQL, driven by ``now``.

Each test names the numbered fix it covers. Times are US Central (America/Chicago); December
2026 is CST (UTC-6). Tuesday 2026-12-01 is an ordinary business day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import outbox_rows
from xop.api.queries import ticket_detail
from xop.core.config import XopConfig
from xop.core.errors import InvalidInput, InvalidTransition
from xop.tickets import Actor, TicketService
from xop.tickets.sweep import sweep

CHI = ZoneInfo("America/Chicago")
L2, L3, L4 = "lena", "omar", "priya-l4"  # levels from tests/data/config.yaml (lena: default 2)
CARL = Actor.customer("carl@acme.example")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def open_ticket(svc: TicketService, now: datetime, **kw):
    args = {
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "Conference bridge drops callers",
        "reporter_name": "Carl Caller",
        "reporter_email": "carl@acme.example",
        "urgency": "major",
        "actor": L2,
        "now": now,
    } | kw
    return svc.open(**args)


def clocks(svc: TicketService, number: str) -> dict[tuple[str, int], dict]:
    return {(c["name"], c["cycle"]): c for c in svc.clocks(number)}


def kinds(svc: TicketService, number: str) -> list[str]:
    return [e["kind"] for e in svc.history(number)]


def emails(engine, kind: str | None = None) -> list[tuple[str, str]]:
    return [(r["recipient"], r["mime"].decode()) for r in outbox_rows(engine, kind)]


# 1 -------------------------------------------------------------------------------------------


def test_1_escalating_a_waiting_ticket_starts_the_new_clocks_paused(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.pause(t.number, actor=L2, now=chi(2026, 12, 1, 9, 30), reason="Need the call logs")
    t = svc.escalate(t.number, actor=L2, now=chi(2026, 12, 1, 10, 0))
    assert (t.level, t.state, t.next_due_at) == (3, "waiting_customer", None)
    c = clocks(svc, t.number)
    assert c[("l3_response", 0)]["paused_at"] == chi(2026, 12, 1, 10, 0)
    assert c[("l3_recovery", 0)]["paused_at"] == chi(2026, 12, 1, 10, 0)
    assert c[("l2_response", 0)]["stopped_at"] is not None
    # A week waiting: nothing warns, nothing breaches, no emergency.
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 8, 17, 0))
    assert (s.warnings, s.breaches, s.emergencies) == (0, 0, 0)
    assert outbox_rows(db_engine, "emergency") == [] and outbox_rows(db_engine, "sla_breach") == []
    # The customer answers Wednesday 9 Dec 08:00: the L3 clocks count from then (8 h major response).
    t = svc.respond(t.number, actor=CARL, body="Logs attached", now=chi(2026, 12, 9, 8, 0))
    assert t.state == "open"
    assert clocks(svc, t.number)[("l3_response", 0)]["due_at"] == chi(2026, 12, 9, 16, 0)
    # The escalation email said the clock waits for the customer's answer.
    (_, body), *_ = emails(db_engine, "ticket_escalated")
    assert "starts counting when you reply" in body


# 2 -------------------------------------------------------------------------------------------


def test_2_escalating_past_a_level_runs_only_the_new_owners_clocks(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    t = svc.escalate(t.number, actor=L3, now=chi(2026, 12, 1, 9, 30), to_level=4)
    c = clocks(svc, t.number)
    assert set(c) == {("l2_response", 0), ("l4_resolution", 0)}
    assert c[("l2_response", 0)]["stopped_at"] == chi(2026, 12, 1, 9, 30)
    # Days later only the L4 clock has warned; no L3 response clock breached anywhere.
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 7, 9, 30))  # 7 business days: 50 % on Fri 14:30
    assert s.breaches == 0 and s.warnings == 1
    assert {e["payload"]["clock"] for e in svc.history(t.number) if e["kind"] == "sla_warning"} == {
        "l4_resolution"
    }

    u = open_ticket(svc, chi(2026, 12, 1, 9, 0), level=1)
    u = svc.escalate(u.number, actor=L2, now=chi(2026, 12, 1, 9, 0), to_level=3)
    assert set(clocks(svc, u.number)) == {("l3_response", 0), ("l3_recovery", 0)}
    # A customer may go from Level 1 to Level 2 only.
    v = open_ticket(svc, chi(2026, 12, 1, 9, 0), level=1, actor=CARL, urgency=None)
    with pytest.raises(InvalidTransition, match="Level 1 to Level 2"):
        svc.escalate(v.number, actor=CARL, now=chi(2026, 12, 1, 9, 5), to_level=3)
    assert svc.escalate(v.number, actor=CARL, now=chi(2026, 12, 1, 9, 5)).level == 2


# 3 -------------------------------------------------------------------------------------------


def test_3_reopen_restarts_the_owning_levels_clocks(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.escalate(t.number, actor=L2, now=chi(2026, 12, 1, 9, 10))
    svc.respond(t.number, actor=L3, body="Looking", now=chi(2026, 12, 1, 9, 20))
    svc.resolve(t.number, actor=L3, now=chi(2026, 12, 1, 11, 0), body="Replaced the card")
    svc.close(t.number, actor=CARL, now=chi(2026, 12, 1, 12, 0), report="Works")
    t = svc.reopen(t.number, actor=CARL, now=chi(2026, 12, 2, 9, 0), reason="Dropping again")
    c = clocks(svc, t.number)
    assert {k for k in c if k[1] == 1} == {("l3_response", 1), ("l3_recovery", 1)}
    assert c[("l3_response", 1)]["due_at"] == chi(2026, 12, 2, 17, 0)  # 8 h major
    assert c[("l3_response", 0)]["met_at"] == chi(2026, 12, 1, 9, 20)  # earlier cycle stays met
    # The owner's answer meets the new cycle's clock.
    svc.respond(t.number, actor=L3, body="On it again", now=chi(2026, 12, 2, 10, 0))
    assert clocks(svc, t.number)[("l3_response", 1)]["met_at"] == chi(2026, 12, 2, 10, 0)


# 4 -------------------------------------------------------------------------------------------


def test_4_resolving_before_the_rca_leaves_its_clock_to_the_sweep(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.escalate(t.number, actor=L2, now=chi(2026, 12, 1, 9, 0))
    svc.recover(t.number, actor=L3, now=chi(2026, 12, 1, 10, 0))  # RCA due in 2 business days
    t = svc.resolve(t.number, actor=L3, now=chi(2026, 12, 1, 11, 0), body="Fixed for good")
    rca = clocks(svc, t.number)[("l3_rca", 0)]
    assert rca["met_at"] is None and rca["stopped_at"] is None
    assert rca["due_at"] == chi(2026, 12, 3, 10, 0) and t.next_due_at is not None
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 3, 10, 30))
    assert s.breaches == 1
    assert clocks(svc, t.number)[("l3_rca", 0)]["breached_at"] == chi(2026, 12, 3, 10, 30)
    assert svc.get(t.number).state == "resolved" and "sla_breached" in kinds(svc, t.number)
    assert [r for r, _ in emails(db_engine, "sla_breach")] == ["support@xopnetworks.com"]
    with db_engine.connect() as conn:  # the API and the sweep agree
        detail = ticket_detail(conn, xop_config, t.number, now=chi(2026, 12, 3, 10, 30))
    assert {c["name"]: c["status"] for c in detail["clocks"]}["l3_rca"] == "breached"
    # Sending the RCA after the resolve is still possible, and meets the (late) clock.
    svc.send_rca(
        t.number, actor=L3, now=chi(2026, 12, 3, 11, 0), cause="c", extent="e", actions="a", plan="p"
    )
    assert clocks(svc, t.number)[("l3_rca", 0)]["met_at"] == chi(2026, 12, 3, 11, 0)


# 5 -------------------------------------------------------------------------------------------


def test_5_only_the_owning_levels_staff_meet_its_response_clock(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.respond(t.number, actor=CARL, body="Any news?", now=chi(2026, 12, 1, 9, 10))
    svc.respond(t.number, actor=L3, body="An engineer here", now=chi(2026, 12, 1, 9, 20))
    assert clocks(svc, t.number)[("l2_response", 0)]["met_at"] is None
    svc.respond(t.number, actor=L2, body="Level 2 here", now=chi(2026, 12, 1, 9, 30))
    assert clocks(svc, t.number)[("l2_response", 0)]["met_at"] == chi(2026, 12, 1, 9, 30)
    # A customer's update on a ticket waiting on the customer resumes it; it meets nothing.
    svc.escalate(t.number, actor=L2, now=chi(2026, 12, 1, 10, 0))
    svc.pause(t.number, actor=L3, now=chi(2026, 12, 1, 11, 0), reason="Need a trace")
    t = svc.respond(t.number, actor=CARL, body="Trace attached", now=chi(2026, 12, 1, 13, 0))
    assert t.state == "open" and t.next_due_at is not None
    l3 = clocks(svc, t.number)[("l3_response", 0)]
    assert l3["met_at"] is None and l3["paused_at"] is None and l3["paused_seconds"] == 2 * 3600
    # The customer is emailed the resume, not their own words back.
    updates = [b for r, b in emails(db_engine, "ticket_updated") if r == "carl@acme.example"]
    assert any("resumed" in b.lower() for b in updates) and not any("Trace attached" in b for b in updates)
    # Urgency and source are XOP's: a customer proposes.
    with pytest.raises(InvalidInput) as err:
        open_ticket(svc, chi(2026, 12, 1, 9, 0), actor=CARL, urgency="critical")
    assert err.value.field == "urgency"
    with pytest.raises(InvalidInput) as err:
        open_ticket(svc, chi(2026, 12, 1, 9, 0), actor=CARL, urgency=None, source="monitoring")
    assert err.value.field == "source"
    with pytest.raises(InvalidTransition, match="proposes an urgency"):
        svc.classify(t.number, urgency="critical", actor=CARL, now=chi(2026, 12, 1, 14, 0))
    p = open_ticket(svc, chi(2026, 12, 1, 9, 0), actor=CARL, urgency=None, proposed_urgency="critical")
    assert (p.urgency, p.proposed_urgency, p.source) == (None, "critical", "customer")
    opened = next(e for e in svc.history(p.number) if e["kind"] == "opened")
    assert (opened["actor_kind"], opened["actor"]) == ("customer", "carl@acme.example")


# 6 -------------------------------------------------------------------------------------------


def test_6_a_second_recover_is_refused_and_changes_nothing(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.escalate(t.number, actor=L2, now=chi(2026, 12, 1, 9, 0))
    t = svc.recover(t.number, actor=L3, now=chi(2026, 12, 1, 10, 0))
    svc.pause(t.number, actor=L3, now=chi(2026, 12, 1, 10, 30))
    before = (len(outbox_rows(db_engine)), kinds(svc, t.number))
    for at in (chi(2026, 12, 1, 11, 0), chi(2026, 12, 1, 12, 0)):
        with pytest.raises(InvalidTransition, match="already recorded recovered"):
            svc.recover(t.number, actor=L3, now=at)
    assert svc.get(t.number).recovered_at == chi(2026, 12, 1, 10, 0)
    assert (len(outbox_rows(db_engine)), kinds(svc, t.number)) == before
    assert len(outbox_rows(db_engine, "ticket_recovered")) == 1


# 7 -------------------------------------------------------------------------------------------


def test_7_an_l4_miss_goes_to_emergency_and_the_customer_is_told(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), urgency="critical")
    t = svc.escalate(t.number, actor=L3, now=chi(2026, 12, 1, 9, 0), to_level=4)  # 3 business days
    assert clocks(svc, t.number)[("l4_resolution", 0)]["due_at"] == chi(2026, 12, 4, 9, 0)
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 4, 9, 5))
    assert (s.breaches, s.escalations, s.emergencies) == (1, 1, 1)
    t = svc.get(t.number)
    assert t.emergency_at == chi(2026, 12, 4, 9, 5) and t.level == 4
    customer = [b for r, b in emails(db_engine, "ticket_escalated") if r == "carl@acme.example"][-1]
    assert "Emergency" in customer and "mgmt@xopnetworks.com" in customer and "972-590-0219" in customer
    assert "emergency (Firebar dial-out) conference" in customer
    events = [e for e in svc.history(t.number) if e["kind"] == "emergency"]
    assert len(events) == 1
    assert events[0]["payload"]["clock"] == "l4_resolution" and events[0]["payload"]["from_level"] == 4
    internal = outbox_rows(db_engine, "emergency")
    assert {r["recipient"] for r in internal} == {"support@xopnetworks.com", "mgmt@xopnetworks.com"}
    assert {r["event_id"] for r in internal} == {events[0]["id"]}
    before = len(outbox_rows(db_engine))
    sweep(db_engine, xop_config, now=chi(2026, 12, 20, 9, 0))
    assert len(outbox_rows(db_engine)) == before and kinds(svc, t.number).count("emergency") == 1
    with pytest.raises(InvalidTransition, match="already at Emergency"):
        svc.escalate(t.number, actor=L4, now=chi(2026, 12, 21, 9, 0))


# 8 -------------------------------------------------------------------------------------------


def _edited(cfg: XopConfig, clock: str, urgency: str, target: str) -> XopConfig:
    data = cfg.model_dump(mode="json")
    data["sla"]["clocks"][clock]["targets"][urgency] = target
    return XopConfig.model_validate(data)


def test_8_a_policy_edit_retargets_running_clocks_on_the_next_sweep(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.pause(t.number, actor=L2, now=chi(2026, 12, 1, 9, 30))
    svc.resume(t.number, actor=L2, now=chi(2026, 12, 1, 10, 0))  # 30 min paused: due 11:30
    assert clocks(svc, t.number)[("l2_response", 0)]["due_at"] == chi(2026, 12, 1, 11, 30)
    edited = _edited(xop_config, "l2_response", "major", "4h")
    assert edited.fingerprint != xop_config.fingerprint
    s = sweep(db_engine, edited, now=chi(2026, 12, 1, 10, 5))
    assert s.retargeted == 1
    c = clocks(svc, t.number)[("l2_response", 0)]
    assert (c["started_at"], c["paused_seconds"]) == (chi(2026, 12, 1, 9, 0), 1800)  # start and pause kept
    assert c["due_at"] == chi(2026, 12, 1, 13, 30) and c["policy_version"] == edited.fingerprint
    ev = [e for e in svc.history(t.number) if e["kind"] == "sla_retargeted"]
    assert len(ev) == 1 and ev[0]["payload"]["clocks"][0]["clock"] == "l2_response"
    assert svc.get(t.number).next_due_at == chi(2026, 12, 1, 11, 30)  # 50 % of 4 h + pause
    assert sweep(db_engine, edited, now=chi(2026, 12, 1, 10, 10)).retargeted == 0  # once


# 9 -------------------------------------------------------------------------------------------


def test_9_a_late_sweep_sends_one_warning_for_the_highest_threshold(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))  # L2 response due 11:00; warnings 10:00 10:30 10:48
    s = sweep(db_engine, xop_config, now=chi(2026, 12, 1, 10, 50))  # the scheduler was down an hour
    assert (s.warnings, s.breaches) == (1, 0)
    (ev,) = [e for e in svc.history(t.number) if e["kind"] == "sla_warning"]
    assert ev["payload"]["fraction"] == 0.9 and ev["payload"]["passed"] == [0.5, 0.75]
    (warning,) = outbox_rows(db_engine, "sla_warning")
    assert "90 %" in warning["subject"]
    for minute in (52, 55, 59):
        assert sweep(db_engine, xop_config, now=chi(2026, 12, 1, 10, minute)).warnings == 0
    assert len(outbox_rows(db_engine, "sla_warning")) == 1
    assert sweep(db_engine, xop_config, now=chi(2026, 12, 1, 11, 0)).breaches == 1


def test_monitoring_tickets_of_customers_without_management_email_nobody_outside_xop(svc, db_engine):
    t, created = svc.report_problem(
        dedup_key="trunk:globex-1",
        customer="globex",
        system="globex-conf1",
        subject="Trunk globex-1 failed its dial check",
        description="INVITE timed out",
        urgency="critical",
        now=chi(2026, 12, 1, 9, 0),
    )
    assert created and t.source == "monitoring"
    svc.respond(t.number, actor=L2, body="Checking the trunk", now=chi(2026, 12, 1, 9, 30))
    customer_copies = [r for r in outbox_rows(db_engine) if r["audience"] == "customer"]
    assert customer_copies == []

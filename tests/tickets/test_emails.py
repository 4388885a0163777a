"""What a customer reads: ticket emails rendered from the outbox and read back as text, checked
for the facts (due times in the support calendar's zone, contacts, signature, names, outcomes).
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import outbox_rows
from xop.tickets import Actor, TicketService
from xop.tickets.notices import duration_text
from xop.tickets.sweep import sweep

CHI = ZoneInfo("America/Chicago")
CARL = Actor.customer("carl@acme.example")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def texts(engine, kind: str, recipient: str | None = None) -> list[str]:
    """The plain-text part of each email of ``kind`` (to ``recipient``), as the customer reads it."""
    out = []
    for row in outbox_rows(engine, kind):
        if recipient and row["recipient"] != recipient:
            continue
        msg = message_from_bytes(row["mime"], policy=policy.default)
        text = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        out.append(row["subject"] + "\n" + text)
    return out


def open_ticket(svc, now, **kw):
    args = {
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "Bridge drops callers",
        "reporter_name": "Carl Caller",
        "reporter_email": "carl@acme.example",
        "actor": CARL,
        "now": now,
    } | kw
    return svc.open(**args)


def test_plurals_come_from_one_place():
    assert duration_text(36000, business_day=36000) == "1 business day"
    assert duration_text(3 * 36000, business_day=36000) == "3 business days"
    assert duration_text(7200, business_day=36000) == "2 business hours"
    assert duration_text(12 * 3600, business_day=36000) == "12 business hours"
    assert duration_text(86400, business_day=None) == "1 day"


def test_acknowledgement_gives_the_first_due_time_in_the_calendars_zone(svc, db_engine):
    open_ticket(svc, chi(2026, 12, 4, 17, 30))  # Friday 17:30 CST: due Monday 09:30
    (ack,) = texts(db_engine, "ticket_opened")
    assert "by Monday 09:30 CST" in ack
    assert "Acme Conferencing" in ack and "Customer:    acme\n" not in ack
    assert "depend on the ticket's classification" in ack  # unclassified: quoted for the default
    assert "1 business day" not in ack and "7 business days" in ack  # major: RCA 2 d, L4 7 d
    assert "XOP Networks Level 2 Support" in ack.split("\n--\n")[-1]  # signed by the owner


def test_classified_critical_ticket_quotes_one_business_day(svc, db_engine):
    open_ticket(svc, chi(2026, 12, 1, 9, 0), actor="lena", urgency="critical")
    (ack,) = texts(db_engine, "ticket_opened")
    assert "Root cause analysis email: 1 business day\n" in ack and "1 business days" not in ack
    assert "by Tuesday 11:00 CST" in ack and "classification" not in ack


def test_level1_acknowledgement_quotes_no_xop_commitment(svc, db_engine):
    open_ticket(svc, chi(2026, 12, 1, 9, 0), level=1)
    (ack,) = texts(db_engine, "ticket_opened")
    assert "your own Level 1 support staff" in ack
    assert "business hours" not in ack and "due by" not in ack


def test_escalation_recovery_and_updates_say_when_and_who_signs(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0))
    svc.respond(t.number, actor="lena", body="We are looking", now=chi(2026, 12, 1, 9, 10))
    svc.escalate(t.number, actor="lena", now=chi(2026, 12, 1, 9, 30))
    (esc,) = texts(db_engine, "ticket_escalated")
    assert "Escalated to Level 3" in esc and "Level 3 response is due by Tuesday 17:30 CST" in esc
    assert "XOP Networks Level 3 Support" in esc.split("\n--\n")[-1]
    svc.classify(t.number, urgency="critical", actor="omar", now=chi(2026, 12, 1, 10, 0))
    svc.pause(t.number, actor="omar", now=chi(2026, 12, 1, 10, 30), reason="Please send the call log")
    svc.respond(t.number, actor=CARL, body="Here it is", now=chi(2026, 12, 1, 11, 0))
    updates = texts(db_engine, "ticket_updated", "carl@acme.example")
    classified, waiting, resumed = updates[-3:]
    assert "now classified as Critical (it was Major)" in classified and "due by Tuesday" in classified
    assert "waiting for your reply" in waiting and "Please send the call log" in waiting
    assert "resumed on Tuesday 11:00 CST" in resumed
    assert all("XOP Networks Level 3 Support" in u.split("\n--\n")[-1] for u in updates[-3:])
    svc.recover(t.number, actor="omar", now=chi(2026, 12, 1, 12, 0), body="Card reseated")
    (rec,) = texts(db_engine, "ticket_recovered")
    assert "by Wednesday 12:00 CST" in rec  # RCA of a critical ticket: 1 business day


def test_closing_report_states_each_clock_as_computed_at_close(svc, db_engine, xop_config):
    t = open_ticket(svc, chi(2026, 12, 1, 9, 0), actor="lena", urgency="major")
    svc.escalate(t.number, actor="lena", now=chi(2026, 12, 1, 9, 30))  # L2 response stopped, not needed
    # L3 response (8 h from Tue 09:30) was due Tue 17:30; met at 17:55, 25 business minutes late.
    svc.respond(t.number, actor="omar", body="Looking into it", now=chi(2026, 12, 1, 17, 55))
    sweep(db_engine, xop_config, now=chi(2026, 12, 2, 12, 0))  # recovery (12 h) due Wed 11:30: missed
    svc.close(t.number, actor="lena", now=chi(2026, 12, 2, 13, 0), report="Replaced the DSP card.")
    reports = {r["recipient"]: r for r in outbox_rows(db_engine, "ticket_closed")}
    assert set(reports) == {"carl@acme.example", "ann.boss@acme.example"}
    (boss,) = texts(db_engine, "ticket_closed", "ann.boss@acme.example")
    assert boss.count("Replaced the DSP card.") == 1  # the summary once
    assert "Dear Ann Boss," in boss and "Dear Carl" not in boss
    assert "closed by XOP Level 2 support" in boss
    due = "due Tuesday 17:30 CST (2026-12-01)"
    assert f"Level 3 response (8 business hours, {due}): met late by 25 business minutes" in boss
    assert "Level 3 recovery (12 business hours, due Wednesday 11:30 CST (2026-12-02)): missed" in boss
    assert "Level 2 response (2 business hours, due Tuesday 11:00 CST (2026-12-01)): not needed" in boss
    assert "Root cause analysis email: not started" in boss
    for internal in ("lena", "omar", "xop-sla-sweep", "responded", "sla_breached", "escalated:"):
        assert internal not in boss, internal
    assert "UTC" not in boss and "CST" in boss

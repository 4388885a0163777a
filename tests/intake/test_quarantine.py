"""The quarantine: staff accept (open a ticket / attach to one) or reject; nothing is dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.intake import samples
from tests.intake.conftest import NOW
from tests.intake.helpers import all_tickets, events, files, inbound
from xop.core.errors import InvalidInput, InvalidTransition
from xop.intake import quarantine
from xop.intake.apply import process
from xop.tickets import TicketService


def _quarantined(engine, cfg, raw: bytes) -> int:
    assert process(engine, cfg, raw, now=NOW).outcome == "quarantined"
    return inbound(engine)[-1]["id"]


def test_accept_opens_a_ticket_for_the_chosen_customer(db_engine, intake_config):
    raw = samples.mail(
        sender="New Person <new@elsewhere.example>", attachments=[("a.txt", "text/plain", b"hi")]
    )
    qid = _quarantined(db_engine, intake_config, raw)
    [listed] = quarantine.list_messages(db_engine)
    assert listed["id"] == qid and "unknown sender" in listed["reason"] and "raw" not in listed
    done = quarantine.accept(db_engine, intake_config, qid, staff="alice", now=NOW, customer="globex")
    [t] = all_tickets(db_engine)
    assert (t["customer"], t["reporter_email"], t["number"]) == (
        "globex",
        "new@elsewhere.example",
        done["ticket"],
    )
    [rec] = inbound(db_engine)
    assert rec["outcome"] == "accepted" and rec["decided_by"] == "alice" and rec["raw"] == raw
    assert [f["filename"] for f in files(db_engine)] == ["a.txt"]
    assert quarantine.list_messages(db_engine) == []
    with pytest.raises(InvalidTransition, match="accepted"):  # a second decision is refused
        quarantine.reject(db_engine, qid, staff="bob", now=NOW)


def test_accept_attaches_to_a_ticket_as_the_senders_update(db_engine, intake_config):
    svc = TicketService(db_engine, intake_config)
    t = svc.open(customer="acme", subject="x", reporter_name="N", reporter_email="noc@acme.example", now=NOW)
    qid = _quarantined(
        db_engine, intake_config, samples.mail(sender="contractor@other.example", body="logs attached")
    )
    quarantine.accept(
        db_engine, intake_config, qid, staff="alice", now=NOW + timedelta(minutes=1), ticket=t.number
    )
    ev = events(db_engine, t.number)[-1]
    assert (ev["kind"], ev["body"], ev["actor"]) == ("responded", "logs attached", "contractor@other.example")
    assert inbound(db_engine)[-1]["event_id"] == ev["id"]


def test_reject_keeps_the_message_and_no_sender_needs_a_reporter(db_engine, intake_config):
    raw = samples.no_sender()
    qid = _quarantined(db_engine, intake_config, raw)
    with pytest.raises(InvalidInput, match="reporter"):
        quarantine.accept(db_engine, intake_config, qid, staff="alice", now=NOW, customer="acme")
    assert inbound(db_engine)[-1]["outcome"] == "quarantined"  # the refusal changed nothing
    quarantine.reject(db_engine, qid, staff="alice", now=NOW, reason="spam")
    [rec] = inbound(db_engine)
    assert (
        rec["outcome"] == "rejected" and "spam" in rec["reason"] and quarantine.source(db_engine, qid) == raw
    )
    assert [r["id"] for r in quarantine.list_messages(db_engine, outcome="rejected")] == [qid]

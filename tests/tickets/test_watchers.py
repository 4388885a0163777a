"""Watchers and owners in the emails, on SQLite and PostgreSQL: customers never watch; watchers get
internal copies of the customer's emails (escalation included); SLA warnings go to the owner first
(the owner alone before the last threshold), the owner is named in internal emails."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import outbox_rows
from tests.tickets.test_ownership import T0, _open  # the same opening ticket
from xop.core.errors import InvalidTransition
from xop.tickets import Actor, TicketService
from xop.tickets.sweep import sweep


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def test_only_staff_with_an_address_watch(svc):
    t = _open(svc)
    with pytest.raises(InvalidTransition, match="XOP staff watch tickets"):
        svc.watch(t.number, actor=Actor.customer("carl@acme.example"), now=T0)
    with pytest.raises(InvalidTransition, match=r"add it under staff\.emails"):
        svc.watch(t.number, actor="mia", now=T0)
    svc.watch(t.number, actor="lena", now=T0)
    svc.escalate(t.number, actor="alice", now=T0 + timedelta(minutes=5))
    rows = [r for r in outbox_rows(svc.engine) if r["kind"] == "ticket_escalated"]
    assert [(r["recipient"], r["audience"]) for r in rows] == [
        ("carl@acme.example", "customer"),
        ("lena@xopnetworks.com", "internal"),
    ]
    assert "[" + t.number + "] Escalated to Level 3" in rows[1]["subject"]


def test_warnings_go_to_the_owner_first(svc, xop_config):
    owned = _open(svc)
    svc.take(owned.number, actor="lena", now=T0)
    nobody = _open(svc)
    sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=61))  # 50 % of the 2 h L2 response
    warnings = [r for r in outbox_rows(svc.engine) if r["kind"] == "sla_warning"]
    assert {(r["ticket_id"], r["recipient"]) for r in warnings} == {
        (owned.id, "lena@xopnetworks.com"),
        (nobody.id, "support@xopnetworks.com"),
    }
    mine = next(r for r in warnings if r["ticket_id"] == owned.id)
    assert "Owner:       lena" in mine["mime"].decode()
    sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=110))  # past 90 %: the last warning
    last = [r for r in outbox_rows(svc.engine) if r["kind"] == "sla_warning" and r["ticket_id"] == owned.id]
    assert [r["recipient"] for r in last] == [
        "lena@xopnetworks.com",
        "lena@xopnetworks.com",
        "support@xopnetworks.com",
    ]


def test_a_customer_reply_reaches_the_watchers_only(svc):
    import email
    from email import policy

    t = _open(svc)
    svc.watch(t.number, actor="lena", now=T0)
    svc.respond(t.number, actor=Actor.customer("carl@acme.example"), body="Still dropping at 10:05", now=T0)
    rows = [r for r in outbox_rows(svc.engine) if r["kind"] == "ticket_updated"]
    assert [(r["recipient"], r["audience"]) for r in rows] == [("lena@xopnetworks.com", "internal")]
    text = email.message_from_bytes(rows[0]["mime"], policy=policy.default).get_body(("plain",)).get_content()
    assert "The customer replied" in text and "Still dropping at 10:05" in text and "Dear" not in text

"""The demo's customer emails (make demo) do what the demo says: a ticket, an update, nothing, a bounce."""

from __future__ import annotations

from contextlib import ExitStack

from tests.conftest import REPO
from tests.intake.conftest import NOW
from tests.intake.helpers import all_tickets, bounces, inbound
from xop.core.config import load_config
from xop.demo import imap
from xop.intake.run import run_intake
from xop.tickets import TicketService


def test_demo_mail(db_engine, monkeypatch):
    cfg = load_config(REPO / "include" / "config" / "demo.yaml")
    svc = TicketService(db_engine, cfg)
    first = svc.open(
        customer="demo",
        subject="Callers hear silence after entering the PIN",
        reporter_name="Pat Operator",
        reporter_email="pat.operator@demo-customer.example",
        now=NOW,
    )
    monkeypatch.setattr(imap, "DEMO_IMAPS_PORT", imap.free_port())
    monkeypatch.setattr(imap, "DEMO_STARTTLS_PORT", imap.free_port())
    monkeypatch.delenv("AIRFLOW_CONN_XOP_IMAP", raising=False)
    with ExitStack() as stack:
        lines = []
        imap.demo_mailbox(stack, lines.append)
        imap.drop_demo_mail(db_engine, lines.append)
        stats = run_intake(db_engine, cfg, now=NOW)
    assert stats.outcomes == {"opened": 1, "updated": 1, "auto_reply": 1, "bounce": 1}, inbound(db_engine)
    opened = next(r for r in inbound(db_engine) if r["outcome"] == "opened")
    assert next(t for t in all_tickets(db_engine) if t["id"] == opened["ticket_id"])["system"] == "demo-conf1"
    assert svc.history(first.number)[-1]["kind"] == "responded"
    [b] = bounces(db_engine)
    assert b["recipient"] == "pat.operator@demo-customer.example" and b["status"] == "5.1.1"

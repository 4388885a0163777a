"""Ticket emails queued as (kind, context) and rendered once, at first delivery."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from xop.notify.delivery import deliver_pending
from xop.notify.mime import make_message_id
from xop.notify.outbox import enqueue_many
from xop.notify.smtp import SmtpTransport
from xop.notify.tables import notifications

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TICKET = {
    "number": "XOP-000042",
    "subject": "Echo on every call",
    "description": "",
    "customer": "acme",
    "system": "acme-conf1",
    "urgency": "major",
    "level": 3,
    "state": "open",
    "reporter_name": "Carl Caller",
    "reporter_email": "carl@acme.example",
    "opened_at": NOW,
    "source": "customer",
}
CONTACT = {
    "name": "XOP Level 3",
    "email": "support@xopnetworks.com",
    "phone": "972-590-0200, option 2",
    "hours": "8-6",
}


def item(key: str, **over) -> dict:
    context = {
        "ticket": TICKET,
        "event": {"kind": "escalated", "actor": "sweep", "body": "", "at": NOW},
        "contact": CONTACT,
    }
    return {
        "dedup_key": key,
        "kind": "ticket_escalated",
        "audience": "customer",
        "recipient": "carl@acme.example",
        "context": context,
        "now": NOW,
    } | over


def test_rendered_at_delivery_frozen_and_deduplicated(engine, smtp_server, smtp_handler):
    with engine.begin() as conn:
        assert enqueue_many(conn, [item("esc:1"), item("esc:2"), item("esc:1")]) == 2
    with engine.begin() as conn:
        assert enqueue_many(conn, [item("esc:1")]) == 0  # a rerun queues nothing
        rows = conn.execute(select(notifications.c.mime, notifications.c.subject)).all()
    assert all(r.mime is None and r.subject is None for r in rows)

    stats = deliver_pending(
        engine, smtp=SmtpTransport.for_server(smtp_server.host, smtp_server.port), now=NOW
    )
    assert (stats.sent, stats.failed) == (2, 0)
    mid = make_message_id("esc:1")
    sent = smtp_handler.contents[mid].decode()
    assert "XOP-000042" in sent and "972-590-0200" in sent and "Date: Tue, 01 Dec 2026 15:00:00" in sent
    with engine.connect() as conn:
        stored = conn.execute(
            select(notifications.c.mime, notifications.c.subject).where(notifications.c.message_id == mid)
        ).one()
    assert stored.mime.decode() == sent.replace("\r\n", "\n").replace("\n", "\r\n")
    assert stored.subject == "[XOP-000042] Escalated to Level 3: Echo on every call"


def test_context_that_cannot_render_fails_visibly_alone(engine, smtp_server, smtp_handler):
    broken = item("esc:broken")
    del broken["context"]["contact"]
    with engine.begin() as conn:
        enqueue_many(conn, [broken, item("esc:good")])
    stats = deliver_pending(
        engine, smtp=SmtpTransport.for_server(smtp_server.host, smtp_server.port), now=NOW
    )
    assert (stats.sent, stats.failed) == (1, 1)
    with engine.connect() as conn:
        status, error = conn.execute(
            select(notifications.c.status, notifications.c.last_error).where(
                notifications.c.dedup_key == "esc:broken"
            )
        ).one()
    assert status == "failed" and "could not render 'ticket_escalated'" in error and "contact" in error

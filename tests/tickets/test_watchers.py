"""Watchers and owners in the emails, on SQLite and PostgreSQL: customers never watch; watchers get
internal copies of the customer's emails (escalation included); SLA warnings go to the owner first
(the owner alone before the last threshold), the owner is named in internal emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

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


# -- every update of a watched ticket, once each (i16: notes, internal emails, monitoring) --------


def _watched_properties(engine, cfg) -> list[dict]:
    """What must hold of the whole outbox, whatever happened: one row per (kind, event,
    recipient); a watcher's copy is internal, at a staff address, never for the watcher's own
    action; a customer's address receives customer emails only."""
    from xop.notify.render import KINDS
    from xop.tickets.tables import tickets

    rows = outbox_rows(engine)
    staff = {str(a).lower() for a in cfg.staff.emails.values()}
    with engine.connect() as c:
        reporters = {r.lower() for r in c.execute(sa.select(tickets.c.reporter_email)).scalars()}
    xop = {str(a).lower() for a in cfg.support.internal_recipients}
    customers = {str(m.email).lower() for cu in cfg.customers for m in cu.management_contacts}
    customers |= reporters - xop - staff
    keys = [(r["kind"], r["event_id"], r["recipient"].lower()) for r in rows]
    assert len(keys) == len(set(keys)), "an email queued twice to one recipient"
    for r in rows:
        if r["recipient"].lower() in customers:
            assert r["audience"] == "customer" and KINDS[r["kind"]] == "customer", r["dedup_key"]
            assert ":watch:" not in r["dedup_key"]
        if ":watch:" in r["dedup_key"]:
            ctx = r["context"]
            assert r["audience"] == "internal" and r["recipient"].lower() in staff, r["dedup_key"]
            assert cfg.staff.email_of(ctx["watching"]).lower() == r["recipient"].lower()
            assert (ctx.get("event") or {}).get("actor") != ctx["watching"]
    return rows


def _plain(row) -> str:
    import email
    from email import policy

    return email.message_from_bytes(row["mime"], policy=policy.default).get_body(("plain",)).get_content()


def test_a_note_reaches_the_watchers_not_its_author_nor_the_customer(svc, xop_config, maildrop):
    from xop.notify import SmtpTransport, deliver_pending

    t = _open(svc)
    for who in ("lena", "omar", "alice"):
        svc.watch(t.number, actor=who, now=T0)
    svc.note(
        t.number,
        actor="lena",
        body="Carrier ticket 4711 opened; do not reboot.",
        now=T0 + timedelta(minutes=1),
    )
    rows = _watched_properties(svc.engine, xop_config)
    notes = [r for r in rows if r["kind"] == "ticket_note"]
    assert sorted((r["recipient"], r["audience"]) for r in notes) == [
        ("alice@xopnetworks.com", "internal"),
        ("omar@xopnetworks.com", "internal"),
    ]
    assert all(r["subject"] == f"[{t.number}] Internal note: Bridge drops callers" for r in notes)
    text = _plain(notes[0])
    assert "lena wrote on" in text and "do not reboot" in text and "who watches " + t.number in text
    assert "Do not forward to customers" in text
    # The note is in no email to anyone else (the ticket's acknowledgement went to the customer).
    assert {r["kind"] for r in rows if r["event_id"] == notes[0]["event_id"]} == {"ticket_note"}

    # Delivered by SMTP: each watcher's copy reaches them, the note reaches nobody else.
    stats = deliver_pending(svc.engine, smtp=SmtpTransport(), now=T0 + timedelta(minutes=2))
    assert stats.sent == len(rows)
    with_note = [m for m in maildrop.messages if "do not reboot" in m.get_body(("plain",)).get_content()]
    assert sorted(m["To"] for m in with_note) == ["alice@xopnetworks.com", "omar@xopnetworks.com"]
    carl = [m for m in maildrop.messages if m["To"] == "carl@acme.example"]
    assert [m["Subject"] for m in carl] == [f"[{t.number}] Ticket opened: Bridge drops callers"]

    # A rerun queues nothing twice; a note by monitoring reaches every watcher.
    svc.note(
        t.number,
        actor=Actor.monitoring("xop-monitoring"),
        body="Trunk OK again",
        now=T0 + timedelta(minutes=3),
    )
    notes = [r for r in _watched_properties(svc.engine, xop_config) if r["kind"] == "ticket_note"]
    assert len(notes) == 2 + 3


def test_a_watched_tickets_sweep_warning_reaches_the_watcher_once(svc, xop_config):
    watched = _open(svc)
    owned = _open(svc)
    svc.watch(watched.number, actor="alice", now=T0)
    svc.take(owned.number, actor="lena", now=T0)
    svc.watch(owned.number, actor="lena", now=T0)  # the owner gets the warning: no second copy
    svc.watch(owned.number, actor="omar", now=T0)
    for minute in (61, 61, 62):  # 50 % of the 2 h L2 response; the second sweep finds nothing new
        sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=minute))
    rows = _watched_properties(svc.engine, xop_config)
    warnings = sorted((r["ticket_id"], r["recipient"]) for r in rows if r["kind"] == "sla_warning")
    assert warnings == sorted(
        [
            (watched.id, "support@xopnetworks.com"),
            (watched.id, "alice@xopnetworks.com"),
            (owned.id, "lena@xopnetworks.com"),
            (owned.id, "omar@xopnetworks.com"),
        ]
    )
    copy = next(r for r in rows if r["kind"] == "sla_warning" and r["recipient"] == "alice@xopnetworks.com")
    assert "SLA WARNING: 50 %" in _plain(copy) and "alice, who watches " + watched.number in _plain(copy)

    # The breach escalates both (the digest lists them for the level mailbox): each watcher gets
    # the escalation of the ticket they watch, once, and never the batch's digest.
    for minute in (121, 121):
        sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=minute))
    rows = _watched_properties(svc.engine, xop_config)
    staff = {"alice@xopnetworks.com", "lena@xopnetworks.com", "omar@xopnetworks.com"}
    escalated = sorted(
        (r["ticket_id"], r["recipient"])
        for r in rows
        if r["kind"] == "ticket_escalated" and r["recipient"] in staff
    )
    assert escalated == sorted(
        [
            (watched.id, "alice@xopnetworks.com"),
            (owned.id, "lena@xopnetworks.com"),
            (owned.id, "omar@xopnetworks.com"),
        ]
    )
    assert "SLA target of the previous level was missed" in _plain(
        next(r for r in rows if r["recipient"] == "alice@xopnetworks.com" and r["kind"] == "ticket_escalated")
    )
    assert not [r for r in rows if r["kind"] == "sla_escalations" and r["recipient"] in staff]


def test_a_monitoring_ticket_without_contacts_still_emails_its_watcher(svc, xop_config):
    # globex has no management contacts: monitoring's ticket emails nobody outside XOP.
    report = dict(
        dedup_key="trunk:globex-1",
        customer="globex",
        system="globex-conf1",
        subject="Trunk globex-1 failed its dial check",
        description="INVITE timed out",
        urgency="major",
    )
    t, created = svc.report_problem(**report, now=T0)
    assert created
    svc.watch(t.number, actor="lena", now=T0)
    svc.respond(
        t.number, actor="alice", body="Checking the trunk with the carrier", now=T0 + timedelta(minutes=5)
    )
    svc.report_problem(**report, now=T0 + timedelta(minutes=10))  # still failing: a note
    sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=70))  # 50 % of L2 response? met: none
    svc.escalate(t.number, actor="alice", now=T0 + timedelta(minutes=80))
    sweep(svc.engine, xop_config, now=T0 + timedelta(hours=6))  # L3 warnings of a major ticket
    rows = _watched_properties(svc.engine, xop_config)
    assert [r for r in rows if r["audience"] == "customer"] == []
    lena = [r for r in rows if r["recipient"] == "lena@xopnetworks.com"]
    kinds = [r["kind"] for r in lena]
    assert kinds[:3] == ["ticket_updated", "ticket_note", "ticket_escalated"]
    assert set(kinds[3:]) == {"sla_warning"}, kinds
    assert "Checking the trunk with the carrier" in _plain(lena[0])
    assert "Trunk globex-1 failed its dial check" in _plain(lena[1]) and "xop-monitoring wrote" in _plain(
        lena[1]
    )


def test_internal_copies_skip_recipients_and_stale_watchers(svc, xop_config, db_engine):
    """An emergency's email and its copies; a watcher removed from staff.emails gets nothing."""
    t = _open(svc, urgency="critical", actor="lena")
    svc.watch(t.number, actor="omar", now=T0)
    svc.watch(t.number, actor="alice", now=T0)
    svc.escalate(t.number, actor="lena", now=T0, to_level=4)
    without_alice = xop_config.model_copy(
        update={"staff": xop_config.staff.model_copy(update={"emails": {"omar": "omar@xopnetworks.com"}})}
    )
    TicketService(db_engine, without_alice).escalate(
        t.number, actor="priya-l4", now=T0 + timedelta(minutes=1)
    )
    rows = _watched_properties(svc.engine, xop_config)
    emergency = [r for r in rows if r["kind"] == "emergency"]
    assert "omar@xopnetworks.com" in {r["recipient"] for r in emergency}
    assert "alice@xopnetworks.com" not in {r["recipient"] for r in emergency}
    assert len([r for r in emergency if r["recipient"] == "omar@xopnetworks.com"]) == 1


def test_the_sweep_reads_the_watchers_once_per_batch(svc, xop_config):
    tickets_ = [_open(svc, proposed_urgency="critical") for _ in range(6)]
    for t in tickets_[::2]:
        svc.watch(t.number, actor="alice", now=T0)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "ticket_watchers" in statement:
            statements.append(statement)

    sa.event.listen(svc.engine, "before_cursor_execute", count)
    try:
        warned = sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=61))
        breached = sweep(svc.engine, xop_config, now=T0 + timedelta(minutes=121))  # all escalate to L3
    finally:
        sa.event.remove(svc.engine, "before_cursor_execute", count)
    assert (warned.warnings, breached.escalations) == (6, 6)
    assert len(statements) == 2  # one per sweep batch, not one per ticket or per email
    alice = [r for r in outbox_rows(svc.engine) if r["recipient"] == "alice@xopnetworks.com"]
    assert sorted((r["kind"], r["ticket_id"]) for r in alice) == sorted(
        (kind, t.id) for t in tickets_[::2] for kind in ("sla_warning", "ticket_escalated")
    )

"""The intake end to end against a real Dovecot, on SQLite and PostgreSQL: one case per bullet."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from tests.intake import samples
from tests.intake.conftest import NOW
from tests.intake.helpers import all_tickets, bounces, events, files, inbound, outbox
from xop.intake.run import run_intake
from xop.tickets import TicketService


def _run(engine, cfg, now=NOW):
    return run_intake(engine, cfg, now=now)


def _opened(mailbox, engine, cfg, **kw):
    """A ticket opened by a new message from a known contact; returns it."""
    mailbox.append(samples.mail(**kw))
    _run(engine, cfg)
    return TicketService(engine, cfg).get(all_tickets(engine)[-1]["number"])


def test_new_message_from_contact_opens_a_ticket_at_l2_with_an_acknowledgement(
    db_engine, intake_config, mailbox
):
    mailbox.append(samples.mail(subject="[conf1] Bridge drops calls"))
    stats = _run(db_engine, intake_config)
    assert stats.outcomes == {"opened": 1} and stats.moved == 1
    [t] = all_tickets(db_engine)
    assert (t["customer"], t["system"], t["level"], t["state"]) == ("acme", "acme-conf1", 2, "open")
    assert t["reporter_email"] == "noc@acme.example" and t["reporter_name"] == "Acme NOC"
    assert "drops after 30 seconds" in t["description"]
    [ack] = outbox(db_engine)
    assert (ack["kind"], ack["recipient"]) == ("ticket_opened", "noc@acme.example")
    [rec] = inbound(db_engine)
    assert rec["outcome"] == "opened" and rec["ticket_id"] == t["id"] and rec["event_id"] is not None
    assert rec["raw"] == mailbox_raw(rec)  # the full original is the event's source
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 1


def mailbox_raw(rec):
    assert hashlib.sha256(rec["raw"]).hexdigest() == rec["sha256"]
    return rec["raw"]


def test_system_from_mailbox_alias_or_unassigned(db_engine, intake_config, mailbox):
    mailbox.append(samples.mail(to="conf1@support.xopnetworks.com", subject="no tag"))
    mailbox.append(samples.mail(sender="someone@acme.example", subject="which system?"))
    _run(db_engine, intake_config)
    a, b = all_tickets(db_engine)
    assert a["system"] == "acme-conf1"
    assert b["system"] is None and b["customer"] == "acme"  # a domain contact; L2 sets the system


@pytest.mark.parametrize("prefix", ["RE:", "AW:", "Fwd:", "Re: Re:"])
def test_reply_by_ticket_number_is_a_public_customer_update_with_history_stripped(
    db_engine, intake_config, mailbox, prefix
):
    t = _opened(mailbox, db_engine, intake_config)
    body = (
        "Still dropping.\n\nOn Tue, Dec 1, 2026 at 9:00 AM XOP <support@xopnetworks.com> wrote:\n> old text\n"
    )
    mailbox.append(samples.mail(subject=f"{prefix} [{t.number}] Ticket opened", body=body))
    stats = _run(db_engine, intake_config, NOW + timedelta(minutes=10))
    assert stats.outcomes == {"updated": 1}
    ev = events(db_engine, t.number)[-1]
    assert ev["kind"] == "responded" and ev["public"] and ev["body"] == "Still dropping."
    [l2] = TicketService(db_engine, intake_config).clocks(t.number)
    assert l2["met_at"] is None  # a customer's update never meets an XOP clock
    rec = inbound(db_engine)[-1]
    assert rec["event_id"] == ev["id"] and b"old text" in rec["raw"]


def test_reply_by_references_to_our_message_id(db_engine, intake_config, mailbox):
    t = _opened(mailbox, db_engine, intake_config)
    ack = outbox(db_engine)[0]
    mailbox.append(
        samples.mail(subject="Re: your mail", body="More detail.", headers={"In-Reply-To": ack["message_id"]})
    )
    _run(db_engine, intake_config, NOW + timedelta(minutes=5))
    assert [e["kind"] for e in events(db_engine, t.number)][-1] == "responded"
    assert "In-Reply-To/References" in inbound(db_engine)[-1]["reason"]


def test_reply_to_a_waiting_ticket_resumes_it(db_engine, intake_config, mailbox):
    t = _opened(mailbox, db_engine, intake_config)
    svc = TicketService(db_engine, intake_config)
    svc.pause(t.number, actor="alice", now=NOW + timedelta(minutes=1), reason="need logs")
    mailbox.append(samples.mail(subject=f"RE: [{t.number}]", body="Here are the logs."))
    _run(db_engine, intake_config, NOW + timedelta(hours=1))
    assert svc.get(t.number).state == "open"
    assert [e["kind"] for e in events(db_engine, t.number)][-2:] == ["responded", "resumed"]
    assert inbound(db_engine)[-1]["event_id"] == events(db_engine, t.number)[-2]["id"]
    assert any(c["paused_at"] is None and c["paused_seconds"] > 0 for c in svc.clocks(t.number))


def test_reply_to_closed_ticket_reopens_within_window_else_opens_a_linked_one(
    db_engine, intake_config, mailbox
):
    svc = TicketService(db_engine, intake_config)
    t = _opened(mailbox, db_engine, intake_config)
    svc.close(t.number, actor="alice", now=NOW + timedelta(hours=1), report="fixed")
    mailbox.append(samples.mail(subject=f"RE: [{t.number}] closed", body="It is back."))
    _run(db_engine, intake_config, NOW + timedelta(days=3))
    assert svc.get(t.number).state == "open" and events(db_engine, t.number)[-1]["kind"] == "reopened"

    svc.close(t.number, actor="alice", now=NOW + timedelta(days=4), report="fixed again")
    mailbox.append(samples.mail(subject=f"RE: [{t.number}] closed", body="Back once more."))
    _run(db_engine, intake_config, NOW + timedelta(days=30))
    assert svc.get(t.number).state == "closed"
    new = all_tickets(db_engine)[-1]
    assert new["number"] != t.number and new["customer"] == "acme"
    assert f"Follow-up to {t.number}" in new["description"] and "Back once more." in new["description"]


def test_close_and_escalate_commands_from_the_reporter(db_engine, intake_config, mailbox):
    svc = TicketService(db_engine, intake_config)
    t = _opened(mailbox, db_engine, intake_config)
    mailbox.append(samples.mail(subject=f"RE: [{t.number}]", body="Close\nWorks now, thanks."))
    _run(db_engine, intake_config, NOW + timedelta(hours=1))
    assert svc.get(t.number).state == "closed"
    assert outbox(db_engine)[-1]["kind"] == "ticket_closed"  # the confirmation

    t2 = _opened(mailbox, db_engine, intake_config, subject="second problem")
    mailbox.append(samples.mail(sender="lee@partner.example", subject=f"RE: [{t2.number}]", body="close"))
    _run(db_engine, intake_config, NOW + timedelta(hours=2))
    assert svc.get(t2.number).state == "open"  # not the reporter: a plain update
    assert events(db_engine, t2.number)[-1]["body"] == "close"


def test_escalate_command_takes_a_level_1_ticket_to_level_2(db_engine, intake_config, mailbox):
    svc = TicketService(db_engine, intake_config)
    t = svc.open(
        customer="acme",
        subject="worked by our own staff",
        reporter_name="Acme NOC",
        reporter_email="noc@acme.example",
        level=1,
        now=NOW,
    )
    mailbox.append(samples.mail(subject=f"RE: [{t.number}]", body="Escalate\nWe are stuck."))
    assert _run(db_engine, intake_config, NOW + timedelta(hours=1)).outcomes == {"updated": 1}
    assert svc.get(t.number).level == 2
    assert outbox(db_engine)[-1]["kind"] == "ticket_escalated"  # the confirmation
    assert "escalated to level 2" in inbound(db_engine)[-1]["reason"]


def test_a_refused_command_is_kept_as_a_customer_update(db_engine, intake_config, mailbox):
    svc = TicketService(db_engine, intake_config)
    t = _opened(mailbox, db_engine, intake_config)  # at Level 2: XOP escalates further, not the customer
    mailbox.append(samples.mail(subject=f"RE: [{t.number}]", body="escalate\nNobody answers."))
    assert _run(db_engine, intake_config, NOW + timedelta(hours=1)).outcomes == {"updated": 1}
    assert svc.get(t.number).level == 2
    rec = inbound(db_engine)[-1]
    assert "escalate refused" in rec["reason"]
    assert events(db_engine, t.number)[-1]["body"] == "escalate\nNobody answers."


def test_attachments_are_stored_with_sha256_and_limits_quarantine(db_engine, intake_config, mailbox):
    log = b"2026-12-01 08:00:01 call dropped\n" * 100
    t = _opened(mailbox, db_engine, intake_config, attachments=[("sip.log", "text/plain", log)])
    [a] = files(db_engine)
    assert (a["ticket_id"], a["filename"], a["size"], a["sha256"]) == (
        t.id,
        "sip.log",
        len(log),
        hashlib.sha256(log).hexdigest(),
    )
    assert a["content"] == log
    big = b"x" * 250_000  # over the per-message limit of the test config (200 kB)
    mailbox.append(
        samples.mail(
            subject=f"RE: [{t.number}]", body="dump", attachments=[("core", "application/octet-stream", big)]
        )
    )
    mailbox.append(
        samples.mail(
            subject=f"RE: [{t.number}]",
            body="a",
            attachments=[("a.bin", "application/octet-stream", b"a" * 150_000)],
        )
    )
    mailbox.append(
        samples.mail(
            subject=f"RE: [{t.number}]",
            body="b",
            attachments=[("b.bin", "application/octet-stream", b"b" * 150_000)],
        )
    )
    _run(db_engine, intake_config, NOW + timedelta(minutes=5))
    recs = inbound(db_engine)[-3:]
    assert [r["outcome"] for r in recs] == ["quarantined", "updated", "quarantined"]
    assert "max_message_attachment_bytes" in recs[0]["reason"]
    assert "max_ticket_attachment_bytes" in recs[2]["reason"]
    assert len(files(db_engine)) == 2


def test_attachments_in_a_directory(db_engine, intake_config, mailbox, tmp_path):
    cfg = intake_config.model_copy(
        update={
            "intake": intake_config.intake.model_copy(update={"attachments_dir": str(tmp_path / "files")})
        }
    )
    _opened(mailbox, db_engine, cfg, attachments=[("a.txt", "text/plain", b"hello")])
    [a] = files(db_engine)
    assert a["content"] is None and (tmp_path / "files" / a["path"]).read_bytes() == b"hello"


def test_auto_replies_bounces_and_own_mail_make_no_ticket_and_no_email(db_engine, intake_config, mailbox):
    t = _opened(mailbox, db_engine, intake_config)
    ack = outbox(db_engine)[0]
    before = len(outbox(db_engine))
    mailbox.append(
        samples.out_of_office(),
        samples.out_of_office(with_header=False),
        samples.mail(subject="Newsletter", headers={"Precedence": "bulk"}),
        samples.dsn(ack["message_id"], "noc@acme.example"),
        samples.mail(
            sender="XOP Networks Support <support@xopnetworks.com>", subject=f"[{t.number}] Ticket opened"
        ),
        samples.mail(sender="noreply@xopnetworks.com", subject="hello"),
    )
    stats = _run(db_engine, intake_config, NOW + timedelta(minutes=5))
    assert stats.outcomes == {"auto_reply": 3, "bounce": 1, "own": 2}
    assert len(all_tickets(db_engine)) == 1 and len(outbox(db_engine)) == before
    assert len(events(db_engine, t.number)) == 1
    [b] = bounces(db_engine)  # the bounce is on the outbox row it is about
    assert (b["notification_id"], b["recipient"], b["action"], b["status"]) == (
        ack["id"],
        "noc@acme.example",
        "failed",
        "5.1.1",
    )
    assert "User unknown" in b["diagnostic"]


def test_our_own_message_looping_back_by_message_id(db_engine, intake_config, mailbox):
    _opened(mailbox, db_engine, intake_config)
    ack = outbox(db_engine)[0]
    mailbox.append(samples.mail(sender="relay@acme.example", message_id=ack["message_id"], subject="fwd"))
    assert _run(db_engine, intake_config).outcomes == {"own": 1}


def test_unknown_and_unreadable_mail_is_quarantined_never_dropped(db_engine, intake_config, mailbox):
    messages = [
        samples.mail(sender="stranger@evil.example"),
        samples.unknown_charset(),
        samples.malformed_mime(),
        samples.no_sender(),
    ]
    mailbox.append(*messages)
    stats = _run(db_engine, intake_config)
    assert stats.outcomes == {"quarantined": 4}
    recs = inbound(db_engine)
    assert sorted(r["raw"] for r in recs) == sorted(messages)
    reasons = " | ".join(r["reason"] for r in recs)
    assert "unknown sender stranger@evil.example" in reasons and "x-klingon-7" in reasons
    assert "malformed MIME" in reasons and "no sender" in reasons
    assert all_tickets(db_engine) == [] and outbox(db_engine) == []


def test_reply_from_a_stranger_to_a_ticket_is_quarantined(db_engine, intake_config, mailbox):
    t = _opened(mailbox, db_engine, intake_config)
    mailbox.append(samples.mail(sender="ops@globex.example", subject=f"RE: [{t.number}]", body="close"))
    assert _run(db_engine, intake_config).outcomes == {"quarantined": 1}
    assert TicketService(db_engine, intake_config).get(t.number).state == "open"


@pytest.mark.parametrize("sample", ["latin1_qp", "cp1252_base64", "utf8_html_inline_image"])
def test_charsets_and_formats_open_tickets(db_engine, intake_config, mailbox, sample):
    mailbox.append(getattr(samples, sample)())
    assert _run(db_engine, intake_config).outcomes == {"opened": 1}
    [t] = all_tickets(db_engine)
    expected = {"latin1_qp": "Störung", "cp1252_base64": "Café €", "utf8_html_inline_image": "Écran noir"}[
        sample
    ]
    assert expected in t["subject"]
    if sample == "utf8_html_inline_image":
        [img] = files(db_engine)
        assert img["inline"] and img["content_id"] == "shot1"


def test_starttls(db_engine, intake_config, mailbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_XOP_IMAP", mailbox.connection_json(security="starttls"))
    mailbox.append(samples.mail())
    assert _run(db_engine, intake_config).outcomes == {"opened": 1}


def test_close_of_a_closed_ticket_changes_nothing(db_engine, intake_config, mailbox):
    svc = TicketService(db_engine, intake_config)
    t = _opened(mailbox, db_engine, intake_config)
    svc.close(t.number, actor="alice", now=NOW + timedelta(hours=1), report="fixed")
    n = len(events(db_engine, t.number))
    mailbox.append(samples.mail(subject=f"RE: [{t.number}]", body="close"))
    _run(db_engine, intake_config, NOW + timedelta(hours=2))
    assert svc.get(t.number).state == "closed" and len(events(db_engine, t.number)) == n
    assert "already closed" in inbound(db_engine)[-1]["reason"]


def test_connection_test_button_and_clear_errors(mailbox, monkeypatch):
    import json

    from xop.connections.imap import MailboxHook

    mailbox.append(samples.mail())
    assert MailboxHook().test_connection() == (True, "logged in over TLS; 1 message(s) in INBOX")
    conn = json.loads(mailbox.connection_json())
    conn["extra"].pop("ca_file")  # the system's CAs do not know the test server's certificate
    monkeypatch.setenv("AIRFLOW_CONN_XOP_IMAP", json.dumps(conn))
    ok, why = MailboxHook().test_connection()
    assert not ok and "CERTIFICATE_VERIFY_FAILED" in why
    conn["extra"] = {"security": "none"}
    monkeypatch.setenv("AIRFLOW_CONN_XOP_IMAP", json.dumps(conn))
    ok, why = MailboxHook().test_connection()
    assert not ok and "plain IMAP is not supported" in why
    conn = json.loads(mailbox.connection_json()) | {"password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_XOP_IMAP", json.dumps(conn))
    ok, why = MailboxHook().test_connection()
    assert not ok and "login" in why and "refused" in why

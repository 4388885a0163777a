"""Signed ticket links (expiry, tampering, key rotation with a grace period) and the portal's
own rows (one-time sign-in tokens, rate-limit windows) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xop.connections.portal_keys import forget_keys
from xop.core.config import load_config
from xop.core.errors import ConfigError
from xop.core.specs.portal import RateLimit
from xop.notify.links import LinkExpired, LinkInvalid, read_ticket_link, ticket_link
from xop.portal import store

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
OLD_KEY = "old-portal-key-" + "o" * 20
NEW_KEY = "new-portal-key-" + "n" * 20


@pytest.fixture
def cfg(monkeypatch, tmp_path):
    monkeypatch.setenv("XOP_PORTAL_KEY", OLD_KEY)
    monkeypatch.delenv("XOP_PORTAL_PREVIOUS_KEYS", raising=False)
    forget_keys()
    yield load_config("tests/data/config.yaml")
    forget_keys()


def token_of(url: str) -> str:
    return url.split("?k=", 1)[1]


def test_a_link_names_its_recipient_and_ticket_and_expires_after_30_days(cfg):
    url = ticket_link(cfg, "Carl@Acme.example", "XOP-000123", now=NOW)
    assert url.startswith("https://myxop.com/tickets/XOP-000123?k=")
    claims = read_ticket_link(cfg, token_of(url), now=NOW + timedelta(days=29, hours=23))
    assert (claims.email, claims.ticket) == ("carl@acme.example", "XOP-000123")
    with pytest.raises(LinkExpired) as exc:
        read_ticket_link(cfg, token_of(url), now=NOW + timedelta(days=30))
    assert exc.value.claims.ticket == "XOP-000123"  # genuine: a fresh one can be sent


def test_links_are_per_recipient_and_tampering_is_detected(cfg):
    carl = token_of(ticket_link(cfg, "carl@acme.example", "XOP-000123", now=NOW))
    ann = token_of(ticket_link(cfg, "ann@acme.example", "XOP-000123", now=NOW))
    assert carl != ann
    for bad in (
        carl[:-1] + ("A" if carl[-1] != "A" else "B"),
        carl[:20],
        ann.split(".")[0] + "." + carl.split(".")[1],
    ):
        with pytest.raises(LinkInvalid):
            read_ticket_link(cfg, bad, now=NOW)


def test_a_retired_key_verifies_during_its_grace_period_only(cfg, monkeypatch):
    token = token_of(ticket_link(cfg, "carl@acme.example", "XOP-000123", now=NOW))
    retired = NOW + timedelta(hours=1)
    monkeypatch.setenv("XOP_PORTAL_KEY", NEW_KEY)
    monkeypatch.setenv(
        "XOP_PORTAL_PREVIOUS_KEYS", f'[{{"key": "{OLD_KEY}", "retired_at": "{retired.isoformat()}"}}]'
    )
    forget_keys()
    assert read_ticket_link(cfg, token, now=retired + timedelta(days=29)).ticket == "XOP-000123"
    with pytest.raises(LinkInvalid):
        read_ticket_link(cfg, token, now=retired + timedelta(days=30))  # grace (30 days) is over
    fresh = token_of(ticket_link(cfg, "carl@acme.example", "XOP-000123", now=NOW))
    assert fresh != token
    monkeypatch.delenv("XOP_PORTAL_PREVIOUS_KEYS")
    forget_keys()
    assert read_ticket_link(cfg, fresh, now=NOW).ticket == "XOP-000123"  # signed with the new key


def test_without_a_key_emails_carry_the_plain_url_and_a_short_key_is_refused(cfg, monkeypatch):
    monkeypatch.delenv("XOP_PORTAL_KEY")
    forget_keys()
    assert (
        ticket_link(cfg, "carl@acme.example", "XOP-000123", now=NOW) == "https://myxop.com/tickets/XOP-000123"
    )
    monkeypatch.setenv("XOP_PORTAL_KEY", "short")
    forget_keys()
    with pytest.raises(ConfigError, match=r"XOP_PORTAL_KEY.*at least 24"):
        ticket_link(cfg, "carl@acme.example", "XOP-000123", now=NOW)


def test_a_sign_in_token_works_once_and_only_before_it_expires(db_engine):
    token = store.issue_signin(
        db_engine, email="ann@acme.example", customer="acme", next_path="/", now=NOW, minutes=15
    )
    assert store.peek_signin(db_engine, token, now=NOW).outcome == "ok"
    assert store.use_signin(db_engine, token, now=NOW + timedelta(minutes=14)).outcome == "ok"
    assert store.use_signin(db_engine, token, now=NOW + timedelta(minutes=14)).outcome == "used"
    late = store.issue_signin(
        db_engine, email="ann@acme.example", customer="acme", next_path="/", now=NOW, minutes=15
    )
    assert store.use_signin(db_engine, late, now=NOW + timedelta(minutes=15)).outcome == "expired"
    assert store.use_signin(db_engine, "not-a-token", now=NOW).outcome == "invalid"


def test_rate_limit_windows_count_per_address(db_engine):
    limit = RateLimit(count=3, minutes=60)
    assert [store.hit(db_engine, "signin", "a@x.example", limit, now=NOW) for _ in range(4)] == [True] * 3 + [
        False
    ]
    assert store.hit(db_engine, "signin", "b@x.example", limit, now=NOW)  # another address
    assert store.hit(db_engine, "signin", "A@X.example", limit, now=NOW + timedelta(hours=1))  # next window
    store.prune(db_engine, now=NOW + timedelta(hours=2))
    assert store.hit(db_engine, "signin", "a@x.example", limit, now=NOW + timedelta(hours=2))


def test_sessions_end_and_expire(db_engine):
    sid, s = store.start_session(
        db_engine, email="ann@acme.example", customer="acme", ticket=None, now=NOW, hours=12
    )
    assert store.find_session(db_engine, sid, now=NOW + timedelta(hours=11)) == s
    assert store.find_session(db_engine, sid, now=NOW + timedelta(hours=12)) is None
    store.end_session(db_engine, s, now=NOW)
    assert store.find_session(db_engine, sid, now=NOW) is None
    assert store.find_session(db_engine, "x" * 500, now=NOW) is None


def test_known_contacts_come_from_config_intake_and_reporters(db_engine):
    from xop.core.specs.intake import IntakeContact, IntakeCustomer, IntakeSpec
    from xop.portal.contacts import find_contact
    from xop.tickets import TicketService

    base = load_config("tests/data/config.yaml")
    intake = IntakeSpec(
        customers=(
            IntakeCustomer(
                customer="acme",
                contacts=(IntakeContact(email="noc@acme.example", name="Acme NOC"),),
                domains=("acme-ops.example",),
            ),
        )
    )
    cfg = base.model_copy(update={"intake": intake})
    assert find_contact(cfg, db_engine, "Ann.Boss@acme.example").customer == "acme"  # management
    assert find_contact(cfg, db_engine, "noc@acme.example").name == "Acme NOC"  # intake contact
    assert find_contact(cfg, db_engine, "eve@eu.acme-ops.example").customer == "acme"  # intake domain
    assert find_contact(cfg, db_engine, "eve@acme-ops.example.evil.example") is None
    assert find_contact(cfg, db_engine, "carl@acme.example") is None  # not yet a reporter
    svc = TicketService(db_engine, cfg)
    svc.open(customer="acme", subject="x", reporter_name="Carl", reporter_email="carl@acme.example", now=NOW)
    assert find_contact(cfg, db_engine, "CARL@acme.example").name == "Carl"
    svc.report_problem(
        dedup_key="trunk:x",
        customer="globex",
        system=None,
        subject="down",
        description="",
        urgency="major",
        now=NOW,
    )
    assert find_contact(cfg, db_engine, "support@xopnetworks.com") is None  # a monitoring ticket's reporter


def test_each_recipient_of_a_customer_email_gets_their_own_signed_link(db_engine, cfg, monkeypatch):
    import email
    import email.policy
    import re

    from tests.conftest import TEST_CONFIG, outbox_rows
    from xop.tickets import TicketService

    monkeypatch.setenv("XOP_CONFIG", str(TEST_CONFIG))
    svc = TicketService(db_engine, cfg)
    t = svc.open(
        customer="acme", subject="Links", reporter_name="Carl", reporter_email="carl@acme.example", now=NOW
    )
    svc.close(t.number, actor="alice", report="Fixed.", now=NOW + timedelta(hours=1))
    closed = outbox_rows(db_engine, "ticket_closed")
    assert {r["recipient"] for r in closed} == {"carl@acme.example", "ann.boss@acme.example"}
    for row in closed:
        message = email.message_from_bytes(row["mime"], policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()
        (token,) = set(re.findall(r"/tickets/XOP-\d+\?k=([A-Za-z0-9_.=-]+)", text))
        claims = read_ticket_link(cfg, token, now=NOW + timedelta(days=29))
        assert (claims.email, claims.ticket) == (row["recipient"], t.number)


def test_every_customer_email_of_a_ticket_links_with_a_signed_link_for_its_recipient(
    db_engine, cfg, monkeypatch
):
    """A whole lifecycle (opened, updated, waiting, reclassified, escalated to L3, recovered,
    RCA, resolved, closed with the closing report to management, reopened): every customer
    email that names a ticket ends with "Follow your ticket at" the recipient's own signed link,
    in the text and the HTML part, and never with the plain ticket URL."""
    import email
    import email.policy
    import re

    from tests.conftest import TEST_CONFIG, outbox_rows
    from xop.notify.render import KINDS
    from xop.tickets import Actor, TicketService

    monkeypatch.setenv("XOP_CONFIG", str(TEST_CONFIG))
    svc = TicketService(db_engine, cfg)
    t = svc.open(
        customer="acme", subject="Links", reporter_name="Carl", reporter_email="carl@acme.example", now=NOW
    )
    n, at = t.number, NOW
    steps = [
        (svc.respond, {"actor": "alice", "body": "Looking into it."}),
        (svc.pause, {"actor": "alice", "reason": "Please send the SIP trace."}),
        (svc.respond, {"actor": Actor.customer(t.reporter_email), "body": "Attached."}),
        (svc.classify, {"urgency": "critical", "actor": "alice"}),
        (svc.escalate, {"actor": "alice", "reason": "Needs engineering."}),
        (svc.recover, {"actor": "l3", "body": "Rerouted."}),
        (svc.send_rca, {"actor": "l3", "cause": "SBC", "extent": "All", "actions": "Reroute", "plan": "Fix"}),
        (svc.resolve, {"actor": "l3", "body": "Fixed for good."}),
        (svc.close, {"actor": "alice", "report": "Closed."}),
        (svc.reopen, {"actor": "alice", "reason": "It came back."}),
    ]
    for step, kwargs in steps:
        at += timedelta(minutes=30)
        step(n, now=at, **kwargs)
    rows = [r for r in outbox_rows(db_engine) if KINDS.get(r["kind"]) == "customer" and r["ticket_id"]]
    kinds = {r["kind"] for r in rows}
    assert {
        "ticket_opened",
        "ticket_updated",
        "ticket_escalated",
        "ticket_recovered",
        "rca",
        "ticket_resolved",
        "ticket_closed",
    } <= kinds, kinds
    plain = cfg.support.ticket_url.format(number=n)
    for row in rows:
        message = email.message_from_bytes(row["mime"], policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        found = re.findall(r"Follow your ticket at (\S+)", text)
        assert len(found) == 1, (row["kind"], text[-400:])
        link = found[0]
        assert link.startswith(plain + "?k="), (row["kind"], link)
        claims = read_ticket_link(cfg, token_of(link), now=NOW + timedelta(days=29))
        assert (claims.email, claims.ticket) == (row["recipient"], n), row["kind"]
        assert f'href="{link}"' in html.replace("&amp;", "&"), row["kind"]

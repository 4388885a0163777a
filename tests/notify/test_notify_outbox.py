"""The outbox: idempotent enqueue in the caller's transaction, delivery, retries, failures."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from xop.core.errors import ConfigError
from xop.notify import delivery
from xop.notify.delivery import BACKOFF_BASE, BACKOFF_CAP, backoff_delay, deliver_pending
from xop.notify.mime import build_message, make_message_id
from xop.notify.outbox import (
    enqueue,
    failed_notifications,
    outbox_counts,
    render_and_enqueue,
)
from xop.notify.smtp import SmtpTransport
from xop.notify.tables import notifications

NOW = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)
SENDER = "XOP Networks Support <support@xopnetworks.com>"
TICKET = {
    "number": "XOP-000042",
    "subject": "Conference bridge drops callers",
    "customer": "acme",
    "system": "acme-conf1",
    "urgency": "major",
    "level": 2,
    "state": "open",
    "reporter_name": "Ann Lee",
    "reporter_email": "ann@acme.example",
    "opened_at": NOW,
}
CONTACT = {
    "name": "XOP Networks Level 2 Support",
    "email": "support@xopnetworks.com",
    "phone": "972-590-0200, option 2",
    "hours": "8 am – 6 pm Central, Mon–Fri",
}


def _enqueue_plain(conn, key: str, recipient: str = "ann@acme.example", now: datetime = NOW) -> bool:
    message = build_message(
        sender=SENDER,
        recipient=recipient,
        subject=f"note {key}",
        text=f"note {key}\n",
        html=None,
        message_id=make_message_id(key),
        date=now,
    )
    return enqueue(
        conn,
        dedup_key=key,
        kind="ticket_updated",
        audience="customer",
        recipient=recipient,
        subject=f"note {key}",
        message=message,
        now=now,
    )


def _fill(engine: Engine, count: int, *, prefix: str = "n", recipient: str = "ann@acme.example") -> list[str]:
    keys = [f"{prefix}:{i}:{recipient}" for i in range(count)]
    with engine.begin() as conn:
        for key in keys:
            assert _enqueue_plain(conn, key, recipient)
    return keys


def _rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(notifications).order_by(notifications.c.id))]


# -- enqueue ----------------------------------------------------------------------------------


def test_enqueue_is_idempotent_on_dedup_key(engine: Engine) -> None:
    with engine.begin() as conn:
        assert _enqueue_plain(conn, "ticket:1:event:1:ann@acme.example") is True
    with engine.begin() as conn:
        assert _enqueue_plain(conn, "ticket:1:event:1:ann@acme.example") is False
        assert _enqueue_plain(conn, "ticket:1:event:1:bob@acme.example", "bob@acme.example") is True
    rows = _rows(engine)
    assert [r["dedup_key"] for r in rows] == [
        "ticket:1:event:1:ann@acme.example",
        "ticket:1:event:1:bob@acme.example",
    ]
    assert rows[0]["message_id"] == make_message_id("ticket:1:event:1:ann@acme.example")
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 0
    assert rows[0]["next_attempt_at"] == NOW and rows[0]["created_at"] == NOW


def test_enqueue_refuses_a_message_id_used_by_another_notification(engine: Engine) -> None:
    message = build_message(
        sender=SENDER,
        recipient="ann@acme.example",
        subject="s",
        text="t\n",
        html=None,
        message_id=make_message_id("first-key"),
        date=NOW,
    )
    args = {"kind": "ticket_updated", "audience": "customer", "recipient": "ann@acme.example", "subject": "s"}
    with engine.begin() as conn:
        assert enqueue(conn, dedup_key="first-key", message=message, now=NOW, **args)
        with pytest.raises(ValueError, match="already used by 'first-key'"):
            enqueue(conn, dedup_key="second-key", message=message, now=NOW, **args)


def test_enqueue_belongs_to_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert render_and_enqueue(
            conn,
            kind="ticket_opened",
            context={"ticket": TICKET, "contact": CONTACT, "sla_targets": []},
            recipient="ann@acme.example",
            audience="customer",
            dedup_key="ticket:42:opened:ann@acme.example",
            now=NOW,
        )
        raise RuntimeError("the event's transaction fails after the email was queued")
    assert outbox_counts(engine) == {"pending": 0, "sent": 0, "failed": 0}


def test_render_and_enqueue_stores_the_rendered_message(engine: Engine) -> None:
    args = {
        "kind": "ticket_opened",
        "context": {
            "ticket": TICKET,
            "contact": CONTACT,
            "sla_targets": [{"label": "Level 2 response", "target": "2 business hours"}],
        },
        "recipient": "ann@acme.example",
        "audience": "customer",
        "dedup_key": "ticket:42:opened:ann@acme.example",
        "now": NOW,
    }
    with engine.begin() as conn:
        assert render_and_enqueue(conn, **args) is True
    with engine.begin() as conn:  # a rerun (e.g. a retried task) queues nothing new
        assert render_and_enqueue(conn, **{**args, "now": NOW + timedelta(minutes=5)}) is False
    (row,) = _rows(engine)
    assert row["subject"] == "[XOP-000042] Ticket opened: Conference bridge drops callers"
    assert row["kind"] == "ticket_opened" and row["audience"] == "customer"
    mime = row["mime"]
    assert f"Message-ID: {row['message_id']}".encode() in mime
    assert b"Auto-Submitted: auto-generated" in mime
    assert b"X-XOP-Ticket: XOP-000042" in mime
    assert b"References: " + make_message_id("ticket-thread:XOP-000042").encode() in mime


def test_concurrent_enqueue_of_one_key_inserts_once(pg_engine: Engine) -> None:
    """Eight transactions race to queue the same email, ten times: exactly one wins each race,
    and the losers' transactions are not aborted (the race can surface on either unique index)."""
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def worker(race: int, barrier: threading.Barrier) -> None:
        try:
            with pg_engine.begin() as conn:
                barrier.wait()
                results.append((race, _enqueue_plain(conn, f"ticket:9:event:{race}:ann@acme.example")))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    for race in range(10):
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=worker, args=(race, barrier)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    for race in range(10):
        assert sorted(won for r, won in results if r == race) == [False] * 7 + [True]
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(notifications)).scalar_one() == 10


# -- delivery ---------------------------------------------------------------------------------


def test_delivers_everything_due_over_one_session(engine: Engine, smtp_connection) -> None:
    handler = smtp_connection.handler
    keys = _fill(engine, 25)
    _fill(engine, 3, prefix="later")  # not yet due: enqueued now, asked for before now
    with engine.begin() as conn:
        conn.execute(
            notifications.update()
            .where(notifications.c.dedup_key.like("later:%"))
            .values(next_attempt_at=NOW + timedelta(hours=1))
        )
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW + timedelta(seconds=1))
    assert (stats.claimed, stats.sent, stats.retried, stats.failed) == (25, 25, 0, 0)
    assert handler.sessions == 1
    assert sorted(handler.received) == sorted(make_message_id(k) for k in keys)
    assert set(handler.received.values()) == {1}
    sent = [r for r in _rows(engine) if r["status"] == "sent"]
    assert len(sent) == 25
    assert all(r["sent_at"] == NOW + timedelta(seconds=1) and r["attempts"] == 1 for r in sent)
    # envelope: from the message's From header, to the row's recipient
    assert {(e[0], tuple(e[1])) for e in handler.envelopes} == {
        ("support@xopnetworks.com", ("ann@acme.example",))
    }
    assert outbox_counts(engine) == {"pending": 3, "sent": 25, "failed": 0}
    # nothing due: a second run sends nothing and opens no session
    again = deliver_pending(engine, smtp=SmtpTransport(), now=NOW + timedelta(seconds=2))
    assert again.claimed == 0 and handler.sessions == 1


def test_sends_exactly_the_stored_bytes(sqlite_engine: Engine, smtp_connection) -> None:
    with sqlite_engine.begin() as conn:
        render_and_enqueue(
            conn,
            kind="ticket_opened",
            context={"ticket": TICKET, "contact": CONTACT, "sla_targets": []},
            recipient="ann@acme.example",
            audience="customer",
            dedup_key="ticket:42:opened:ann@acme.example",
            now=NOW,
        )
    deliver_pending(sqlite_engine, smtp=SmtpTransport(), now=NOW)
    (row,) = _rows(sqlite_engine)
    received = smtp_connection.handler.contents[row["message_id"]]
    assert received.rstrip(b"\r\n") == row["mime"].rstrip(b"\r\n")


def test_5xx_recipient_ends_failed_with_last_error(engine: Engine, smtp_connection) -> None:
    smtp_connection.handler.reject.add("gone@acme.example")
    _fill(engine, 2)
    (bad,) = _fill(engine, 1, prefix="bad", recipient="gone@acme.example")
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW)
    assert (stats.sent, stats.failed, stats.retried) == (2, 1, 0)
    assert any("550" in e for e in stats.errors)
    (failed,) = failed_notifications(engine)
    assert failed["dedup_key"] == bad
    assert failed["recipient"] == "gone@acme.example"
    assert failed["attempts"] == 1
    assert "550" in failed["last_error"] and "gone@acme.example" in failed["last_error"]
    assert outbox_counts(engine) == {"pending": 0, "sent": 2, "failed": 1}
    # failed rows are never picked up again
    assert deliver_pending(engine, smtp=SmtpTransport(), now=NOW + timedelta(days=1)).claimed == 0


def test_4xx_is_retried_later_with_backoff(engine: Engine, smtp_connection) -> None:
    handler = smtp_connection.handler
    handler.always_451.add("busy@acme.example")
    (key,) = _fill(engine, 1, recipient="busy@acme.example")
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW)
    assert (stats.sent, stats.retried, stats.failed) == (0, 1, 0)
    (row,) = _rows(engine)
    assert row["status"] == "pending" and row["attempts"] == 1 and "451" in row["last_error"]
    delay = row["next_attempt_at"] - NOW
    assert BACKOFF_BASE / 2 <= delay <= BACKOFF_BASE
    # not due yet: nothing happens
    assert deliver_pending(engine, smtp=SmtpTransport(), now=NOW + delay / 2).claimed == 0
    handler.always_451.clear()
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW + delay)
    assert stats.sent == 1
    assert handler.received == {make_message_id(key): 1}


def test_gives_up_after_max_attempts(engine: Engine, smtp_connection) -> None:
    smtp_connection.handler.always_451.add("busy@acme.example")
    _fill(engine, 1, recipient="busy@acme.example")
    now = NOW
    for _attempt in (1, 2, 3):
        stats = deliver_pending(engine, smtp=SmtpTransport(), now=now, max_attempts=3)
        assert stats.claimed == 1
        now += BACKOFF_CAP
    assert (stats.retried, stats.failed) == (0, 1)
    (failed,) = failed_notifications(engine)
    assert failed["attempts"] == 3
    assert failed["last_error"].startswith("gave up after 3 attempts: ")


def test_server_down_releases_rows_without_using_attempts(engine: Engine, idle_smtp_server) -> None:
    _fill(engine, 5)
    smtp = SmtpTransport.for_server(idle_smtp_server.host, idle_smtp_server.port)
    stats = deliver_pending(engine, smtp=smtp, now=NOW + timedelta(minutes=1))
    assert stats.server_unavailable and "refused" in stats.server_unavailable.lower()
    assert (stats.claimed, stats.sent, stats.released) == (5, 0, 5)
    rows = _rows(engine)
    assert {(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows} == {
        ("pending", 0, NOW + timedelta(minutes=1))
    }
    idle_smtp_server.start()
    stats = deliver_pending(engine, smtp=smtp, now=NOW + timedelta(minutes=2))
    assert stats.sent == 5 and stats.server_unavailable is None


def test_missing_smtp_connection_raises_and_releases_the_rows(engine: Engine, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_XOP_NO_SUCH_SMTP", raising=False)
    _fill(engine, 3)
    with pytest.raises(ConfigError, match="xop_no_such_smtp"):
        deliver_pending(engine, smtp=SmtpTransport("xop_no_such_smtp"), now=NOW)
    assert {(r["status"], r["attempts"], r["next_attempt_at"]) for r in _rows(engine)} == {
        ("pending", 0, NOW)
    }


def test_rows_of_a_crashed_sender_come_back_after_the_lease(engine: Engine, smtp_connection) -> None:
    keys = _fill(engine, 4)
    # A sender claims the rows and dies before sending anything.
    claimed = delivery._claim(engine, now=NOW, batch_size=10, lease=delivery.DEFAULT_LEASE)
    assert len(claimed) == 4
    # While its lease runs, nobody else touches them ...
    assert deliver_pending(engine, smtp=SmtpTransport(), now=NOW + timedelta(minutes=1)).claimed == 0
    # ... afterwards they are due again and delivered once.
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW + delivery.DEFAULT_LEASE)
    assert stats.sent == 4
    assert sorted(smtp_connection.handler.received) == sorted(make_message_id(k) for k in keys)


def test_a_retried_sender_takes_over_the_rows_its_dead_try_leased(engine: Engine, smtp_connection) -> None:
    keys = _fill(engine, 4)
    task = "xop_daily_audit/manual__1/deliver_outbox/-1"
    # The first try of the sender task claims the rows and dies (its worker was killed).
    assert (
        len(delivery._claim(engine, now=NOW, batch_size=10, lease=delivery.DEFAULT_LEASE, claimer=task)) == 4
    )
    # Another sender leaves them alone while the lease runs ...
    other = deliver_pending(
        engine, smtp=SmtpTransport(), now=NOW, claimer="xop_sla_sweep/r/deliver_outbox/-1"
    )
    assert other.claimed == 0
    # ... the retry of the same task sends them at once, each once, and clears its claim.
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW, claimer=task)
    assert (stats.claimed, stats.sent) == (4, 4)
    assert sorted(smtp_connection.handler.received) == sorted(make_message_id(k) for k in keys)
    assert {(r["status"], r["claimed_by"]) for r in _rows(engine)} == {("sent", None)}


def test_short_lease_makes_the_sender_reclaim_and_still_deliver_all(engine: Engine, smtp_connection) -> None:
    keys = _fill(engine, 6)
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW, lease=timedelta(microseconds=1))
    assert stats.sent == 6
    assert stats.released > 0  # every batch gave back what it could not start in time
    assert sorted(smtp_connection.handler.received) == sorted(make_message_id(k) for k in keys)


def test_deadline_passed_starts_nothing(engine: Engine, smtp_connection) -> None:
    _fill(engine, 3)
    stats = deliver_pending(engine, smtp=SmtpTransport(), now=NOW, deadline=time.monotonic() - 1)
    assert stats.claimed == 0
    assert outbox_counts(engine)["pending"] == 3
    assert smtp_connection.handler.sessions == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    for attempts in range(1, 12):
        full = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
        delays = [backoff_delay(attempts, rng=rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 40  # jittered
    assert backoff_delay(30, rng=rng) <= BACKOFF_CAP

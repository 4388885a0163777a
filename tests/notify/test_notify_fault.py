"""Delivery under faults: every notification arrives exactly once (counted by Message-ID).

The SMTP server is down at first, answers 451 at random (RCPT and DATA), drops connections in the
middle of DATA, and is stopped in the middle of a run and started again later. The sender is
called again and again with an advancing ``now`` (as the sweep would be) until nothing is pending.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from xop.notify.delivery import BACKOFF_CAP, DeliveryStats, deliver_pending
from xop.notify.mime import build_message, make_message_id
from xop.notify.outbox import enqueue, outbox_counts
from xop.notify.smtp import SmtpTransport

NOW = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)
SENDER = "XOP Networks Support <support@xopnetworks.com>"


def _fill(engine: Engine, count: int) -> set[str]:
    message_ids = set()
    with engine.begin() as conn:
        for i in range(count):
            key = f"ticket:{i}:event:1:user{i % 7}@acme.example"
            recipient = f"user{i % 7}@acme.example"
            message_id = make_message_id(key)
            message = build_message(
                sender=SENDER,
                recipient=recipient,
                subject=f"[XOP-{i:06d}] Update",
                text=f"Update {i}\n",
                html=f"<p>Update {i}</p>",
                message_id=message_id,
                date=NOW,
            )
            assert enqueue(
                conn,
                dedup_key=key,
                kind="ticket_updated",
                audience="customer",
                recipient=recipient,
                subject=f"[XOP-{i:06d}] Update",
                message=message,
                now=NOW,
            )
            message_ids.add(message_id)
    return message_ids


def test_thousand_notifications_arrive_exactly_once_through_faults(
    engine: Engine, idle_smtp_server, monkeypatch
) -> None:
    server = idle_smtp_server
    handler = server.handler
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json())
    expected = _fill(engine, 1000)
    handler.rcpt_451_rate = 0.05
    handler.data_451_rate = 0.10
    handler.drop_rate = 0.05

    # Half-way through, the server goes away in the middle of a run: from then on it drops
    # every DATA without recording it (so no message is half-accepted), then it stops.
    stopped = threading.Event()

    def stop_half_way() -> None:
        while handler.total < 500:
            if stop_watch.wait(0.005):
                return
        handler.refuse_all = True
        server.stop()
        stopped.set()

    stop_watch = threading.Event()
    watcher = threading.Thread(target=stop_half_way, daemon=True)

    runs: list[DeliveryStats] = []
    now = NOW
    down_runs_after_stop = 0
    try:
        for run in range(60):
            if run == 2:  # refused for two runs, then the server comes up
                server.start()
                watcher.start()
            if stopped.is_set() and not server.running:
                down_runs_after_stop += 1
                if down_runs_after_stop > 2:
                    handler.refuse_all = False
                    server.start()
            runs.append(deliver_pending(engine, smtp=SmtpTransport(), now=now, max_attempts=30))
            if outbox_counts(engine)["pending"] == 0:
                break
            now += BACKOFF_CAP + timedelta(minutes=1)
    finally:
        stop_watch.set()

    assert outbox_counts(engine) == {"pending": 0, "sent": 1000, "failed": 0}
    # exactly once: every Message-ID arrived, none twice, nothing else
    assert set(handler.received) == expected
    assert max(handler.received.values()) == 1
    assert handler.total == 1000

    # the faults really happened
    assert stopped.is_set()
    assert sum(1 for s in runs if s.server_unavailable) >= 4  # 2 before start, >= 2 after the stop
    assert handler.dropped > 10
    assert handler.transient_replies > 50
    assert sum(s.retried for s in runs) >= handler.dropped + handler.transient_replies - 5
    # one session reused per run: new sessions only after a drop (or the stop)
    assert handler.sessions <= len(runs) + handler.dropped + 2


def test_two_senders_in_parallel_never_send_a_row_twice(pg_engine: Engine, smtp_connection) -> None:
    handler = smtp_connection.handler
    handler.data_451_rate = 0.1
    expected = _fill(pg_engine, 400)
    per_sender: dict[str, list[DeliveryStats]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def sender(name: str, barrier: threading.Barrier, now: datetime, seed: int) -> None:
        try:
            barrier.wait()
            stats = deliver_pending(
                pg_engine, smtp=SmtpTransport(), now=now, batch_size=10, rng=random.Random(seed)
            )
            per_sender[name].append(stats)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    now = NOW
    for phase in range(30):
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=sender, args=(name, barrier, now, 100 * phase + i))
            for i, name in enumerate("ab")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        if outbox_counts(pg_engine)["pending"] == 0:
            break
        now += BACKOFF_CAP + timedelta(minutes=1)

    assert outbox_counts(pg_engine) == {"pending": 0, "sent": 400, "failed": 0}
    assert set(handler.received) == expected
    assert max(handler.received.values()) == 1
    # Properties only (which sender got which rows is up to the scheduler): every row was sent
    # once in all, and each sender's count of sent rows adds up to exactly that.
    assert sum(s.sent for s in per_sender["a"] + per_sender["b"]) == 400

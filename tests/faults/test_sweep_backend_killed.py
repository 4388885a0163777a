"""The database drops the sweep's connection mid-run (``pg_terminate_backend``).

The sweep commits one transaction per batch. Its backend is killed while it works on a later
batch: the sweep must fail with an error, the batches before it stay committed whole, the batch it
was in leaves no trace, and the next sweep does the rest. Afterwards every breached ticket was
escalated exactly once and got exactly one escalation email.

Synchronisation is on a real event, never on timing: the test holds a row lock on one clock of a
ticket of the third batch, so the sweep's clock update in that batch waits on the test's backend;
the test finds the waiting backend through ``pg_blocking_pids`` (and checks its application_name
in ``pg_stat_activity``), terminates it, then releases its lock.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from bench.bench_sweep import NOW, populate
from tests.conftest import outbox_rows
from xop.notify.tables import notifications
from xop.tickets.sweep import sweep
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

APP = "xop-sweep-under-fault"
BATCH = 100
TICKETS = 600  # all breached, claimed in id order (same next_due_at): six batches
LOCKED_TICKET = 2 * BATCH + 50  # in the third batch


def _blocked_sweep_backend(conn: sa.Connection, deadline: float, outcome: list) -> int:
    """Poll until the sweep's backend waits on a lock held by ``conn``; returns its pid."""
    q = sa.text(
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = :app AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    )
    while True:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))  # else the view is frozen per transaction
        pid = conn.execute(q, {"app": APP}).scalar()
        if pid is not None:
            return pid
        assert not outcome, f"the sweep ended before reaching the locked clock: {outcome}"
        assert time.monotonic() < deadline, "the sweep never reached the locked clock"
        time.sleep(0.02)  # condition poll of pg_stat_activity, not the synchronisation itself


def _per_ticket(engine: sa.Engine, kind: str) -> dict[int, int]:
    with engine.connect() as c:
        rows = c.execute(
            sa.select(ticket_events.c.ticket_id, sa.func.count())
            .where(ticket_events.c.kind == kind)
            .group_by(ticket_events.c.ticket_id)
        ).all()
    return dict(rows)


def _levels(engine: sa.Engine) -> dict[int, int]:
    with engine.connect() as c:
        return dict(c.execute(sa.select(tickets.c.id, tickets.c.level)).all())


def test_sweep_backend_terminated_mid_run(pg_engine, pg_url, xop_config):
    populate(pg_engine, TICKETS, TICKETS, TICKETS, xop_config.fingerprint)
    swept = sa.create_engine(pg_url, connect_args={"application_name": APP})
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(sweep(swept, xop_config, now=NOW, batch_size=BATCH))
        except BaseException as exc:
            outcome.append(exc)

    holder = pg_engine.connect()
    try:
        tx = holder.begin()
        locked = holder.execute(
            sa.select(ticket_clocks.c.id).where(ticket_clocks.c.ticket_id == LOCKED_TICKET).with_for_update()
        ).all()
        assert len(locked) == 1
        th = threading.Thread(target=run)
        th.start()
        pid = _blocked_sweep_backend(holder, time.monotonic() + 120, outcome)
        assert holder.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
        tx.rollback()
        th.join(120)
        assert not th.is_alive()
    finally:
        holder.close()

    # 1. The sweep failed with a database error, not a partial success.
    assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.OperationalError), outcome

    # 2. Exactly the two batches before the killed one are committed, each whole.
    escalated = _per_ticket(pg_engine, "escalated")
    assert sorted(escalated) == list(range(1, 2 * BATCH + 1))
    assert set(escalated.values()) == {1}
    assert sorted(_per_ticket(pg_engine, "sla_breached")) == list(range(1, 2 * BATCH + 1))
    levels = _levels(pg_engine)
    assert {t for t, lvl in levels.items() if lvl == 3} == set(escalated)
    assert {t for t, lvl in levels.items() if lvl == 2} == set(range(2 * BATCH + 1, TICKETS + 1))
    with pg_engine.connect() as c:
        breached = set(
            c.execute(
                sa.select(ticket_clocks.c.ticket_id).where(ticket_clocks.c.breached_at.is_not(None))
            ).scalars()
        )
    assert breached == set(escalated)
    assert len(outbox_rows(pg_engine, "ticket_escalated")) == 2 * BATCH
    assert len(outbox_rows(pg_engine, "sla_escalations")) == 2  # one digest per committed batch

    # 3. The next sweep (a fresh connection from the same engine's pool) does the rest.
    stats = sweep(swept, xop_config, now=NOW, batch_size=BATCH)
    swept.dispose()
    assert stats.escalations == TICKETS - 2 * BATCH
    assert sweep(pg_engine, xop_config, now=NOW, batch_size=BATCH).escalations == 0  # nothing left

    # 4. Nothing escalated or emailed twice, nothing lost.
    escalated = _per_ticket(pg_engine, "escalated")
    assert sorted(escalated) == list(range(1, TICKETS + 1)) and set(escalated.values()) == {1}
    breaches = _per_ticket(pg_engine, "sla_breached")
    assert sorted(breaches) == list(range(1, TICKETS + 1)) and set(breaches.values()) == {1}
    assert set(_levels(pg_engine).values()) == {3}
    with pg_engine.connect() as c:
        dup_keys = c.execute(
            sa.select(notifications.c.dedup_key)
            .group_by(notifications.c.dedup_key)
            .having(sa.func.count() > 1)
        ).all()
        per_ticket_mail = dict(
            c.execute(
                sa.select(notifications.c.ticket_id, sa.func.count())
                .where(notifications.c.kind == "ticket_escalated")
                .group_by(notifications.c.ticket_id)
            ).all()
        )
    assert dup_keys == []
    assert sorted(per_ticket_mail) == list(range(1, TICKETS + 1)) and set(per_ticket_mail.values()) == {1}
    assert len(outbox_rows(pg_engine, "sla_escalations")) == TICKETS // BATCH

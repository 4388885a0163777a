"""SLA sweep on PostgreSQL with 1,000,000 tickets (100,000 open).

Measures, in one run against one database:
  1. a sweep with nothing due (target < 50 ms): the cost must follow what is due, not the table;
  2. a sweep that escalates 10,000 breached tickets (clocks, events, outbox rows; target < 10 s);
  3. the baseline: the same escalations as a per-ticket loop over the ticket service
     (``TicketService.escalate`` per ticket plus the breach bookkeeping), timed on a sample and
     expressed per ticket; the ratio must be >= 20.

Usage: .venv/bin/python bench/bench_sweep.py [--tickets 1000000] [--open 100000] [--breached 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
os.environ.setdefault("XOP_CONFIG", str(REPO / "tests" / "data" / "config.yaml"))

import sqlalchemy as sa  # noqa: E402

from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from xop.core.config import load_config  # noqa: E402
from xop.db.engine import engine_from_url  # noqa: E402
from xop.db.migrate import upgrade  # noqa: E402
from xop.tickets import TicketService  # noqa: E402
from xop.tickets.sweep import sweep  # noqa: E402

# Tuesday 2026-12-01 15:00 UTC (09:00 CST): open tickets were opened over the last weeks.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

POPULATE = """
INSERT INTO tickets (id, number, customer, system, subject, description, reporter_name, reporter_email,
                     source, urgency, level, state, opened_at, updated_at, next_due_at, reopen_count)
SELECT g, 'XOP-' || lpad(g::text, 7, '0'), 'acme', 'acme-conf1', 'Bench ticket ' || g, '',
       'Bench Reporter', 'bench' || (g % 1000) || '@acme.example', 'customer', 'major',
       2, CASE WHEN g <= :open THEN 'open' ELSE 'closed' END,
       :now - make_interval(days => 30 + g % 300), :now - make_interval(days => 30),
       CASE WHEN g <= :breached THEN :now - interval '1 minute'
            WHEN g <= :open THEN :now + make_interval(mins => 60 + g % 5000) END, 0
FROM generate_series(1, :total) AS g;
INSERT INTO ticket_clocks (ticket_id, name, cycle, calendar, started_at, target_seconds, paused_seconds,
                           due_at, next_check_at, warned_fraction, policy_version)
SELECT g, 'l2_response', 0, 'business',
       CASE WHEN g <= :breached THEN :now - interval '3 days' ELSE :now END, 7200, 0,
       CASE WHEN g <= :breached THEN :now - interval '1 minute' ELSE :now + interval '2 hours' END,
       CASE WHEN g <= :breached THEN :now - interval '1 minute'
            ELSE :now + make_interval(mins => 60 + g % 5000) END,
       CASE WHEN g <= :breached THEN 0.9 ELSE 0 END, :fp
FROM generate_series(1, :open) AS g;
INSERT INTO ticket_number_seq (id, last_value) VALUES (1, :total);
SELECT setval(pg_get_serial_sequence('tickets', 'id'), :total);
"""


def populate(engine: sa.Engine, total: int, open_: int, breached: int, fingerprint: str) -> float:
    """Clocks carry the current policy fingerprint, as the service writes them (otherwise the first
    sweep would retarget every clock as after a policy edit)."""
    started = time.perf_counter()
    params = {"now": NOW, "open": open_, "breached": breached, "total": total, "fp": fingerprint}
    with engine.begin() as c:
        for stmt in filter(str.strip, POPULATE.split(";\n")):
            c.execute(sa.text(stmt), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


def per_ticket_baseline(engine: sa.Engine, cfg, numbers: list[str]) -> float:
    """Seconds per ticket for the same work done one ticket at a time through the service."""
    from xop.tickets.tables import ticket_clocks, ticket_events, tickets

    svc = TicketService(engine, cfg)
    started = time.perf_counter()
    for number in numbers:
        with engine.begin() as c:  # the breach bookkeeping of one ticket
            tid = c.execute(sa.select(tickets.c.id).where(tickets.c.number == number)).scalar_one()
            c.execute(
                sa.update(ticket_clocks)
                .where(ticket_clocks.c.ticket_id == tid, ticket_clocks.c.breached_at.is_(None))
                .values(breached_at=NOW, next_check_at=None)
            )
            c.execute(
                sa.insert(ticket_events).values(
                    ticket_id=tid,
                    at=NOW,
                    actor="bench",
                    kind="sla_breached",
                    public=False,
                    body="",
                    payload={},
                )
            )
        svc.escalate(number, actor="bench", now=NOW, reason="SLA target missed")
    return (time.perf_counter() - started) / len(numbers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--open", type=int, default=100_000)
    ap.add_argument("--breached", type=int, default=10_000)
    ap.add_argument("--baseline-sample", type=int, default=300)
    args = ap.parse_args()
    cfg = load_config()
    url = create_pg_database("xop_bench_sweep")
    try:
        engine = engine_from_url(url)
        upgrade(engine)
        secs = populate(engine, args.tickets, args.open, args.breached, cfg.fingerprint)
        print(f"populated {args.tickets:,} tickets ({args.open:,} open, {args.breached:,} breached)", end="")
        print(f" in {secs:.1f} s")

        # 1. nothing due: a moment before the first breach.
        idle = []
        for _ in range(7):
            stats = sweep(engine, cfg, now=NOW - timedelta(minutes=5))
            assert stats.tickets == 0
            idle.append(stats.seconds)
        idle_ms = statistics.median(idle) * 1000

        # 2. 10,000 breached: one sweep escalates them all.
        stats = sweep(engine, cfg, now=NOW)
        assert stats.escalations == args.breached, stats
        with engine.connect() as c:
            emails = c.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
            events = c.execute(sa.text("SELECT count(*) FROM ticket_events")).scalar_one()
        sweep_s = stats.seconds

        # 3. baseline: the same work per ticket through the service, on fresh breached tickets.
        sample = args.baseline_sample
        with engine.begin() as c:
            ids = (
                c.execute(
                    sa.text(
                        "SELECT number FROM tickets WHERE state = 'open' AND level = 2 ORDER BY id LIMIT :n"
                    ),
                    {"n": sample},
                )
                .scalars()
                .all()
            )
        per_ticket = per_ticket_baseline(engine, cfg, list(ids))
        loop_s = per_ticket * args.breached
    finally:
        drop_pg_database(url)

    def row(label: str, value: str, target: str = "") -> None:
        print(f"{label:58s} {value:>14s} {target:>10s}")

    print()
    row("measure", "value", "target")
    row("sweep, nothing due (median of 7)", f"{idle_ms:.1f} ms", "< 50 ms")
    row(f"sweep escalating {args.breached:,} breached tickets", f"{sweep_s:.2f} s", "< 10 s")
    row("  rows written: events / outbox emails", f"{events:,} / {emails:,}")
    row(f"per-ticket loop via TicketService (sample of {sample})", f"{per_ticket * 1000:.1f} ms/ticket")
    row(f"  extrapolated to {args.breached:,} tickets", f"{loop_s:.1f} s")
    row("speed-up of the set-based sweep over the loop", f"{loop_s / sweep_s:.1f} x", ">= 20 x")


if __name__ == "__main__":
    main()

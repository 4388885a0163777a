"""SLA sweep on PostgreSQL with 1,000,000 tickets (100,000 open).

Measures, in one run against one database:
  1. a sweep with nothing due (target < 50 ms): the cost must follow what is due, not the table;
  2. a sweep that escalates 10,000 breached tickets (clocks, events, outbox rows; target < 1.5 s);
  3. the baseline: the same escalations as a per-ticket loop over the ticket service
     (``TicketService.escalate`` per ticket plus the breach bookkeeping), timed on a sample and
     expressed per ticket; the ratio must be >= 80;
  4. the FLOOR: the very rows the sweep wrote (clock updates, new clocks, events, ticket updates,
     outbox rows), written again by one bare bulk statement each through psycopg (COPY for the
     inserts, UPDATE ... FROM unnest(arrays) for the updates), in one committed transaction: the
     database's own limit for that work, to read the sweep's time against. It bounds the two
     targets: no sweep that writes these rows beats the loop by more than loop / floor, and under
     1.5 s everything but the writes (claim, clock reads, decisions, building the rows) must fit
     in 1.5 s - floor, printed per row written, beside the least a row built in Python costs
     (the sweep's own events handed to psycopg's COPY as prepared tuples, and their JSON);
  5. one ticket-service action (``respond``, ``escalate``) on PostgreSQL (target < 5 ms).

Wall time, CPU time of this process (``time.process_time``) and the load average are printed:
the machine is shared. ``--profile`` prints a pyinstrument profile of the escalating sweep.

Usage: .venv/bin/python bench/bench_sweep.py [--tickets 1000000] [--open 100000] [--breached 10000]
       [--baseline-sample 300] [--actions 200] [--batch-size 5000] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
from xop.sla.policy import business_calendar  # noqa: E402
from xop.tickets import TicketService  # noqa: E402
from xop.tickets.sweep import BATCH_SIZE, sweep  # noqa: E402

#: The issue's targets for the escalating sweep: its wall time, and its speed-up over the loop.
SWEEP_TARGET_S = 1.5
SPEEDUP_TARGET = 80
#: The event columns the floor writes again and the client's row cost is measured on.
EVENT_COLS = "ticket_id, at, actor, actor_kind, actor_level, kind, public, body, payload"

# Tuesday 2026-12-01 15:00 UTC (09:00 CST): open tickets were opened over the last weeks.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

POPULATE = """
INSERT INTO tickets (id, number, customer, system, subject, description, reporter_name, reporter_email,
                     source, urgency, level, state, opened_at, updated_at, next_due_at, reopen_count,
                     urgent_rank, urgent_at)
SELECT g, 'XOP-' || lpad(g::text, 7, '0'), 'acme', 'acme-conf1', 'Bench ticket ' || g, '',
       'Bench Reporter', 'bench' || (g % 1000) || '@acme.example', 'customer', 'major',
       2, CASE WHEN g <= :open THEN 'open' ELSE 'closed' END,
       :now - make_interval(days => 30 + g % 300), :now - make_interval(days => 30),
       CASE WHEN g <= :breached THEN :now - interval '1 minute'
            WHEN g <= :open THEN :now + make_interval(mins => 60 + g % 5000) END, 0,
       CASE WHEN g <= :open THEN 0 ELSE 2 END,
       CASE WHEN g <= :breached THEN :now - interval '1 minute'
            WHEN g <= :open THEN :now + interval '2 hours' END
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


CLOCK_COLS = (
    "paused_seconds",
    "paused_at",
    "target_seconds",
    "due_at",
    "next_check_at",
    "met_at",
    "stopped_at",
    "breached_at",
    "warned_fraction",
    "policy_version",
)
CLOCK_TYPES = (
    "bigint",
    "timestamptz",
    "bigint",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "float8",
    "text",
)
SUFFIXED = "dedup_key || '#f', message_id || '#f'"
TICKET_COLS = (
    "level",
    "urgency",
    "escalated_at",
    "updated_at",
    "next_due_at",
    "urgent_rank",
    "urgent_at",
    "emergency_at",
)
TICKET_TYPES = (
    "int",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "smallint",
    "timestamptz",
    "timestamptz",
)


def high_water(engine: sa.Engine) -> dict[str, int]:
    """The largest id of each table the sweep writes (before it runs)."""
    with engine.connect() as c:
        return {
            t: c.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar_one()
            for t in ("ticket_clocks", "ticket_events", "notifications")
        }


def floor(engine: sa.Engine, before: dict[str, int]) -> tuple[float, float, dict[str, int], dict[str, float]]:
    """Write the rows the sweep wrote once more, one bare bulk statement each; (wall, cpu, counts).

    The rows are read back from the database in the server's text format first (COPY TO, arrays
    as text), so the timed part has no Python per row: COPY FROM for the inserted rows (events,
    new clocks, outbox rows; keys made unique by a suffix), UPDATE ... FROM unnest(arrays) for the
    updated clocks and tickets, the same values written again (PostgreSQL writes a new row version
    either way). Committed, then the copies are deleted (not timed).
    """
    e0, c0, n0 = before["ticket_events"], before["ticket_clocks"], before["notifications"]
    ck_cols = (
        "ticket_id, name, cycle, calendar, started_at, target_seconds, paused_seconds, paused_at, "
        "due_at, next_check_at, warned_fraction, met_at, breached_at, stopped_at, policy_version"
    )
    nt_cols = (
        "ticket_id, event_id, dedup_key, message_id, kind, audience, recipient, sender, context, "
        "subject, mime, status, attempts, created_at, next_attempt_at"
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()

        def copy_out(sql: str) -> bytes:
            with cur.copy(f"COPY ({sql}) TO STDOUT") as cp:
                return b"".join(bytes(b) for b in cp)

        events = copy_out(f"SELECT {EVENT_COLS} FROM ticket_events WHERE id > {e0} ORDER BY id")
        new_clocks = copy_out(
            f"SELECT {ck_cols.replace('cycle', 'cycle + 1000')} FROM ticket_clocks"
            f" WHERE id > {c0} ORDER BY id"
        )
        notes = copy_out(
            f"SELECT {nt_cols.replace('dedup_key, message_id', SUFFIXED)}"
            f" FROM notifications WHERE id > {n0} ORDER BY id"
        )
        aggs = ", ".join(f"array_agg({c} ORDER BY id)::text" for c in ("id", *CLOCK_COLS))
        clock_arrays = cur.execute(
            f"SELECT count(*), {aggs} FROM ticket_clocks WHERE id <= {c0} AND (breached_at IS NOT NULL"
            " OR stopped_at IS NOT NULL OR met_at IS NOT NULL OR warned_fraction > 0)"
        ).fetchone()
        aggs = ", ".join(f"array_agg({c} ORDER BY id)::text" for c in ("id", *TICKET_COLS))
        ticket_arrays = cur.execute(
            f"SELECT count(*), {aggs} FROM tickets WHERE escalated_at IS NOT NULL"
        ).fetchone()
        raw.commit()
        counts = {
            "clock updates": clock_arrays[0],
            "clock inserts": new_clocks.count(b"\n"),
            "events": events.count(b"\n"),
            "ticket updates": ticket_arrays[0],
            "outbox rows": notes.count(b"\n"),
        }

        def update_sql(table: str, cols: tuple[str, ...], types: tuple[str, ...]) -> str:
            arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *types))
            sets = ", ".join(f"{c} = v.{c}" for c in cols)
            names = ", ".join(cols)
            return (
                f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v(id, {names}) WHERE {table}.id = v.id"
            )

        e1 = cur.execute("SELECT max(id) FROM ticket_events").fetchone()[0]
        raw.commit()
        wall, cpu = time.perf_counter(), time.process_time()
        steps: list[tuple[str, float]] = []

        def step(name: str) -> None:
            steps.append((name, time.perf_counter()))

        cur.execute(update_sql("ticket_clocks", CLOCK_COLS, CLOCK_TYPES), clock_arrays[1:])
        step("clock updates")
        with cur.copy(f"COPY ticket_clocks ({ck_cols}) FROM STDIN") as cp:
            cp.write(new_clocks)
        step("clock inserts")
        with cur.copy(f"COPY ticket_events ({EVENT_COLS}) FROM STDIN") as cp:
            cp.write(events)
        step("events")
        cur.execute(update_sql("tickets", TICKET_COLS, TICKET_TYPES), ticket_arrays[1:])
        step("ticket updates")
        with cur.copy(f"COPY notifications ({nt_cols}) FROM STDIN") as cp:
            cp.write(notes)
        step("outbox rows")
        raw.commit()
        step("commit")
        prev, split = wall, {}
        for name, at in steps:
            split[name], prev = at - prev, at
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cur.execute(f"DELETE FROM notifications WHERE id > {n0} AND dedup_key LIKE '%%#f'")
        cur.execute(f"DELETE FROM ticket_clocks WHERE id > {c0} AND cycle >= 1000")
        cur.execute(f"DELETE FROM ticket_events WHERE id > {e1}")
        raw.commit()
    finally:
        raw.close()
    return wall, cpu, counts, split


def client_row_cost(engine: sa.Engine, before: dict[str, int]) -> tuple[float, float]:
    """The least CPU per row any sweep pays that builds its rows in Python: the sweep's own events,
    read back as Python values, handed to psycopg's COPY (into a temporary table) as prepared
    tuples; (µs per row for ``write_row``, µs per row for ``json.dumps`` of the payload). Neither
    counts claiming, reading clocks, deciding or building the row."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = cur.execute(
            f"SELECT {EVENT_COLS} FROM ticket_events WHERE id > {before['ticket_events']} ORDER BY id"
        ).fetchall()
        cur.execute(
            f"CREATE TEMPORARY TABLE bench_rows AS SELECT {EVENT_COLS} FROM ticket_events WITH NO DATA"
        )
        cpu = time.process_time()
        payloads = [json.dumps(r[-1]) for r in rows]
        dumps = time.process_time() - cpu
        prepared = [(*r[:-1], p) for r, p in zip(rows, payloads, strict=True)]
        cpu = time.process_time()
        with cur.copy(f"COPY bench_rows ({EVENT_COLS}) FROM STDIN") as cp:
            for r in prepared:
                cp.write_row(r)
        write = time.process_time() - cpu
        raw.rollback()
    finally:
        raw.close()
    return write * 1e6 / len(rows), dumps * 1e6 / len(rows)


def per_action(engine: sa.Engine, cfg, numbers: list[str]) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms of one service action (respond, then escalate) on open L2 tickets."""
    svc = TicketService(engine, cfg)
    out: dict[str, tuple[float, float]] = {}
    half = len(numbers) // 2
    for name, sample, act in (
        (
            "respond",
            numbers[:half],
            lambda n: svc.respond(n, actor="bench", body="Looking into it.", now=NOW),
        ),
        ("escalate", numbers[half:], lambda n: svc.escalate(n, actor="bench", now=NOW, reason="needs L3")),
    ):
        walls, cpus = [], []
        for number in sample:
            w, c = time.perf_counter(), time.process_time()
            act(number)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        out[name] = (statistics.median(walls) * 1000, statistics.median(cpus) * 1000)
    return out


def load_average() -> str:
    return (
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--open", type=int, default=100_000)
    ap.add_argument("--breached", type=int, default=10_000)
    ap.add_argument("--baseline-sample", type=int, default=300)
    ap.add_argument("--actions", type=int, default=200, help="tickets per service action measured")
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the escalating sweep")
    ap.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        help="the escalating sweep's batch size (default: the sweep's own, sweep.BATCH_SIZE)",
    )
    args = ap.parse_args()
    cfg = load_config()
    url = create_pg_database("xop_bench_sweep")
    try:
        engine = engine_from_url(url)
        upgrade(engine)
        secs = populate(engine, args.tickets, args.open, args.breached, cfg.fingerprint)
        print(f"populated {args.tickets:,} tickets ({args.open:,} open, {args.breached:,} breached)", end="")
        print(f" in {secs:.1f} s")

        # The support calendar (its holiday tables) is built once per process, like the imports:
        # built here, so that neither the sweep nor the loop after it is timed with it (0.2 s).
        business_calendar(cfg.calendar)

        # 1. nothing due: a moment before the first breach.
        idle = []
        for _ in range(7):
            stats = sweep(engine, cfg, now=NOW - timedelta(minutes=5))
            assert stats.tickets == 0
            idle.append(stats.seconds)
        idle_ms = statistics.median(idle) * 1000

        # 2. 10,000 breached: one sweep escalates them all.
        before = high_water(engine)
        load_sweep = load_average()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        cpu = time.process_time()
        stats = sweep(engine, cfg, now=NOW, batch_size=args.batch_size)
        sweep_cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.stop()
        assert stats.escalations == args.breached, stats
        with engine.connect() as c:
            emails = c.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
            events = c.execute(sa.text("SELECT count(*) FROM ticket_events")).scalar_one()
        sweep_s = stats.seconds

        # 4. the floor: the same rows, one bare bulk statement each.
        floor_s, floor_cpu, counts, split = floor(engine, before)
        write_us, dumps_us = client_row_cost(engine, before)

        # 3. baseline: the same work per ticket through the service, on fresh breached tickets.
        sample = args.baseline_sample
        with engine.begin() as c:
            numbers = (
                c.execute(
                    sa.text(
                        "SELECT number FROM tickets WHERE state = 'open' AND level = 2 ORDER BY id LIMIT :n"
                    ),
                    {"n": sample + args.actions},
                )
                .scalars()
                .all()
            )
        loop_cpu = time.process_time()
        per_ticket = per_ticket_baseline(engine, cfg, list(numbers[:sample]))
        loop_cpu = (time.process_time() - loop_cpu) / sample
        loop_s = per_ticket * args.breached

        # 5. one service action.
        actions = per_action(engine, cfg, list(numbers[sample:]))
        load_end = load_average()
    finally:
        drop_pg_database(url)

    def row(label: str, value: str, target: str = "") -> None:
        print(f"{label:58s} {value:>22s} {target:>10s}")

    print()
    row("measure", "value", "target")
    row("sweep, nothing due (median of 7)", f"{idle_ms:.1f} ms", "< 50 ms")
    row(
        f"sweep escalating {args.breached:,} breached tickets (batches of {args.batch_size:,})",
        f"{sweep_s:.2f} s (cpu {sweep_cpu:.2f} s)",
        f"< {SWEEP_TARGET_S} s",
    )
    row("  rows written: events / outbox emails (whole tables)", f"{events:,} / {emails:,}")
    row("FLOOR: the same rows, one bare statement each", f"{floor_s:.2f} s (cpu {floor_cpu:.2f} s)")
    row("  " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), "")
    row("  its statements", ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in split.items()))
    row("  sweep / floor", f"{sweep_s / floor_s:.1f} x")
    row(f"per-ticket loop via TicketService (sample of {sample})", f"{per_ticket * 1000:.1f} ms/ticket")
    row("  its CPU per ticket", f"{loop_cpu * 1000:.1f} ms/ticket")
    row(f"  extrapolated to {args.breached:,} tickets", f"{loop_s:.1f} s")
    row(
        "speed-up of the set-based sweep over the loop", f"{loop_s / sweep_s:.1f} x", f">= {SPEEDUP_TARGET} x"
    )
    # The floor bounds both targets: a sweep cannot write its rows faster than bare statements do.
    row("  the most a sweep writing these rows could reach: loop / floor", f"{loop_s / floor_s:.1f} x")
    rows_written = sum(counts.values())
    left = (SWEEP_TARGET_S - floor_s) * 1e6 / rows_written
    row(
        f"  under {SWEEP_TARGET_S} s, left beside the floor per row written ({rows_written:,})",
        f"{left:.1f} us/row",
    )
    row(
        "  least client CPU per row: COPY of a prepared row / json of a payload",
        f"{write_us:.1f} / {dumps_us:.1f} us/row",
    )
    for name, (wall, cpu_ms) in actions.items():
        row(
            f"one service action: {name} (median of {args.actions // 2})",
            f"{wall:.2f} ms (cpu {cpu_ms:.2f})",
            "< 5 ms",
        )
    row("load average at the sweep / at the end", f"{load_sweep} / {load_end}")
    if profiler is not None:
        print()
        print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()

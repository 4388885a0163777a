"""Benchmark: the daily usage report on one million CDRs in PostgreSQL.

Targets (issue 6): the whole usage report (SQL aggregates, peak concurrency, per-conference
peaks, chart) in under 10 s; the numpy peak sweep at least 10x faster than the equivalent
window-function query in PostgreSQL on the same rows. Both peaks must agree.

    .venv/bin/python bench/bench_usage.py [--rows 1000000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a scratch database, loads generated Asterisk-style CDRs with COPY, drops it after.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins")]

from sqlalchemy import MetaData, create_engine, text  # noqa: E402

from xop.audit.cdr_sql import render_legs_sql, usage_params  # noqa: E402
from xop.audit.days import AuditDay  # noqa: E402
from xop.audit.report import calls_per_hour_png  # noqa: E402
from xop.audit.usage import (  # noqa: E402
    clip,
    compute_usage,
    fetch_port_intervals,
    peak_concurrency,
)
from xop.core.specs.audit import CdrMapping  # noqa: E402
from xop.demo.sample_cdr import asterisk_cdr_table, random_cdrs  # noqa: E402

#: The baseline: running sum over start (+1) / end (-1) events, ends first on ties.
WINDOW_PEAK_SQL = """
WITH legs AS ({legs}),
intervals AS (
    SELECT GREATEST(start_s, :day_start) AS s, LEAST(end_s, :day_end) AS e
    FROM legs WHERE start_s < :day_end AND end_s > :day_start
),
events AS (
    SELECT s AS t, 1 AS d FROM intervals
    UNION ALL
    SELECT e AS t, -1 AS d FROM intervals
),
running AS (
    SELECT t, SUM(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS active FROM events
)
SELECT active, t FROM running ORDER BY active DESC, t LIMIT 1
"""


def backend_cpu_seconds(engine) -> tuple[int, float]:
    """CPU seconds used so far by the PostgreSQL backend of the engine's (single) connection."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best_of(n: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), result


def load(engine, day: AuditDay, rows: int) -> None:
    meta = MetaData()
    table = asterisk_cdr_table(meta)
    meta.create_all(engine)
    frame = random_cdrs(day, rows, seed=6, conferences=500)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    columns = ", ".join(frame.columns)
    raw = engine.raw_connection()
    try:
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table.name} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {table.name}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    day = AuditDay.of(date(2026, 3, 10))
    mapping = CdrMapping()
    name = f"xop_bench_usage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # One pooled connection, so its backend's CPU time can be read from /proc.
    engine = create_engine(args.pg.rsplit("/", 1)[0] + f"/{name}", pool_size=1, max_overflow=0)
    try:
        began = time.perf_counter()
        load(engine, day, args.rows)
        print(f"loaded {args.rows:,} CDRs in {time.perf_counter() - began:.1f} s (COPY, not timed below)")

        def report():
            usage = compute_usage(engine, mapping, day, system="bench")
            return usage, calls_per_hour_png(usage)

        print(f"load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        report()  # warm caches (PostgreSQL buffers, matplotlib import)
        _, server_before = backend_cpu_seconds(engine)
        client_before = time.process_time()
        report_s, (usage, png) = best_of(args.repeat, report)
        client_cpu = (time.process_time() - client_before) / args.repeat
        server_cpu = (backend_cpu_seconds(engine)[1] - server_before) / args.repeat
        print(
            f"usage report: {report_s:.2f} s for {usage.attempts:,} attempts, "
            f"{len(usage.conferences)} conferences, "
            f"peak {usage.peak_ports} ports, chart {len(png) / 1024:.0f} KiB  (target < 10 s: "
            f"{'MET' if report_s < 10 else 'MISSED'})"
        )
        print(
            f"  CPU per report (independent of contention): client {client_cpu:.2f} s + PostgreSQL backend "
            f"{server_cpu:.2f} s = {client_cpu + server_cpu:.2f} s"
        )

        with engine.connect() as conn:
            params = usage_params(day, mapping, "postgresql")
            fetch_s, (starts, ends) = best_of(
                args.repeat, lambda: fetch_port_intervals(conn, mapping, day, params)
            )
            cut = clip(starts, ends, day)
            sweep_times = []
            for _ in range(max(5, args.repeat)):
                t0 = time.perf_counter()
                numpy_peak = peak_concurrency(*cut)
                sweep_times.append(time.perf_counter() - t0)
            sweep_s = min(sweep_times)
            window_sql = text(WINDOW_PEAK_SQL.format(legs=render_legs_sql(mapping, conn)))
            window_s, window_row = best_of(args.repeat, lambda: conn.execute(window_sql, params).one())

        window_peak = (int(window_row[0]), float(window_row[1]))
        if window_peak != (numpy_peak[0], numpy_peak[1]):
            print(f"MISMATCH: numpy {numpy_peak} vs window {window_peak}")
            return 1
        print(f"peak concurrency over {len(starts):,} intervals: {numpy_peak[0]} ports (both methods agree)")
        print(f"  window-function query in PostgreSQL : {window_s * 1000:8.1f} ms")
        print(
            f"  numpy sort-and-sweep (arrays given)  : {sweep_s * 1000:8.1f} ms   -> "
            f"{window_s / sweep_s:6.1f}x faster"
        )
        print(f"  fetch of the two epochs              : {fetch_s * 1000:8.1f} ms")
        print(
            f"  fetch + sweep                        : {(fetch_s + sweep_s) * 1000:8.1f} ms   -> "
            f"{window_s / (fetch_s + sweep_s):6.1f}x faster"
        )
        print(
            f"  sweep runs (ms): {', '.join(f'{t * 1000:.1f}' for t in sweep_times)}; "
            f"median {statistics.median(sweep_times) * 1000:.1f}"
        )
        print(f"target numpy sweep >= 10x window query: {'MET' if window_s / sweep_s >= 10 else 'MISSED'}")
        print(f"load average after: {os.getloadavg()[0]:.1f} (timings scale with contention for the CPUs)")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ticket search on PostgreSQL at 1,000,000 tickets (2,000,000 events): the list query with free
text and filters through :func:`xop.api.queries.list_tickets`, against the bare SQL of the same
query (the statements it compiles to, run straight through the driver) as the floor.

Data is generated set-based (``generate_series``; not through the service): every ticket has a
subject and a description of words from a 2,000-word vocabulary (so a word matches about 0.1-0.5 %
of tickets), an ``opened`` event with the description and an internal note with other words;
20 customers, every state. The migration's GIN expression indexes are built after the load, then
ANALYZE. Each query is run ``--repeat`` times after a warm-up; the median is reported.

Target: under 100 ms per page (count + first 50 rows) for the interface.

Usage: .venv/bin/python bench/bench_search.py [--tickets 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from tests.conftest import TEST_CONFIG, create_pg_database, drop_pg_database  # noqa: E402
from xop.api import queries  # noqa: E402
from xop.core.config import load_config  # noqa: E402
from xop.db.engine import engine_from_url  # noqa: E402
from xop.db.migrate import upgrade  # noqa: E402
from xop.tickets.tables import tickets  # noqa: E402

NOW = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)

LOAD = """
INSERT INTO tickets (id, number, customer, subject, description, reporter_name, reporter_email,
                     source, urgency, level, state, opened_at, updated_at, reopen_count)
SELECT i, 'XOP-' || lpad(i::text, 7, '0'), 'cust' || (i % 20),
       'w' || (i * 7 % 2000) || ' w' || (i * 13 % 2000) || ' outage',
       'w' || (i * 17 % 2000) || ' w' || (i * 19 % 2000) || ' w' || (i * 23 % 2000)
         || ' callers drop after some minutes on the bridge',
       'Reporter ' || i, 'r' || i || '@example.com',
       'customer', (ARRAY['critical','major','minor'])[1 + i % 3], 2 + i % 3,
       (ARRAY['open','waiting_customer','recovered','resolved','closed'])[1 + i % 5],
       timestamptz '2026-01-01' + (i || ' minutes')::interval,
       timestamptz '2026-01-01' + (i || ' minutes')::interval, 0
FROM generate_series(1, :n) AS i;
INSERT INTO ticket_events (ticket_id, at, actor, actor_kind, kind, public, body, payload)
SELECT id, opened_at, 'carl', 'customer', 'opened', true, description, '{}'::json FROM tickets;
INSERT INTO ticket_events (ticket_id, at, actor, actor_kind, actor_level, kind, public, body, payload)
SELECT id, opened_at, 'lena', 'staff', 2, 'note', false,
       'note w' || (id * 29 % 2000) || ' w' || (id * 31 % 2000), '{}'::json FROM tickets;
SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n);
"""

CASES = [
    (
        "one word, active, one customer",
        "w1234",
        dict(states=("open", "waiting_customer", "recovered"), customer="cust7"),
    ),
    ("two words, active", "outage w17", dict(states=("open", "waiting_customer", "recovered"))),
    ("word of a note, level 3", "w1201", dict(levels=(3,))),
    ("prefix, critical", "w123", dict(urgencies=("critical",))),
    ("number", "XOP-0654321", dict()),
    ("common word + rare word", "bridge w999", dict(states=("open",))),
]


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    args = ap.parse_args()
    cfg = load_config(TEST_CONFIG)
    url = create_pg_database("xop_bench_search")
    engine = engine_from_url(url)
    try:
        upgrade(engine)
        with engine.begin() as c:  # the migration's search indexes, built after the load
            defs = [
                r[0]
                for r in c.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname IN"
                    " ('ix_tickets_search', 'ix_ticket_events_search')"
                )
            ]
            assert len(defs) == 2, defs
            c.exec_driver_sql("DROP INDEX ix_tickets_search")
            c.exec_driver_sql("DROP INDEX ix_ticket_events_search")
        t = time.perf_counter()
        with engine.begin() as c:
            for stmt in LOAD.strip().split(";\n"):
                c.exec_driver_sql(stmt.replace(":n", str(args.tickets)).replace("%", "%%"))
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        with engine.begin() as c:
            c.exec_driver_sql("SET maintenance_work_mem = '256MB'")
            for stmt in defs:
                c.exec_driver_sql(stmt)
        index_s = time.perf_counter() - t
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE tickets")
            c.exec_driver_sql("VACUUM ANALYZE ticket_events")
        print(
            f"{args.tickets:,} tickets, {2 * args.tickets:,} events:"
            f" load {load_s:.1f} s, GIN indexes {index_s:.1f} s"
        )
        print(f"{'query':34} {'matches':>8} {'interface ms':>13} {'bare SQL ms':>12} {'ratio':>6}")
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for label, q, filters in CASES:
                f = queries.TicketFilter(q=q, **filters)
                total, _ = queries.list_tickets(conn, cfg, f, now=NOW, limit=50)

                def interface(f=f):
                    queries.list_tickets(conn, cfg, f, now=NOW, limit=50)

                stmts = _bare(f)

                def bare(stmts=stmts):
                    with raw.cursor() as cur:
                        for sql, params in stmts:
                            cur.execute(sql, params)
                            cur.fetchall()

                mi, mb = _median_ms(interface, args.repeat), _median_ms(bare, args.repeat)
                print(f"{label:34} {total:>8,} {mi:>13.1f} {mb:>12.1f} {mi / mb:>6.2f}")
    finally:
        engine.dispose()
        if args.keep:
            print(url)
        else:
            drop_pg_database(url)


def _bare(f: queries.TicketFilter) -> list[tuple[str, None]]:
    """The statements list_tickets runs for a page (count, page of rows), compiled for psycopg."""
    cond = queries._where(f, NOW, "postgresql")
    count = select(func.count()).select_from(tickets).where(*cond)
    page = (
        select(tickets)
        .where(*cond)
        .order_by(tickets.c.next_due_at.asc().nulls_last(), tickets.c.id)
        .limit(50)
        .offset(0)
    )
    out = []
    for stmt in (count, page):
        compiled = stmt.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True})
        out.append((str(compiled), None))
    return out


if __name__ == "__main__":
    main()

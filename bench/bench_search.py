"""Ticket search on PostgreSQL at 1,000,000 tickets: the board's list query with free text and
filters through :func:`xop.api.queries.list_tickets` (the ids of up to 1,001 matches, which give
the capped count; the page of 50 in the board's order; the page's clock standings), against two
baselines in the same run on the same data:

- **floor**: the bare SQL of the same query (the ids and page statements it compiles to, run
  straight through psycopg, values inlined);
- **previous**: the query shape as merged before (commit ``dab7d88``): GIN expression indexes on
  ``to_tsvector(regexp_replace(...))`` of the ticket and of each event body, one ``IN`` over a
  ``UNION`` of the two, an exact ``count(*)`` and the page (same tsquery as now, so the same
  prefix rules; it matches words within one text only, hence its own match counts).

Data is generated set-based (``generate_series`` with a fixed ``setseed``; not through the
service), the words independent of the filters: 20 customers; states 20 % open, 10 % waiting,
10 % recovered, 20 % resolved, 40 % closed (40 % active, with ``next_due_at`` and a running
``l2_response`` clock); levels 2-4; urgencies; 30 % owned. Subject and description carry 5 words
of a 2,000-word vocabulary ``w0..w1999`` (so a word is in about 0.3 % of tickets), "outage" in
30 % of subjects, "bridge" in 30 % of descriptions; every ticket has its ``opened`` event, half a
public response (a ``w`` word, "gateway" in 20 %), each an internal note of two words of another
vocabulary ``n0..n1999`` (internal only). ``search_doc`` is filled in the same pass (the triggers
are off during the load and on afterwards), then the GIN indexes are built and ``VACUUM ANALYZE``.

Each case runs ``--repeat`` times after a warm-up (the previous shape ``--repeat-previous``
times: it takes seconds); p50 and p95 of wall time, and the interface's CPU time per call
(``time.process_time``: Python and the driver, not the server). Target: interface p95 < 100 ms.

Usage: .venv/bin/python bench/bench_search.py [--tickets 1000000] [--repeat 15] [--sort urgent|next_due]
       [--explain] [--keep] [--url URL-of-a-kept-database]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from sqlalchemy import func, literal_column, select, union  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from tests.conftest import TEST_CONFIG, create_pg_database, drop_pg_database  # noqa: E402
from xop.api import queries  # noqa: E402
from xop.core.config import load_config  # noqa: E402
from xop.db.engine import engine_from_url  # noqa: E402
from xop.db.migrate import upgrade  # noqa: E402
from xop.tickets import search  # noqa: E402
from xop.tickets.tables import ticket_events, tickets  # noqa: E402

NOW = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
ACTIVE = ("open", "waiting_customer", "recovered")

LOAD = """
SELECT setseed(0.42);
CREATE TEMP TABLE src AS
SELECT i, s.state,
       'w' || floor(random() * 2000)::int || ' w' || floor(random() * 2000)::int
         || CASE WHEN random() < 0.3 THEN ' outage' ELSE ' fault' END AS subject,
       'w' || floor(random() * 2000)::int || ' w' || floor(random() * 2000)::int
         || ' w' || floor(random() * 2000)::int
         || CASE WHEN random() < 0.3 THEN ' callers drop on the bridge' ELSE ' callers hear noise' END
         AS description,
       CASE WHEN random() < 0.5 THEN 'we moved you to w' || floor(random() * 2000)::int
         || CASE WHEN random() < 0.2 THEN ' and the spare gateway' ELSE '' END END AS response,
       'note n' || floor(random() * 2000)::int || ' n' || floor(random() * 2000)::int AS note,
       timestamptz '2025-01-01' + (i * 30 || ' seconds')::interval AS opened_at,
       CASE WHEN s.state IN ('open','waiting_customer','recovered')
            THEN NOW() + (floor(random() * 30 * 86400) - 5 * 86400 || ' seconds')::interval END AS due
FROM generate_series(1, :n) AS i,
     LATERAL (SELECT CASE WHEN r < 0.2 THEN 'open' WHEN r < 0.3 THEN 'waiting_customer'
                          WHEN r < 0.4 THEN 'recovered' WHEN r < 0.6 THEN 'resolved' ELSE 'closed' END
                     AS state
              FROM (SELECT random() + i * 0 AS r) AS x) AS s;
INSERT INTO tickets (id, number, customer, subject, description, reporter_name, reporter_email,
                     source, urgency, level, state, opened_at, updated_at, reopen_count,
                     next_due_at, owner, search_doc, urgent_rank, urgent_at)
SELECT i, 'XOP-' || lpad(i::text, 7, '0'), 'cust' || floor(random() * 20)::int, subject, description,
       'Reporter ' || i, 'r' || i || '@example.com', 'customer',
       (ARRAY['critical','major','minor'])[1 + floor(random() * 3)::int], 2 + floor(random() * 3)::int,
       state, opened_at, opened_at + (floor(random() * 86400) || ' seconds')::interval, 0,
       due,
       CASE WHEN random() < 0.3 THEN 'staff' || floor(random() * 10)::int END,
       xop_search_words('XOP-' || lpad(i::text, 7, '0') || ' ' || subject || ' ' || description || ' '
                        || description || ' ' || coalesce(response, '') || ' ' || note),
       -- the order keys the service writes (xop.tickets.clocks.ticket_keys): one running,
       -- unpaused clock due at next_due_at per active ticket; none for the others
       CASE WHEN due IS NULL THEN 2 ELSE 0 END, due
FROM src;
INSERT INTO ticket_events (ticket_id, at, actor, actor_kind, kind, public, body, payload)
SELECT i, opened_at, 'carl', 'customer', 'opened', true, description, '{}'::json FROM src;
INSERT INTO ticket_events (ticket_id, at, actor, actor_kind, actor_level, kind, public, body, payload)
SELECT i, opened_at, 'lena', 'staff', 2, 'response', true, response, '{}'::json
FROM src WHERE response IS NOT NULL;
INSERT INTO ticket_events (ticket_id, at, actor, actor_kind, actor_level, kind, public, body, payload)
SELECT i, opened_at, 'lena', 'staff', 2, 'note', false, note, '{}'::json FROM src;
INSERT INTO ticket_clocks (ticket_id, name, cycle, calendar, started_at, target_seconds, due_at,
                           next_check_at, policy_version)
SELECT id, 'l2_response', 0, 'business', opened_at, 7200, next_due_at, next_due_at, ''
FROM tickets WHERE next_due_at IS NOT NULL;
SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n);
DROP TABLE src
"""

# The expressions of the previous shape (migration i16_ticket_search), for the baseline.
OLD_TICKET_DOC = (
    "to_tsvector('simple', regexp_replace(tickets.number || ' ' || tickets.subject || ' ' "
    "|| tickets.description, '\\W+', ' ', 'g'))"
)
OLD_EVENT_DOC = "to_tsvector('simple', regexp_replace(ticket_events.body, '\\W+', ' ', 'g'))"
OLD_INDEXES = (
    "CREATE INDEX bench_previous_tickets ON tickets USING gin "
    "(to_tsvector('simple', regexp_replace(number || ' ' || subject || ' ' || description,"
    " '\\W+', ' ', 'g')))",
    "CREATE INDEX bench_previous_events ON ticket_events USING gin "
    "(to_tsvector('simple', regexp_replace(body, '\\W+', ' ', 'g')))",
)

CASES = [
    ("selective word", "w1234", {}),
    ("selective word, active", "w1234", dict(states=ACTIVE)),
    ("selective word, active, one customer", "w1234", dict(states=ACTIVE, customer="cust7")),
    ("broad word (30 %)", "bridge", {}),
    ("broad word, active", "bridge", dict(states=ACTIVE)),
    ("broad word, active, one customer", "bridge", dict(states=ACTIVE, customer="cust7")),
    ("broad word, L3 critical, unassigned", "bridge", dict(levels=(3,), urgencies=("critical",), owner="")),
    ("broad word, breached", "bridge", dict(breached=True)),
    ("two broad words", "outage bridge", dict(states=ACTIVE)),
    ("broad + selective word", "bridge w1234", {}),
    ("two selective words (none)", "w1234 w999", dict(states=ACTIVE)),
    ("internal note word, level 3", "n1201", dict(levels=(3,))),
    ("public update word (10 %)", "gateway", dict(states=ACTIVE)),
    ("prefix, 11 words (3 %)", "w123*", dict(urgencies=("critical",))),
    ("prefix, 111 words (25 %)", "w12*", dict(states=ACTIVE)),
    ("prefix of 1 letter (all)", "w*", {}),
    ("number", "XOP-0654321", {}),
    ("number prefix (10)", "XOP-065432*", {}),
    ("no match", "nonesuch", dict(states=ACTIVE)),
]


def _times(fn, repeat: int) -> tuple[list[float], float]:
    """Wall times in ms of ``repeat`` calls after a warm-up, and the mean CPU ms per call."""
    fn()
    wall = []
    cpu0 = time.process_time()
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
    return wall, (time.process_time() - cpu0) * 1000 / repeat


def _p(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _compile(stmt) -> str:
    return str(stmt.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}))


SORT = "urgent"  # set by --sort: the board's order (default) or next_due


def _order():
    if SORT == queries.URGENT:
        return tuple(queries.urgent_order())
    return (tickets.c.next_due_at.asc().nulls_last(), tickets.c.id)


def _floor(f: queries.TicketFilter, raw, *, cond: list | None = None, order: list | None = None) -> list[str]:
    """The statements list_tickets runs for a page: the ids of up to COUNT_CAP + 1 matches, then
    the page (sorted from those ids, or read in the board's order when there are more).
    ``cond`` / ``order``: other conditions and order than the interface's (the baselines)."""
    cond = queries._where(f, NOW, "postgresql") if cond is None else cond
    ids_stmt = _compile(select(tickets.c.id).where(*cond).limit(search.COUNT_CAP + 1))
    with raw.cursor() as cur:
        cur.execute(ids_stmt)
        ids = [r[0] for r in cur.fetchall()]
    page = select(tickets).order_by(*(order or _order())).limit(50)
    page = page.where(tickets.c.id.in_(ids), *cond) if len(ids) <= search.COUNT_CAP else page.where(*cond)
    return [ids_stmt, _compile(page)] if ids else [ids_stmt]


def _clock_overdue():
    """Main's ``breached`` test before the stored keys: a running clock flagged or past due."""
    from sqlalchemy import and_, exists, or_

    from xop.tickets.tables import ticket_clocks as k

    mine, running = k.c.ticket_id == tickets.c.id, and_(k.c.met_at.is_(None), k.c.stopped_at.is_(None))
    late = or_(k.c.breached_at.is_not(None), k.c.due_at <= func.coalesce(k.c.paused_at, NOW))
    return exists().where(mine, running, late)


def _computed_urgent_order() -> list:
    """The ``urgent`` order as main computed it before the stored keys (``ix_tickets_urgent``):
    from the clocks, three correlated subqueries per ticket (breached, soonest due, waiting)."""
    from sqlalchemy import and_, case, exists

    from xop.tickets.tables import ticket_clocks as k

    mine, running = k.c.ticket_id == tickets.c.id, and_(k.c.met_at.is_(None), k.c.stopped_at.is_(None))
    breached = case((_clock_overdue(), 0), else_=1)
    soonest = select(func.min(k.c.due_at)).where(mine, running, k.c.paused_at.is_(None)).scalar_subquery()
    waiting = case((exists().where(mine, running), 0), else_=1)
    return [breached, soonest.asc().nulls_last(), waiting, tickets.c.id]


def _previous_urgent(f: queries.TicketFilter, raw) -> list[str]:
    """The statements of :func:`_floor` with the order computed from the clocks and the
    ``breached`` filter as the clocks' EXISTS it was (main before the stored keys), after the
    capped count :func:`_previous_ms` reads first."""
    cond = queries._where(queries.TicketFilter(**{**f.__dict__, "breached": None}), NOW, "postgresql")
    if f.breached is not None:
        cond.append(_clock_overdue() if f.breached else ~_clock_overdue())
    capped = select(tickets.c.id).where(*cond).limit(search.COUNT_CAP + 1).subquery()
    count = _compile(select(func.count()).select_from(capped))
    return [count, *_floor(f, raw, cond=cond, order=_computed_urgent_order())[1:]]


def _previous(f: queries.TicketFilter) -> list[str]:
    """The previous shape: UNION of two expression-index scans, exact count, the page."""
    words = search.words(f.q or "")
    query = " & ".join(f"{w.text}:*" if w.prefix else w.text for w in words)
    tsq = func.to_tsquery(literal_column("'simple'::regconfig"), query)
    by_ticket = select(tickets.c.id).where(literal_column(OLD_TICKET_DOC).op("@@")(tsq)).correlate(None)
    by_event = select(ticket_events.c.ticket_id).where(literal_column(OLD_EVENT_DOC).op("@@")(tsq))
    rest = queries.TicketFilter(**{**f.__dict__, "q": None})
    cond = [tickets.c.id.in_(union(by_ticket, by_event)), *queries._where(rest, NOW, "postgresql")]
    count = select(func.count()).select_from(tickets).where(*cond)
    page = select(tickets).where(*cond).order_by(*_order()).limit(50)
    return [_compile(count), _compile(page)]


PREVIOUS_TIMEOUT_S = 20


def _previous_ms(raw, stmts: list[str], repeat: int) -> str:
    """Median ms of the previous shape and its match count, or "> 20 s" (statement timeout)."""
    import psycopg

    with raw.cursor() as cur:
        cur.execute(f"SET statement_timeout = '{PREVIOUS_TIMEOUT_S}s'")
    try:
        with raw.cursor() as cur:
            t = time.perf_counter()
            cur.execute(stmts[0])
            old_total = cur.fetchone()[0]
            first = (time.perf_counter() - t) * 1000
        if first > 5000:  # a count of seconds: once is enough (its page is timed with it)
            _run_raw(raw, stmts[1:])()
            return f"{(time.perf_counter() - t) * 1000:,.0f} ms, once ({old_total:,})"
        old, _ = _times(_run_raw(raw, stmts), repeat)
        return f"{statistics.median(old):,.0f} ms ({old_total:,})"
    except psycopg.errors.QueryCanceled:
        raw.rollback()
        return f"> {PREVIOUS_TIMEOUT_S} s (timeout)"
    finally:
        with raw.cursor() as cur:
            cur.execute("SET statement_timeout = 0")


def _run_raw(raw, stmts: list[str]):
    def run():
        with raw.cursor() as cur:
            for sql in stmts:
                cur.execute(sql)
                cur.fetchall()

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--repeat-previous", type=int, default=3)
    ap.add_argument("--no-previous", action="store_true", help="skip the previous shape (and its indexes)")
    ap.add_argument(
        "--sort",
        choices=("urgent", "next_due"),
        default="urgent",
        help="the page's order (board: urgent)",
    )
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each page and count")
    ap.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    ap.add_argument("--url", help="reuse a database kept by --keep (no load)")
    args = ap.parse_args()
    global SORT
    SORT = args.sort
    cfg = load_config(TEST_CONFIG)
    url = args.url or create_pg_database("xop_bench_search")
    engine = engine_from_url(url)
    try:
        if not args.url:
            _load(engine, args)
        load = os.getloadavg()
        print(f"order {SORT}; load average before the queries: {load[0]:.2f} {load[1]:.2f}")
        head = "| query | matches | interface p50 / p95 | CPU | floor p50 / p95 | previous p50 (matches) |"
        print(head + "\n|---|---|---|---|---|---|")
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for label, q, filters in CASES:
                f = queries.TicketFilter(q=q, **filters)
                page = queries.list_tickets(conn, cfg, f, now=NOW, sort=SORT, limit=50)
                matches = f"{page.total:,}" if page.total_exact else f"> {page.total:,}"
                wall, cpu = _times(
                    lambda f=f: queries.list_tickets(conn, cfg, f, now=NOW, sort=SORT, limit=50), args.repeat
                )
                floor, _ = _times(_run_raw(raw, _floor(f, raw)), args.repeat)
                previous = "—"
                if not args.no_previous:
                    stmts = _previous_urgent(f, raw) if SORT == queries.URGENT else _previous(f)
                    previous = _previous_ms(raw, stmts, args.repeat_previous)
                print(
                    f"| {label} (`{q}`) | {matches} | {_p(wall, 50):.1f} / {_p(wall, 95):.1f} ms"
                    f" | {cpu:.1f} ms | {_p(floor, 50):.1f} / {_p(floor, 95):.1f} ms | {previous} |",
                    flush=True,
                )
                if args.explain:
                    with raw.cursor() as cur:
                        for sql in _floor(f, raw):
                            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
                            print("    " + "\n    ".join(r[0] for r in cur.fetchall()))
        print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    finally:
        engine.dispose()
        if args.keep or args.url:
            print(url)
        else:
            drop_pg_database(url)


def _load(engine, args) -> None:
    upgrade(engine)
    t = time.perf_counter()
    with engine.begin() as c:  # triggers off and the GIN index dropped for the set-based load
        c.exec_driver_sql("ALTER TABLE tickets DISABLE TRIGGER tickets_search_doc")
        c.exec_driver_sql("ALTER TABLE ticket_events DISABLE TRIGGER ticket_events_search_doc")
        c.exec_driver_sql("ALTER TABLE ticket_events DISABLE TRIGGER ticket_events_added_search_doc")
        gin = c.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tickets_search_doc'")
        gin_def = gin.scalar_one()
        c.exec_driver_sql("DROP INDEX ix_tickets_search_doc")
        for stmt in LOAD.strip().split(";\n"):
            c.exec_driver_sql(stmt.replace(":n", str(args.tickets)).replace("%", "%%"))
        c.exec_driver_sql("ALTER TABLE tickets ENABLE TRIGGER tickets_search_doc")
        c.exec_driver_sql("ALTER TABLE ticket_events ENABLE TRIGGER ticket_events_search_doc")
        c.exec_driver_sql("ALTER TABLE ticket_events ENABLE TRIGGER ticket_events_added_search_doc")
    load_s = time.perf_counter() - t
    with engine.begin() as c:
        c.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        t = time.perf_counter()
        c.exec_driver_sql(gin_def)
        gin_s = time.perf_counter() - t
        t = time.perf_counter()
        if not args.no_previous:
            for stmt in OLD_INDEXES:
                c.exec_driver_sql(stmt.replace("%", "%%"))
        old_s = time.perf_counter() - t
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in ("tickets", "ticket_events", "ticket_clocks"):
            c.exec_driver_sql(f"VACUUM ANALYZE {table}")
        events = c.exec_driver_sql("SELECT count(*) FROM ticket_events").scalar_one()
    print(
        f"{args.tickets:,} tickets, {events:,} events: load {load_s:.1f} s (search_doc in the same pass),"
        f" GIN index on search_doc {gin_s:.1f} s, previous shape's two expression indexes {old_s:.1f} s"
    )


if __name__ == "__main__":
    main()

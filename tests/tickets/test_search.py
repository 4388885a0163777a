"""Free-text search on SQLite (FTS5) and PostgreSQL (tsvector GIN indexes): number, subject,
description, public updates and internal notes, combined with the list's other filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from xop.api import queries
from xop.core.errors import InvalidInput
from xop.tickets import TicketService, search
from xop.tickets.search import matches, tokens, words
from xop.tickets.tables import ticket_events, tickets

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def _open(svc, subject, description="", **kw):
    return svc.open(
        customer=kw.pop("customer", "acme"),
        subject=subject,
        description=description,
        reporter_name="Carl",
        reporter_email="carl@acme.example",
        now=T0,
        **kw,
    )


def _find(svc, q, **filters) -> list[str]:
    f = queries.TicketFilter(q=q, **filters)
    with svc.engine.connect() as conn:
        page = queries.list_tickets(conn, svc.cfg, f, now=T0 + timedelta(hours=1), limit=50)
    assert page.total == len(page.items) and page.total_exact
    return sorted(t["number"] for t in page.items)


def test_search_finds_every_field_and_combines_with_filters(svc):
    bridge = _open(svc, "Bridge drops callers", "Every conference drops after ten minutes").number
    prompts = _open(svc, "Wrong prompts", "Greeting in Dutch instead of English").number
    other = _open(svc, "Echo on the line", "Heavy echo", customer="globex").number
    svc.respond(prompts, actor="lena", body="Rerouting to the spare SBC in Frankfurt", now=T0)
    svc.note(other, actor="lena", body="Suspect the carrier kestrel trunk", now=T0)

    assert _find(svc, "bridge") == [bridge]  # subject
    assert _find(svc, "CONFERENCE minutes") == [bridge]  # description, every word, any case
    assert _find(svc, "frankfurt") == [prompts]  # a public update
    assert _find(svc, "kestrel") == [other]  # an internal note
    assert _find(svc, "bri*") == [bridge]  # a prefix, asked for with "*"
    assert _find(svc, bridge) == [bridge]  # the number
    assert _find(svc, "drops nonsenseword") == []
    assert _find(svc, "echo", customer="globex") == [other]
    assert _find(svc, "echo", customer="acme") == []
    assert _find(svc, "echo", states=("closed",)) == []
    # an edit of the subject is found under its new words only (SQLite: the update trigger)
    with svc.engine.begin() as conn:
        conn.execute(sa.update(tickets).where(tickets.c.number == bridge).values(subject="Conference outage"))
    assert _find(svc, "outage") == [bridge] and _find(svc, "callers") == []
    # deleting a ticket removes it from the index (SQLite: the delete triggers)
    with svc.engine.begin() as conn:
        conn.execute(sa.delete(tickets).where(tickets.c.number == other))
    assert _find(svc, "kestrel") == []


def test_query_words_are_tokens_never_syntax(svc):
    _open(svc, 'Quote "test" AND OR NOT * : & | ! (x)')
    assert tokens('"test" AND (x) *') == ["test", "and", "x"]
    assert len(_find(svc, 'test" OR "x')) == 1  # operators are plain words
    assert _find(svc, "'; DROP TABLE tickets; --") == []
    for bad in ("", "  *** ", "x" * 201):
        with pytest.raises(InvalidInput):
            matches("sqlite", bad)


def test_a_prefix_only_when_asked(svc):
    bridge = _open(svc, "Bridge drops callers").number
    bri = _open(svc, "Bri office line down").number
    assert _find(svc, "bri") == [bri]  # a whole word, never a prefix by default
    assert _find(svc, "bri*") == sorted([bridge, bri])
    assert _find(svc, "BRIDGE") == [bridge]
    assert _find(svc, "bridges") == []
    assert _find(svc, "call* bri") == [] and _find(svc, "call* bri*") == [bridge]
    # a number: exact, or its digits as a prefix
    digits = bridge.split("-")[1]
    assert _find(svc, bridge) == [bridge] and _find(svc, bridge[:-1]) == []
    assert bridge in _find(svc, f"XOP-{digits[:-1]}*")
    assert tokens("Bri* XOP-0012* *x y*z") == ["bri", "xop", "0012", "x", "y", "z"]
    assert [w.prefix for w in words("Bri* XOP-0012* *x y*z")] == [True, False, True, False, True, False]


def test_internal_notes_and_public_updates_are_searchable_by_staff_across_fields(svc):
    t = _open(svc, "Conference bridge echo", "Heard on every call").number
    svc.note(t, actor="lena", body="Carrier ticket 88123 with osprey telecom", now=T0)
    svc.respond(t, actor="lena", body="We moved you to the spare gateway", now=T0)
    assert _find(svc, "osprey") == [t]  # an internal note
    assert _find(svc, "88123") == [t]
    assert _find(svc, "gateway") == [t]  # a public update
    assert _find(svc, "echo osprey gateway") == [t]  # words from the subject, a note and an update
    assert _find(svc, "echo osprey hawk") == []
    # the document is not a column of the declared table: rows read elsewhere never carry it
    with svc.engine.connect() as conn:
        row = conn.execute(sa.select(tickets).where(tickets.c.number == t)).one()
    assert "search_doc" not in row._mapping and "osprey" not in repr(tuple(row))


def test_the_count_of_a_broad_search_is_capped(svc, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    numbers = [_open(svc, f"Bridge outage {i}").number for i in range(5)]
    f = queries.TicketFilter(q="bridge")
    now = T0 + timedelta(hours=1)
    with svc.engine.connect() as conn:
        first = queries.list_tickets(conn, svc.cfg, f, now=now, limit=2)
        rest = queries.list_tickets(conn, svc.cfg, f, now=now, limit=2, offset=2)
        last = queries.list_tickets(conn, svc.cfg, f, now=now, limit=2, offset=4)
        narrow = queries.list_tickets(conn, svc.cfg, queries.TicketFilter(q="bridge 3"), now=now)
        board = queries.list_tickets(conn, svc.cfg, queries.TicketFilter(), now=now, limit=2)
    assert (first.total, first.total_exact) == (3, False)  # "more than 3"
    # the pages still hold every match, in the board's order (next due first, then id): read in
    # that order when more than the cap match, sorted from the matches' ids otherwise
    assert [t["number"] for p in (first, rest, last) for t in p.items] == numbers
    assert (narrow.total, narrow.total_exact, [t["number"] for t in narrow.items]) == (1, True, [numbers[3]])
    assert (board.total, board.total_exact) == (5, True)  # without free text: exact


def test_long_histories_stay_searchable_and_writable(svc):
    t = _open(svc, "Routing loop").number
    for i in range(30):
        svc.note(t, actor="lena", body=f"trace step{i} " + "hop " * 50, now=T0)
    assert _find(svc, "step29") == [t] and _find(svc, "step0 step17 loop") == [t]
    # an edited or deleted event is searched as it now reads (the triggers rebuild the document)
    with svc.engine.begin() as conn:
        tid = conn.execute(sa.select(tickets.c.id).where(tickets.c.number == t)).scalar_one()
        conn.execute(
            sa.update(ticket_events)
            .where(ticket_events.c.ticket_id == tid, ticket_events.c.body.like("trace step29 %"))
            .values(body="trace kestrel")
        )
        conn.execute(
            sa.delete(ticket_events).where(
                ticket_events.c.ticket_id == tid, ticket_events.c.body.like("trace step17 %")
            )
        )
    assert _find(svc, "step29") == [] and _find(svc, "kestrel") == [t]
    assert _find(svc, "step17") == [] and _find(svc, "step16") == [t]


def test_an_event_too_large_for_the_search_document_is_still_recorded(svc):
    # PostgreSQL's tsvector holds at most 1 MB of distinct words. An event written straight into
    # the table (the service limits a body to 20,000 characters, so a long history is the usual
    # way there) with 160,000 distinct words is kept; the ticket stays findable by its subject
    # and its earlier updates. SQLite's FTS5 has no such limit and finds the new words too.
    t = _open(svc, "Packet capture attached").number
    svc.note(t, actor="lena", body="first look: jitter", now=T0)
    huge = " ".join(f"h{i:07x}" for i in range(160_000))
    with svc.engine.begin() as conn:
        tid = conn.execute(sa.select(tickets.c.id).where(tickets.c.number == t)).scalar_one()
        conn.execute(
            sa.insert(ticket_events).values(
                ticket_id=tid, at=T0, actor="lena", kind="note", public=False, body=huge, payload={}
            )
        )
    svc.respond(t, actor="lena", body="Capture reviewed", now=T0)
    with svc.engine.connect() as conn:
        assert huge in conn.execute(sa.select(ticket_events.c.body)).scalars().all()
    assert _find(svc, "packet") == [t] and _find(svc, "jitter") == [t] and _find(svc, "reviewed") == [t]
    assert _find(svc, "h0000000") == ([] if svc.engine.dialect.name == "postgresql" else [t])


def test_an_escalation_writes_its_ticket_once_with_the_reasons_words(svc):
    """PostgreSQL: the escalation's UPDATE adds the reason's words, so the new event's trigger
    leaves the ticket alone (migration i21_search_words_once). Counted by the backend's pending
    statistics (``pg_stat_xact_user_tables``), which may still hold earlier transactions' counts
    but within a transaction grow by its own writes only. An event that brings a new word still
    adds it."""
    from xop.tickets.escalation import escalate_tickets
    from xop.tickets.model import Actor
    from xop.tickets.records import add_event, load

    opened = [_open(svc, f"Trunk {i} silent").number for i in range(3)]
    pg = svc.engine.dialect.name == "postgresql"

    def updated(conn) -> int:
        q = "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'tickets'"
        return conn.exec_driver_sql(q).scalar_one()

    with svc.engine.begin() as conn:
        rows = [load(conn, n).as_dict() for n in opened]
        before = updated(conn) if pg else 0
        done = escalate_tickets(
            conn, svc.cfg, rows, [3] * 3, actor=Actor.staff("lena", 2), now=T0, reason="Kestrel outage"
        )
        assert len(done.events) == 3
        if pg:
            assert updated(conn) - before == 3  # one write per ticket (was two: the trigger's as well)
    assert _find(svc, "kestrel outage") == sorted(opened)
    with svc.engine.begin() as conn:
        tid = load(conn, opened[0]).id
        before = updated(conn) if pg else 0
        add_event(conn, tid, "note", actor=Actor.staff("lena", 3), now=T0, public=False, body="KESTREL trunk")
        if pg:
            assert updated(conn) - before == 0  # every word already there: "kestrel", "trunk"
        add_event(conn, tid, "note", actor=Actor.staff("lena", 3), now=T0, public=False, body="osprey")
        if pg:
            assert updated(conn) - before == 1
    assert _find(svc, "osprey kestrel") == [opened[0]]


def test_each_action_writes_its_ticket_once(svc):
    """PostgreSQL: respond, note, pause, resume, resolve and close write the ticket with their
    event's words in the statement that inserts the event, so the event's trigger adds nothing;
    each transaction's ticket writes are counted between its begin and its commit (the backend's
    pending statistics grow by its own writes only)."""
    t = _open(svc, "Bridge drops callers").number
    pg = svc.engine.dialect.name == "postgresql"
    writes: list[int] = []
    start: dict[int, int] = {}
    q = "SELECT coalesce(max(n_tup_upd), 0) FROM pg_stat_xact_user_tables WHERE relname = 'tickets'"

    def count(dbapi_conn) -> int:
        cur = dbapi_conn.cursor()
        cur.execute(q)
        return cur.fetchone()[0]

    def on_begin(conn):
        start[id(conn)] = count(conn.connection.dbapi_connection)

    def on_commit(conn):
        writes.append(count(conn.connection.dbapi_connection) - start.pop(id(conn)))

    if pg:
        sa.event.listen(svc.engine, "begin", on_begin)
        sa.event.listen(svc.engine, "commit", on_commit)
    try:
        svc.respond(t, actor="lena", body="Rerouting to the spare osprey gateway", now=T0)
        svc.note(t, actor="lena", body="Carrier kestrel ticket 4411", now=T0)
        svc.pause(t, actor="lena", reason="Awaiting the falcon logs", now=T0)
        svc.resume(t, actor="lena", now=T0)
        svc.resolve(t, actor="lena", body="Replaced the heron card", now=T0)
        svc.close(t, actor="lena", report="Heron card swapped, calls stay up", now=T0)
    finally:
        if pg:
            sa.event.remove(svc.engine, "begin", on_begin)
            sa.event.remove(svc.engine, "commit", on_commit)
    assert _find(svc, "osprey kestrel 4411 falcon heron swapped") == [t]
    if pg:
        assert writes == [1] * 6

"""xop.db.bulk on SQLite and PostgreSQL: many rows in one statement (or one COPY on PostgreSQL
from ``COPY_FROM_ROWS`` rows), ids returned in row order, JSON, UTC times kept,
naive times refused, statement triggers fired (the search words of new events); an update and
an insert in one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from xop.db.bulk import COPY_FROM_ROWS, insert_rows, update_rows, update_then_insert
from xop.tickets.tables import ticket_events, tickets

T0 = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # the night Chicago springs forward


def _ticket(conn) -> int:
    return conn.execute(
        sa.insert(tickets).returning(tickets.c.id),
        {
            "number": "XOP-000001",
            "customer": "acme",
            "subject": "Bulk",
            "reporter_name": "R",
            "reporter_email": "r@acme.example",
            "source": "customer",
            "level": 2,
            "state": "open",
            "opened_at": T0,
            "updated_at": T0,
        },
    ).scalar_one()


def _events(tid: int, n: int) -> list[dict]:
    return [
        {
            "ticket_id": tid,
            "at": T0 + timedelta(seconds=i),
            "actor": "bench",
            "actor_kind": "system",
            "actor_level": None,
            "kind": "note",
            "public": False,
            "body": f"word{i}" if i % 2 else "",
            "payload": {"i": i, "due_at": (T0 + timedelta(hours=i)).isoformat()},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [3, COPY_FROM_ROWS + 50])
def test_many_rows_keep_their_order_values_and_triggers(db_engine, n):
    with db_engine.begin() as c:
        tid = _ticket(c)
        ids = insert_rows(c, ticket_events, _events(tid, n), returning="id")
    assert len(ids) == n and ids == sorted(ids) and len(set(ids)) == n
    with db_engine.connect() as c:
        rows = c.execute(sa.select(ticket_events).order_by(ticket_events.c.id)).all()
        assert [r.id for r in rows] == ids
        assert [r.payload["i"] for r in rows] == list(range(n))
        assert rows[-1].at == T0 + timedelta(seconds=n - 1)
        assert rows[-1].payload["due_at"] == (T0 + timedelta(hours=n - 1)).isoformat()
        if db_engine.dialect.name == "postgresql":  # the statement trigger added the new words
            doc = c.exec_driver_sql(f"SELECT search_doc::text FROM tickets WHERE id = {tid}").scalar_one()
            last = max(i for i in range(n) if i % 2)  # the last event with a body
            assert "'word1'" in doc and f"'word{last}'" in doc
        else:
            updates = c.exec_driver_sql(f"SELECT updates FROM ticket_search WHERE rowid = {tid}").scalar_one()
            assert "word1" in updates
    with db_engine.begin() as c:
        update_rows(c, ticket_events, [{"id": i, "body": "edited"} for i in ids])
    with db_engine.connect() as c:
        assert set(c.execute(sa.select(ticket_events.c.body)).scalars()) == {"edited"}


@pytest.mark.parametrize("n", [3, COPY_FROM_ROWS + 50])
def test_a_naive_time_is_refused_and_nothing_is_written(db_engine, n):
    with db_engine.begin() as c:
        tid = _ticket(c)
    rows = _events(tid, n)
    rows[-1]["at"] = datetime(2026, 3, 8, 2, 30)  # naive (and in the gap of the DST change)
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"), db_engine.begin() as c:
        insert_rows(c, ticket_events, rows, returning="id")
    with db_engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(ticket_events)).scalar_one() == 0


def _mail(i: int, at: datetime) -> dict:
    return {
        "dedup_key": f"k{i}",
        "message_id": f"<m{i}@xop.example>",
        "kind": "ticket_updated",
        "audience": "internal",
        "recipient": f"r{i}@xop.example",
        "context": {"i": i, "at": at.isoformat()},
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "next_attempt_at": at,
    }


@pytest.mark.parametrize("n", [3, COPY_FROM_ROWS + 50])
def test_skipping_conflicts_inserts_only_the_new_rows_in_their_order(db_engine, n):
    """Twice in one transaction (the sweep queues its emails in several calls), the second
    call's first half already queued: only the second half is inserted, in row order."""
    from xop.notify.tables import notifications

    with db_engine.begin() as c:
        rows = [_mail(i, T0) for i in range(n)]
        first = insert_rows(c, notifications, rows, returning="id", skip_conflicts=True)
        again = [_mail(i, T0 + timedelta(hours=1)) for i in range(n // 2, n + n // 2)]
        second = insert_rows(c, notifications, again, returning="id", skip_conflicts=True)
    assert len(first) == n and len(second) == n // 2  # k{n} .. k{n + n//2 - 1}
    with db_engine.connect() as c:
        rows = c.execute(sa.select(notifications).order_by(notifications.c.id)).all()
    assert [r.dedup_key for r in rows] == [f"k{i}" for i in range(n + n // 2)]
    assert sorted(first + second) == [r.id for r in rows]
    assert all(r.created_at == T0 for r in rows[:n])  # the queued rows were left as they were
    assert rows[-1].created_at == T0 + timedelta(hours=1) and rows[-1].context["i"] == n + n // 2 - 1
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"), db_engine.begin() as c:
        late = [_mail(i, T0) for i in range(1000, 1000 + n)]
        late[-1]["created_at"] = datetime(2026, 3, 8, 2, 30)
        insert_rows(c, notifications, late, returning="id", skip_conflicts=True)
    with db_engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(notifications)).scalar_one() == n + n // 2


@pytest.mark.parametrize("n", [3, COPY_FROM_ROWS + 50])
def test_update_then_insert_writes_both_with_the_words_once(db_engine, n):
    """The ticket updated and its events inserted (one statement on PostgreSQL under
    ``COPY_FROM_ROWS`` new rows, else two): ids in row order, the update's values and extra SET
    item kept, and the events' trigger leaves the ticket alone when the update added every word
    already (one write of the ticket, ``pg_stat_xact_user_tables``)."""
    pg = db_engine.dialect.name == "postgresql"
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with db_engine.begin() as c:
        tid = _ticket(c)
    with db_engine.begin() as c:
        events = _events(tid, n)
        words = " ".join(e["body"] for e in events)
        also = ("search_doc = tickets.search_doc || xop_search_words(:w)", {"w": words}) if pg else None
        sa.event.listen(db_engine, "before_cursor_execute", count)
        try:
            ids = update_then_insert(
                c,
                tickets,
                [{"id": tid, "state": "recovered", "updated_at": T0 + timedelta(hours=1)}],
                ticket_events,
                events,
                pg_also=also,
                returning="id",
            )
        finally:
            sa.event.remove(db_engine, "before_cursor_execute", count)
        writes = (
            c.exec_driver_sql(
                "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'tickets'"
            ).scalar_one()
            if pg
            else None
        )
    assert len(ids) == n and ids == sorted(ids)
    with db_engine.connect() as c:
        row = c.execute(sa.select(tickets).where(tickets.c.id == tid)).one()
        assert (row.state, row.updated_at) == ("recovered", T0 + timedelta(hours=1))
        assert [r.id for r in c.execute(sa.select(ticket_events.c.id).order_by(ticket_events.c.id))] == ids
        if pg:
            doc = c.exec_driver_sql(f"SELECT search_doc::text FROM tickets WHERE id = {tid}").scalar_one()
            assert "'word1'" in doc
    if pg:
        assert writes == 1  # the update's; the trigger found every word there
        # else the UPDATE and the ids drawn (the COPY goes through the driver's own cursor)
        assert len(statements) == (1 if n < COPY_FROM_ROWS else 2)

"""``load_for_action`` (one statement on PostgreSQL) reads what the separate reads read: the
ticket, every clock of it in id order (met and running, each with the customer), its
watchers the earliest first with the ticket's owner; a ticket with no clocks and no watchers; a
bad or unknown number refused, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.tickets.test_ownership import T0, _open
from xop.core.errors import InvalidInput, TicketNotFound
from xop.tickets import TicketService, records
from xop.tickets.clocks import ClockBook
from xop.tickets.loading import load_for_action
from xop.tickets.tables import ticket_clocks
from xop.tickets.watching import Watchers


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def _separately(conn, number: str):
    t = records.load(conn, number)
    return t, ClockBook.load(conn, {t.id: t.customer}).by_ticket[t.id], Watchers.load(conn, [t.id]).of(t.id)


def test_one_read_equals_the_three(svc):
    t = _open(svc)
    svc.watch(t.number, actor="omar", now=T0)
    svc.watch(t.number, actor="lena", now=T0 + timedelta(minutes=1))  # later: listed second
    svc.take(t.number, actor="lena", now=T0 + timedelta(minutes=2))
    svc.respond(t.number, actor="lena", body="On it", now=T0 + timedelta(minutes=3))  # meets a clock
    svc.escalate(t.number, actor="lena", now=T0 + timedelta(minutes=4))  # stops, starts others
    bare = _open(svc)
    with svc.engine.begin() as conn:  # no clock at all (the outer join's empty side)
        conn.execute(sa.delete(ticket_clocks).where(ticket_clocks.c.ticket_id == bare.id))
    with svc.engine.begin() as conn:
        for number in (t.number, bare.number.lower() + " "):
            loaded = load_for_action(conn, number)
            ticket, clocks, watchers = _separately(conn, number)
            assert loaded.ticket == ticket
            assert loaded.book.by_ticket.get(ticket.id, []) == clocks
            assert loaded.watchers.of(ticket.id) == watchers
    assert len(clocks) == 0 and watchers == []  # the bare ticket
    with svc.engine.connect() as conn:
        first = load_for_action(conn, t.number)
    rows = first.book.by_ticket[t.id]
    assert len(rows) >= 3 and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert {r["customer"] for r in rows} == {"acme"}
    assert any(r["met_at"] for r in rows) and any(not (r["met_at"] or r["stopped_at"]) for r in rows)
    assert [(w.watcher, w.owner) for w in first.watchers.of(t.id)] == [("omar", "lena"), ("lena", "lena")]


def test_bad_and_unknown_numbers(svc):
    with svc.engine.begin() as conn:
        with pytest.raises(InvalidInput, match="number"):
            load_for_action(conn, "  ")
        with pytest.raises(TicketNotFound, match="XOP-999999"):
            load_for_action(conn, "XOP-999999")

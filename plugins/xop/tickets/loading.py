"""A ticket loaded for an action, with what every action reads next: its clocks and its watchers.

On PostgreSQL one statement (the ticket row-locked, its clocks joined, its watchers' names as an
array) instead of three: a service action is a handful of statements, each a round trip and
SQLAlchemy's work on it, and issue 21 wants one action under 5 ms. SQLite, in-process, reads
the three as :func:`xop.tickets.records.load`, :meth:`ClockBook.load` and :meth:`Watchers.load`
do.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from xop.core.errors import TicketNotFound
from xop.tickets import records
from xop.tickets.clocks import ClockBook
from xop.tickets.records import Ticket
from xop.tickets.tables import ticket_clocks, ticket_watchers, tickets
from xop.tickets.watching import Watcher, Watchers

_CLOCK = "xop_clock_"  # the joined clock columns' label prefix (the ticket's own names are taken)


def _pg_query() -> Select:
    w = ticket_watchers
    names = (
        select(func.array_agg(aggregate_order_by(w.c.watcher, w.c.since, w.c.watcher)))
        .where(w.c.ticket_id == tickets.c.id)
        .scalar_subquery()
        .label("xop_watchers")
    )
    return (
        select(tickets, names, *(c.label(_CLOCK + c.name) for c in ticket_clocks.c))
        .outerjoin(ticket_clocks, ticket_clocks.c.ticket_id == tickets.c.id)
        .where(tickets.c.number == bindparam("number"))
        .order_by(ticket_clocks.c.id)
        .with_for_update(of=tickets)
    )


# Built once: building the statement and its cache key per action cost more than running it.
_PG_QUERY = _pg_query()


class Loaded(NamedTuple):
    ticket: Ticket
    book: ClockBook  # every clock of the ticket, each row with the ticket's ``customer``
    watchers: Watchers  # its watchers, with the ticket's owner as loaded


def load_for_action(conn: Connection, number: str) -> Loaded:
    """The ticket ``number`` locked for an action (``FOR UPDATE`` on PostgreSQL), its clocks and
    watchers. The watchers name the owner the ticket has now: an action that changes the owner
    reads them again after it (:meth:`Watchers.load`)."""
    if conn.dialect.name != "postgresql":
        t = records.load(conn, number)
        return Loaded(t, ClockBook.load(conn, {t.id: t.customer}), Watchers.load(conn, [t.id]))
    rows = conn.execute(_PG_QUERY, {"number": records.checked_number(number)}).all()
    if not rows:
        raise TicketNotFound(f"no ticket {number!r}")
    t = Ticket.from_row(rows[0])
    clocks = [
        {c.name: r._mapping[_CLOCK + c.name] for c in ticket_clocks.c} | {"customer": t.customer}
        for r in rows
        if r._mapping[_CLOCK + "id"] is not None
    ]
    watching = [Watcher(name, t.owner) for name in rows[0].xop_watchers or ()]
    return Loaded(t, ClockBook(clocks), Watchers.known(conn, {t.id: watching}))

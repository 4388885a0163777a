"""How the ticket writes keep the search document (PostgreSQL ``tickets.search_doc``) without
writing a ticket twice.

A new event's words reach its ticket's document by the events' statement trigger; since
migration ``i21_search_words_once`` it leaves alone a ticket that already holds every word. A
write that updates the ticket anyway, just before inserting the event, adds the words itself
with these helpers: one row version instead of two. Write side only, apart from the search
(:mod:`xop.tickets.search`), which the customer portal must never reach (import contract).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Update, bindparam, column, func, table, update

from xop.tickets.tables import tickets

#: ``tickets`` with its search document, for an UPDATE that adds words (PostgreSQL): a lightweight
#: table of the same name, not the declared one, which leaves the document out on purpose (see
#: :mod:`xop.tickets.search`).
_PG_TICKETS = table("tickets", *(column(c.name, c.type) for c in tickets.c), column("search_doc"))


def pg_update_adding_words(ticket_id: int, values: dict[str, Any], body: str) -> Update:
    """``UPDATE tickets SET <values>`` of one ticket that also adds the words of ``body``: see
    :func:`pg_add_words`, of which this is the single-ticket form. PostgreSQL only."""
    t = _PG_TICKETS
    doc = t.c.search_doc.op("||")(func.xop_search_words(bindparam("search_words", body, type_=String())))
    return update(t).where(t.c.id == ticket_id).values(**values, search_doc=doc)


def pg_add_words(body: str) -> tuple[str, dict[str, Any]]:
    """The ``SET`` item (SQL, parameters) that adds the words of ``body`` to a ticket's document,
    for an UPDATE that writes the ticket anyway before the event of that body is inserted: the
    events' trigger then finds the words there and leaves the row alone (migration
    ``i21_search_words_once``), one write of the ticket instead of two. PostgreSQL only."""
    return "search_doc = tickets.search_doc || xop_search_words(:search_words)", {"search_words": body}

"""How the ticket writes keep the search document (PostgreSQL ``tickets.search_doc``) without
writing a ticket twice.

A new event's words reach its ticket's document by the events' statement trigger; since
migration ``i21_search_words_once`` it leaves alone a ticket that already holds every word. A
write that updates the ticket anyway, just before inserting the event, adds the words itself
with :func:`pg_add_words`: one row version instead of two. Write side only, apart from the search
(:mod:`xop.tickets.search`), which the customer portal must never reach (import contract).
"""

from __future__ import annotations

from typing import Any


def pg_add_words(body: str) -> tuple[str, dict[str, Any]]:
    """The ``SET`` item (SQL, parameters) that adds the words of ``body`` to a ticket's document,
    for an UPDATE that writes the ticket anyway before the event of that body is inserted: the
    events' trigger then finds the words there and leaves the row alone (migration
    ``i21_search_words_once``), one write of the ticket instead of two. PostgreSQL only."""
    return "search_doc = tickets.search_doc || xop_search_words(:search_words)", {"search_words": body}

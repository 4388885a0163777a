"""Free-text search over tickets: number, subject, description and every event body (public
updates and internal notes), behind one condition that the list query combines with its filters.

Both backends see the same words: the text is split into runs of letters and digits, lower-cased,
and every word of the query must occur somewhere in the ticket (its number, subject, description
or any update). A word is matched exactly; a word written with a trailing ``*`` is a prefix
(``bri*`` finds "bridge", ``XOP-00012*`` finds XOP-000120 to XOP-000129), so a broad prefix is
asked for, never implied.

One document per ticket, kept by database triggers (migration ``i16_ticket_search_doc``):

- PostgreSQL: the column ``tickets.search_doc``, a stripped ``tsvector`` (words, no positions)
  with a GIN index. The column is not declared in ``tables.py`` on purpose: ``select(tickets)``
  never reads it, so the words of internal notes reach only this staff search, never the portal
  or an API row. Filters and the board's order are on the same row, so the planner may read a
  broad match in the order of ``(next_due_at, id)`` and stop after a page.
- SQLite: the FTS5 table ``ticket_search`` (rowid = ticket id).

The board counts the matches of a search only up to :data:`COUNT_CAP` ("more than 1,000"):
counting a broad match exactly costs a pass over all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, func, literal_column, text

from xop.core.errors import InvalidInput
from xop.tickets.tables import tickets

MAX_QUERY = 200
MAX_TOKENS = 12
#: A search's matches are counted up to this many (the board then says "more than 1,000"); up to
#: this many, the page is sorted from their ids (xop.api.queries.list_tickets).
COUNT_CAP = 1000
# Letters and digits (no underscore: PostgreSQL's parser and FTS5's unicode61 split there),
# then an optional "*" asking for a prefix.
_TOKEN = re.compile(r"([^\W_]+)(\*?)", re.UNICODE)

#: The stored document (PostgreSQL). Not a declared column: see the module's docstring.
PG_DOC = literal_column("tickets.search_doc")


@dataclass(frozen=True)
class Word:
    text: str
    prefix: bool = False


def words(q: str) -> list[Word]:
    """The words of a query (lower case; ``prefix`` when written with a trailing ``*``), or
    :class:`InvalidInput` when it has none."""
    if not isinstance(q, str) or len(q) > MAX_QUERY:
        raise InvalidInput("q", f"is a search text of at most {MAX_QUERY} characters")
    found = [Word(m.group(1).lower(), bool(m.group(2))) for m in _TOKEN.finditer(q)]
    if not found:
        raise InvalidInput("q", f"has no word to search for: {q!r}")
    return found[:MAX_TOKENS]


def tokens(q: str) -> list[str]:
    """The words of a query as plain strings (see :func:`words`)."""
    return [w.text for w in words(q)]


def matches(dialect: str, q: str) -> Any:
    """A WHERE condition on ``tickets``: every word of ``q`` occurs in the ticket's number,
    subject, description or the body of one of its events (words may come from different ones)."""
    found = words(q)
    if dialect == "postgresql":
        # Words are letters and digits only, so they cannot be tsquery syntax. The query is
        # rendered into the statement (quoted by the dialect) rather than sent as a parameter:
        # psycopg prepares a statement run five times, and PostgreSQL's generic plan for an
        # unknown tsquery assumes a fixed selectivity, so a broad word would then be planned
        # like a rare one (measured: 400 ms instead of 20 ms at 1,000,000 tickets).
        words_sql = " & ".join(f"{w.text}:*" if w.prefix else w.text for w in found)
        query = bindparam("search_tsquery", words_sql, type_=String(), literal_execute=True)
        return PG_DOC.op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"), query))
    if dialect == "sqlite":
        fts = " ".join(f'"{w.text}"*' if w.prefix else f'"{w.text}"' for w in found)
        in_ticket = text("SELECT rowid FROM ticket_search WHERE ticket_search MATCH :search_fts").bindparams(
            search_fts=fts
        )
        return tickets.c.id.in_(in_ticket)
    raise InvalidInput("q", f"free-text search is not available on {dialect}")

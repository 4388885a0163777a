"""Free-text search over tickets: number, subject, description and every event body (public
updates and internal notes), behind one condition that the list query combines with its filters.

Both backends see the same words: the text is split into letter-and-digit tokens, lower-cased,
and every token of the query must occur (the last one as a prefix, so "bri" finds "bridge" and
"XOP-0001" finds XOP-000123). PostgreSQL matches with ``to_tsvector('simple', …)`` (of the text
with every run of non-word characters made a space, so that its parser splits like FTS5's
unicode61 and reads no "-000123" as a signed number) against GIN
expression indexes; SQLite with FTS5 external-content tables kept in step by triggers. Both are
created by the migration ``i16_ticket_search`` (not declared in ``tables.py``: a functional
index and a virtual table are not something the declared schema can say on both dialects).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, literal_column, or_, select, text, union

from xop.core.errors import InvalidInput
from xop.tickets.tables import ticket_events, tickets

MAX_QUERY = 200
MAX_TOKENS = 12
_TOKEN = re.compile(r"\w+", re.UNICODE)

#: The indexed documents. The migration creates the GIN indexes on exactly these expressions;
#: PostgreSQL uses an expression index only for a query written with the same expression.
PG_TICKET_DOC = (
    "to_tsvector('simple', regexp_replace(number || ' ' || subject || ' ' || description, '\\W+', ' ', 'g'))"
)
PG_EVENT_DOC = "to_tsvector('simple', regexp_replace(body, '\\W+', ' ', 'g'))"
# The same expressions, qualified for queries that join or nest.
PG_TICKET_DOC_Q = (
    PG_TICKET_DOC.replace("number", "tickets.number")
    .replace("subject", "tickets.subject")
    .replace("description", "tickets.description")
)
PG_EVENT_DOC_Q = PG_EVENT_DOC.replace("body", "ticket_events.body")


def tokens(q: str) -> list[str]:
    """The words of a query (lower case), or :class:`InvalidInput` when it has none."""
    if not isinstance(q, str) or len(q) > MAX_QUERY:
        raise InvalidInput("q", f"is a search text of at most {MAX_QUERY} characters")
    words = [w.lower() for w in _TOKEN.findall(q)]
    if not words:
        raise InvalidInput("q", f"has no word to search for: {q!r}")
    return words[:MAX_TOKENS]


def matches(dialect: str, q: str) -> Any:
    """A WHERE condition on ``tickets``: every word of ``q`` occurs in the ticket's number, subject
    or description, or in the body of one of its events (a ticket matches through either)."""
    words = tokens(q)
    if dialect == "postgresql":
        # One IN over a UNION of two index scans: the planner turns it into a semi-join on the
        # matching ids (an OR with EXISTS would filter every ticket row instead).
        tsq = func.to_tsquery(
            literal_column("'simple'::regconfig"), " & ".join([*words[:-1], f"{words[-1]}:*"])
        )
        by_ticket = select(tickets.c.id).where(literal_column(PG_TICKET_DOC_Q).op("@@")(tsq)).correlate(None)
        by_event = select(ticket_events.c.ticket_id).where(literal_column(PG_EVENT_DOC_Q).op("@@")(tsq))
        return tickets.c.id.in_(union(by_ticket, by_event))
    if dialect == "sqlite":
        fts = " ".join([*(f'"{w}"' for w in words[:-1]), f'"{words[-1]}"*'])
        in_ticket = text("SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :search_fts").bindparams(
            search_fts=fts
        )
        in_event = text(
            "SELECT e.ticket_id FROM ticket_events AS e JOIN ticket_events_fts AS f ON f.rowid = e.id"
            " WHERE ticket_events_fts MATCH :search_fts_e"
        ).bindparams(search_fts_e=fts)
        return or_(tickets.c.id.in_(in_ticket), tickets.c.id.in_(in_event))
    raise InvalidInput("q", f"free-text search is not available on {dialect}")

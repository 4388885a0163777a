"""ticket order keys for the board, and the search words of a batch of events in one statement
(issues 16 and 21)

``tickets.urgent_rank`` / ``tickets.urgent_at`` hold the board's "most urgent first" as the
clocks imply it (``xop.tickets.clocks.ticket_keys``: 0 and the due time of the most urgent
counting or breached clock, 1 every running clock waits on the customer, 2 no running clock),
written by the service and the sweep with the clocks, with the index ``(urgent_rank, urgent_at,
id)``: a page of a broad search in that order is read in index order instead of computing the
key from the clocks for every match. Filled here from the clocks as stored.

PostgreSQL: a new event's words were added to its ticket's ``search_doc`` by a row trigger, one
``UPDATE tickets`` per event (20,000 for a sweep that escalates 10,000 tickets). A statement
trigger with the inserted rows as a transition table now adds the words of all of them in one
``UPDATE``, and events without a body (SLA warnings, breaches) update nothing. A ticket whose
words would pass the 1 MB a ``tsvector`` holds falls back to one event at a time, as before.
SQLite: the event trigger skips events without a body.

Revision ID: i2x_ticket_urgent_order
Revises: i16_ticket_search_doc
Create Date: 2026-12-02 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xop.db.types import UTCDateTime

revision = "i2x_ticket_urgent_order"
down_revision = "i16_ticket_search_doc"
branch_labels = None
depends_on = None


def _backfill(least: str) -> str:
    """The order keys of every ticket with a running clock (the rule of ``_urgent_at``)."""
    key = (
        f"CASE WHEN c.due_at IS NULL THEN NULL WHEN c.breached_at IS NOT NULL THEN {least}(c.due_at, c.breached_at)"
        " WHEN c.paused_at IS NULL OR c.due_at <= c.paused_at THEN c.due_at END"
    )
    return (
        "UPDATE tickets SET urgent_at = k.urgent_at,"
        " urgent_rank = CASE WHEN k.urgent_at IS NOT NULL THEN 0 ELSE 1 END"
        f" FROM (SELECT c.ticket_id, min({key}) AS urgent_at FROM ticket_clocks c"
        " WHERE c.met_at IS NULL AND c.stopped_at IS NULL GROUP BY c.ticket_id) k"
        " WHERE tickets.id = k.ticket_id"
    )


_PG_ADDED = r"""
CREATE FUNCTION xop_ticket_events_added_search_doc() RETURNS trigger LANGUAGE plpgsql
AS $$
DECLARE
  e record;
BEGIN
  UPDATE tickets t SET search_doc = t.search_doc || a.words
  FROM (SELECT ticket_id, xop_search_words(string_agg(body, ' ' ORDER BY id)) AS words
        FROM added WHERE body <> '' GROUP BY ticket_id) a
  WHERE t.id = a.ticket_id;
  RETURN NULL;
EXCEPTION WHEN program_limit_exceeded THEN
  -- some ticket's words would pass 1 MB: add them one event at a time, skipping what cannot fit
  FOR e IN SELECT id, ticket_id, body FROM added WHERE body <> '' ORDER BY id LOOP
    BEGIN
      UPDATE tickets SET search_doc = search_doc || xop_search_words(e.body) WHERE id = e.ticket_id;
    EXCEPTION WHEN program_limit_exceeded THEN
      RAISE WARNING 'ticket id %: too many distinct words to search them all; event % is not searchable', e.ticket_id, e.id;
    END;
  END LOOP;
  RETURN NULL;
END $$
"""

_PG = (
    "CREATE INDEX ix_tickets_urgent ON tickets (urgent_rank, urgent_at, id)",
    _PG_ADDED,
    "DROP TRIGGER ticket_events_search_doc ON ticket_events",
    "CREATE TRIGGER ticket_events_search_doc AFTER DELETE OR UPDATE OF body, ticket_id"
    " ON ticket_events FOR EACH ROW EXECUTE FUNCTION xop_ticket_events_search_doc()",
    "CREATE TRIGGER ticket_events_added_search_doc AFTER INSERT ON ticket_events"
    " REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION xop_ticket_events_added_search_doc()",
)

_PG_DOWN = (
    "DROP TRIGGER ticket_events_added_search_doc ON ticket_events",
    "DROP TRIGGER ticket_events_search_doc ON ticket_events",
    "CREATE TRIGGER ticket_events_search_doc AFTER INSERT OR DELETE OR UPDATE OF body, ticket_id"
    " ON ticket_events FOR EACH ROW EXECUTE FUNCTION xop_ticket_events_search_doc()",
    "DROP FUNCTION xop_ticket_events_added_search_doc()",
    "DROP INDEX ix_tickets_urgent",
)

_SQLITE_EVENT_AI = (
    "CREATE TRIGGER ticket_search_event_ai AFTER INSERT ON ticket_events{when} BEGIN"
    " UPDATE ticket_search SET updates = updates || ' ' || new.body WHERE rowid = new.ticket_id; END"
)

_SQLITE = (
    "CREATE INDEX ix_tickets_urgent ON tickets (urgent_rank, urgent_at, id)",
    "DROP TRIGGER ticket_search_event_ai",
    _SQLITE_EVENT_AI.format(when=" WHEN new.body <> ''"),
)

_SQLITE_DOWN = (
    "DROP TRIGGER ticket_search_event_ai",
    _SQLITE_EVENT_AI.format(when=""),
    "DROP INDEX ix_tickets_urgent",
)


def upgrade() -> None:
    name = op.get_bind().dialect.name
    op.add_column("tickets", sa.Column("urgent_rank", sa.SmallInteger(), nullable=False, server_default="2"))
    op.add_column("tickets", sa.Column("urgent_at", UTCDateTime(timezone=True), nullable=True))
    op.execute(_backfill("least" if name == "postgresql" else "min"))
    for statement in _PG if name == "postgresql" else _SQLITE if name == "sqlite" else ():
        op.execute(statement)


def downgrade() -> None:
    name = op.get_bind().dialect.name
    for statement in _PG_DOWN if name == "postgresql" else _SQLITE_DOWN if name == "sqlite" else ():
        op.execute(statement)
    # Not batch mode: on SQLite it rebuilds the table and would lose its search triggers.
    op.execute("ALTER TABLE tickets DROP COLUMN urgent_at")
    op.execute("ALTER TABLE tickets DROP COLUMN urgent_rank")

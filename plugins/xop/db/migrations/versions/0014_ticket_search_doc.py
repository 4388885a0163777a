"""ticket search document: one stored word list per ticket over number, subject, description and
every update (public and internal), in place of the per-table expression indexes (issue 16)

PostgreSQL: ``tickets.search_doc`` (a stripped ``tsvector``: words only, no positions) with a GIN
index, kept by triggers (a generated column cannot read ``ticket_events``): set on insert and on
an edit of number/subject/description, extended on each new event, rebuilt when an event is
edited or deleted. The column is deliberately not declared in ``tables.py``: ``select(tickets)``
(the portal, the service, the API's rows) never reads it, so the words of internal notes reach
only the staff search. The query matches the stored column; a GIN recheck reads it instead of
recomputing ``to_tsvector(regexp_replace(...))``. ``ix_tickets_next_due_at`` becomes
``(next_due_at, id)``, the board's order, so a page of a broad match is read in index order.

SQLite: one FTS5 table ``ticket_search`` (rowid = ticket id; columns number, subject,
description, updates) kept by triggers, in place of the two external-content tables; the same
``(next_due_at, id)`` index.

Revision ID: i16_ticket_search_doc
Revises: i2x_ticket_watchers
Create Date: 2026-12-02 04:15:00
"""

from __future__ import annotations

from alembic import op

revision = "i16_ticket_search_doc"
down_revision = "i2x_ticket_watchers"
branch_labels = None
depends_on = None

# The words of a text as the search sees them: every run of characters other than letters and
# digits is a space (so the parser splits like FTS5's unicode61 and reads no "-000123" as a
# signed number), 'simple' configuration (lower case, no stemming, no stop words), no positions.
_PG_FUNCTIONS = (
    r"""
CREATE FUNCTION xop_search_words(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT strip(to_tsvector('simple'::regconfig, regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) $$
""",
    # A tsvector holds at most 1 MB: a ticket whose words would not fit keeps its number,
    # subject and description searchable instead of refusing the write that added the text.
    r"""
CREATE FUNCTION xop_ticket_search_doc(ticket bigint, number text, subject text, description text)
RETURNS tsvector LANGUAGE plpgsql STABLE
AS $$
BEGIN
  RETURN xop_search_words(number || ' ' || subject || ' ' || description)
    || coalesce((SELECT xop_search_words(string_agg(body, ' ' ORDER BY id))
                 FROM ticket_events WHERE ticket_id = ticket), ''::tsvector);
EXCEPTION WHEN program_limit_exceeded THEN
  RAISE WARNING 'ticket %: too many distinct words to search them all; number, subject and description stay searchable', number;
  RETURN xop_search_words(number || ' ' || subject || ' ' || left(description, 100000));
END $$
""",
    r"""
CREATE FUNCTION xop_tickets_search_doc() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
  NEW.search_doc := xop_ticket_search_doc(NEW.id, NEW.number, NEW.subject, NEW.description);
  RETURN NEW;
END $$
""",
    r"""
CREATE FUNCTION xop_ticket_events_search_doc() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    BEGIN
      UPDATE tickets SET search_doc = search_doc || xop_search_words(NEW.body) WHERE id = NEW.ticket_id;
    EXCEPTION WHEN program_limit_exceeded THEN
      RAISE WARNING 'ticket id %: too many distinct words to search them all; event % is not searchable', NEW.ticket_id, NEW.id;
    END;
    RETURN NULL;
  END IF;
  -- an edited or deleted event (the history is append-only; this keeps a manual fix honest)
  UPDATE tickets SET search_doc = xop_ticket_search_doc(id, number, subject, description)
  WHERE id = OLD.ticket_id OR (TG_OP = 'UPDATE' AND id = NEW.ticket_id);
  RETURN NULL;
END $$
""",
)

_PG = (
    "DROP INDEX ix_tickets_search",
    "DROP INDEX ix_ticket_events_search",
    *_PG_FUNCTIONS,
    "ALTER TABLE tickets ADD COLUMN search_doc tsvector NOT NULL DEFAULT ''",
    "UPDATE tickets SET search_doc = xop_ticket_search_doc(id, number, subject, description)",
    "CREATE TRIGGER tickets_search_doc BEFORE INSERT OR UPDATE OF number, subject, description"
    " ON tickets FOR EACH ROW EXECUTE FUNCTION xop_tickets_search_doc()",
    "CREATE TRIGGER ticket_events_search_doc AFTER INSERT OR DELETE OR UPDATE OF body, ticket_id"
    " ON ticket_events FOR EACH ROW EXECUTE FUNCTION xop_ticket_events_search_doc()",
    "CREATE INDEX ix_tickets_search_doc ON tickets USING gin (search_doc)",
    "DROP INDEX ix_tickets_next_due_at",
    "CREATE INDEX ix_tickets_next_due_at ON tickets (next_due_at, id)",
)

_PG_DOWN = (
    "DROP INDEX ix_tickets_next_due_at",
    "CREATE INDEX ix_tickets_next_due_at ON tickets (next_due_at)",
    "DROP TRIGGER ticket_events_search_doc ON ticket_events",
    "DROP TRIGGER tickets_search_doc ON tickets",
    "ALTER TABLE tickets DROP COLUMN search_doc",
    "DROP FUNCTION xop_ticket_events_search_doc()",
    "DROP FUNCTION xop_tickets_search_doc()",
    "DROP FUNCTION xop_ticket_search_doc(bigint, text, text, text)",
    "DROP FUNCTION xop_search_words(text)",
    "CREATE INDEX ix_tickets_search ON tickets USING gin "
    "(to_tsvector('simple', regexp_replace(number || ' ' || subject || ' ' || description, '\\W+', ' ', 'g')))",
    "CREATE INDEX ix_ticket_events_search ON ticket_events USING gin "
    "(to_tsvector('simple', regexp_replace(body, '\\W+', ' ', 'g')))",
)

_OLD_SQLITE_TRIGGERS = (
    "tickets_fts_ai",
    "tickets_fts_ad",
    "tickets_fts_au",
    "ticket_events_fts_ai",
    "ticket_events_fts_ad",
    "ticket_events_fts_au",
)

_SQLITE_ALL_UPDATES = (
    "coalesce((SELECT group_concat(body, ' ') FROM ticket_events WHERE ticket_id = ticket_search.rowid), '')"
)

_SQLITE = (
    *(f"DROP TRIGGER {name}" for name in _OLD_SQLITE_TRIGGERS),
    "DROP TABLE tickets_fts",
    "DROP TABLE ticket_events_fts",
    # A regular FTS5 table (it keeps its own copy of the text): an update appends to its
    # ``updates`` column, which an external-content table cannot do without the old text.
    # remove_diacritics 0: "cafe" does not find "café", as on PostgreSQL's 'simple'.
    "CREATE VIRTUAL TABLE ticket_search USING fts5("
    "number, subject, description, updates, tokenize = 'unicode61 remove_diacritics 0')",
    "INSERT INTO ticket_search(rowid, number, subject, description, updates)"
    " SELECT id, number, subject, description, '' FROM tickets",
    f"UPDATE ticket_search SET updates = {_SQLITE_ALL_UPDATES}",
    "CREATE TRIGGER ticket_search_ai AFTER INSERT ON tickets BEGIN"
    " INSERT INTO ticket_search(rowid, number, subject, description, updates)"
    " VALUES (new.id, new.number, new.subject, new.description, ''); END",
    "CREATE TRIGGER ticket_search_au AFTER UPDATE OF number, subject, description ON tickets BEGIN"
    " UPDATE ticket_search SET number = new.number, subject = new.subject, description = new.description"
    " WHERE rowid = new.id; END",
    "CREATE TRIGGER ticket_search_ad AFTER DELETE ON tickets BEGIN"
    " DELETE FROM ticket_search WHERE rowid = old.id; END",
    "CREATE TRIGGER ticket_search_event_ai AFTER INSERT ON ticket_events BEGIN"
    " UPDATE ticket_search SET updates = updates || ' ' || new.body WHERE rowid = new.ticket_id; END",
    "CREATE TRIGGER ticket_search_event_au AFTER UPDATE OF body, ticket_id ON ticket_events BEGIN"
    f" UPDATE ticket_search SET updates = {_SQLITE_ALL_UPDATES}"
    " WHERE rowid IN (old.ticket_id, new.ticket_id); END",
    "CREATE TRIGGER ticket_search_event_ad AFTER DELETE ON ticket_events BEGIN"
    f" UPDATE ticket_search SET updates = {_SQLITE_ALL_UPDATES} WHERE rowid = old.ticket_id; END",
    "DROP INDEX ix_tickets_next_due_at",
    "CREATE INDEX ix_tickets_next_due_at ON tickets (next_due_at, id)",
)

_SQLITE_DOWN = (
    "DROP INDEX ix_tickets_next_due_at",
    "CREATE INDEX ix_tickets_next_due_at ON tickets (next_due_at)",
    *(
        f"DROP TRIGGER {name}"
        for name in (
            "ticket_search_ai",
            "ticket_search_au",
            "ticket_search_ad",
            "ticket_search_event_ai",
            "ticket_search_event_au",
            "ticket_search_event_ad",
        )
    ),
    "DROP TABLE ticket_search",
    "CREATE VIRTUAL TABLE tickets_fts USING fts5("
    "number, subject, description, content='tickets', content_rowid='id')",
    "CREATE TRIGGER tickets_fts_ai AFTER INSERT ON tickets BEGIN"
    " INSERT INTO tickets_fts(rowid, number, subject, description)"
    " VALUES (new.id, new.number, new.subject, new.description); END",
    "CREATE TRIGGER tickets_fts_ad AFTER DELETE ON tickets BEGIN"
    " INSERT INTO tickets_fts(tickets_fts, rowid, number, subject, description)"
    " VALUES ('delete', old.id, old.number, old.subject, old.description); END",
    "CREATE TRIGGER tickets_fts_au AFTER UPDATE OF number, subject, description ON tickets BEGIN"
    " INSERT INTO tickets_fts(tickets_fts, rowid, number, subject, description)"
    " VALUES ('delete', old.id, old.number, old.subject, old.description);"
    " INSERT INTO tickets_fts(rowid, number, subject, description)"
    " VALUES (new.id, new.number, new.subject, new.description); END",
    "CREATE VIRTUAL TABLE ticket_events_fts USING fts5(body, content='ticket_events', content_rowid='id')",
    "CREATE TRIGGER ticket_events_fts_ai AFTER INSERT ON ticket_events BEGIN"
    " INSERT INTO ticket_events_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER ticket_events_fts_ad AFTER DELETE ON ticket_events BEGIN"
    " INSERT INTO ticket_events_fts(ticket_events_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER ticket_events_fts_au AFTER UPDATE OF body ON ticket_events BEGIN"
    " INSERT INTO ticket_events_fts(ticket_events_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    " INSERT INTO ticket_events_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO tickets_fts(tickets_fts) VALUES ('rebuild')",
    "INSERT INTO ticket_events_fts(ticket_events_fts) VALUES ('rebuild')",
)


def upgrade() -> None:
    name = op.get_bind().dialect.name
    for statement in _PG if name == "postgresql" else _SQLITE if name == "sqlite" else ():
        op.execute(statement)


def downgrade() -> None:
    name = op.get_bind().dialect.name
    for statement in _PG_DOWN if name == "postgresql" else _SQLITE_DOWN if name == "sqlite" else ():
        op.execute(statement)

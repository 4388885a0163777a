"""ticket search: PostgreSQL GIN expression indexes, SQLite FTS5 tables and triggers (issue 16)

The indexed expressions are those of ``xop.tickets.search`` (keep them identical: PostgreSQL
uses an expression index only for the same expression). On SQLite the FTS5 tables use external
content (the text stays in ``tickets`` / ``ticket_events``); triggers keep them in step.

Revision ID: i16_ticket_search
Revises: i16_ticket_owner
Create Date: 2026-12-02 02:10:00
"""

from __future__ import annotations

from alembic import op

revision = "i16_ticket_search"
down_revision = "i16_ticket_owner"
branch_labels = None
depends_on = None

_PG = (
    "CREATE INDEX ix_tickets_search ON tickets USING gin "
    "(to_tsvector('simple', regexp_replace(number || ' ' || subject || ' ' || description, '\\W+', ' ', 'g')))",
    "CREATE INDEX ix_ticket_events_search ON ticket_events USING gin "
    "(to_tsvector('simple', regexp_replace(body, '\\W+', ' ', 'g')))",
)

_SQLITE = (
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_ticket_events_search")
        op.execute("DROP INDEX ix_tickets_search")
    else:
        for trigger in ("tickets_fts_ai", "tickets_fts_ad", "tickets_fts_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        for trigger in ("ticket_events_fts_ai", "ticket_events_fts_ad", "ticket_events_fts_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE ticket_events_fts")
        op.execute("DROP TABLE tickets_fts")

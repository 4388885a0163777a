"""the search words of new events leave a ticket alone that already has them (issue 21)

PostgreSQL: the statement trigger of new events (``i2x_ticket_urgent_order``) updated every
ticket of an event with a body, whether or not the ticket's ``search_doc`` already held all its
words. An escalation writes its ticket and then its event (whose body is the reason): the
ticket's row was written twice in one transaction, a second version with every index entry (the
GIN index included) for each of a sweep's 10,000 escalations. The trigger now skips a ticket
whose words are all present (``doc || words = doc``); the escalation's own UPDATE adds the
reason's words (:func:`xop.tickets.search_doc.pg_add_words`), so each escalated ticket is written
once. SQLite keeps its FTS5 trigger: its search table is a row of its own, not the ticket's.

Revision ID: i21_search_words_once
Revises: i2x_ticket_urgent_order
Create Date: 2026-12-03 09:50:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "i21_search_words_once"
down_revision = "i2x_ticket_urgent_order"
branch_labels = None
depends_on = None


def _function(*, guarded: bool) -> str:
    """The trigger function as ``i2x_ticket_urgent_order`` created it (read from that frozen
    migration, not copied), with the guard added to its one set-based UPDATE when ``guarded``."""
    path = Path(__file__).with_name("0015_ticket_urgent_order.py")
    spec = importlib.util.spec_from_file_location("xop_migration_0015", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module._PG_ADDED.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    unguarded = "WHERE t.id = a.ticket_id;"
    if unguarded not in sql:
        raise RuntimeError("0015's trigger function is not the one this migration changes")
    return sql.replace(unguarded, "WHERE t.id = a.ticket_id AND t.search_doc || a.words <> t.search_doc;")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(guarded=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(guarded=False))

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

from alembic import op

revision = "i21_search_words_once"
down_revision = "i2x_ticket_urgent_order"
branch_labels = None
depends_on = None

_FUNCTION = r"""
CREATE OR REPLACE FUNCTION xop_ticket_events_added_search_doc() RETURNS trigger LANGUAGE plpgsql
AS $$
DECLARE
  e record;
BEGIN
  UPDATE tickets t SET search_doc = t.search_doc || a.words
  FROM (SELECT ticket_id, xop_search_words(string_agg(body, ' ' ORDER BY id)) AS words
        FROM added WHERE body <> '' GROUP BY ticket_id) a
  WHERE t.id = a.ticket_id{guard};
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION.format(guard=" AND t.search_doc || a.words <> t.search_doc"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION.format(guard=""))

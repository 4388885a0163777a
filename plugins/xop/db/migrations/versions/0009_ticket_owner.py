"""ticket owner: the XOP staff member working a ticket (take, assign, unassign; issue 16)

Revision ID: i16_ticket_owner
Revises: i19_trunk_call_quality
Create Date: 2026-12-02 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i16_ticket_owner"
down_revision = "i19_trunk_call_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: no table rebuild on SQLite (which would cascade through the foreign keys).
    op.add_column("tickets", sa.Column("owner", sa.String(length=120)))
    op.create_index("ix_tickets_owner", "tickets", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_tickets_owner", table_name="tickets")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("owner")

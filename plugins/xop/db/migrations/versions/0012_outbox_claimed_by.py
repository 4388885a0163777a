"""outbox claims name their sender: a retried sender task takes over its dead attempt's rows (issue 21)

Revision ID: i21_outbox_claimed_by
Revises: i2x_ticket_attachments
Create Date: 2026-12-02 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i21_outbox_claimed_by"
down_revision = "i2x_ticket_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: no table rebuild on SQLite.
    op.add_column("notifications", sa.Column("claimed_by", sa.String(length=300)))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_column("claimed_by")

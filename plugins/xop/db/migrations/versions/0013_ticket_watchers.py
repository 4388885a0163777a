"""ticket watchers: staff following a ticket get its updates by email (issue 16)

Revision ID: i2x_ticket_watchers
Revises: i21_outbox_claimed_by
Create Date: 2026-12-02 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xop.db.types import BigId, UTCDateTime

revision = "i2x_ticket_watchers"
down_revision = "i21_outbox_claimed_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_watchers",
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("watcher", sa.String(length=120), primary_key=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_watchers")

"""ticket model: who acted (actor kind and level) and when a ticket reached Emergency

Revision ID: i12_0005
Revises: 0004_portal
Create Date: 2026-12-02 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xop.db.types

revision = "i12_0005"
down_revision = "0004_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: no table rebuild on SQLite (which would cascade through the foreign keys).
    op.add_column("tickets", sa.Column("emergency_at", xop.db.types.UTCDateTime(timezone=True)))
    op.add_column("ticket_events", sa.Column("actor_kind", sa.String(length=16)))
    op.add_column("ticket_events", sa.Column("actor_level", sa.Integer()))
    running = sa.text("met_at IS NULL AND stopped_at IS NULL AND breached_at IS NULL")
    op.create_index(
        "ix_ticket_clocks_running_policy",
        "ticket_clocks",
        ["policy_version"],
        sqlite_where=running,
        postgresql_where=running,
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_clocks_running_policy", table_name="ticket_clocks")
    with op.batch_alter_table("ticket_events") as batch_op:
        batch_op.drop_column("actor_level")
        batch_op.drop_column("actor_kind")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("emergency_at")

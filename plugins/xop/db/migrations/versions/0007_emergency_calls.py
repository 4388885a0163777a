"""emergency calls: one row per (ticket, emergency event), every attempt and its outcome

Revision ID: i18_emergency_calls
Revises: i14_mail_intake
Create Date: 2026-12-02 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xop.db.types

revision = "i18_emergency_calls"
down_revision = "i14_mail_intake"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "emergency_calls",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("ticket_id", _BigId, nullable=False),
        sa.Column("event_id", _BigId, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("trunk", sa.String(length=100), server_default="", nullable=False),
        sa.Column("claimed_at", xop.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", xop.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", xop.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered_at", xop.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("final_sip_code", sa.Integer(), nullable=True),
        sa.Column("rtp_sent", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("audio", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('calling', 'waiting', 'answered', 'failed', 'skipped', 'interrupted')",
            name=op.f("ck_emergency_calls_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_emergency_calls_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_emergency_calls_event_id_ticket_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_calls")),
        sa.UniqueConstraint("ticket_id", "event_id", name="uq_emergency_calls_ticket_id"),
    )
    with op.batch_alter_table("emergency_calls", schema=None) as batch_op:
        batch_op.create_index("ix_emergency_calls_status", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("emergency_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_emergency_calls_status")
    op.drop_table("emergency_calls")

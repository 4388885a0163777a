"""mail intake: inbound messages, attachments, bounces of our notifications

Revision ID: i14_mail_intake
Revises: i12_0005
Create Date: 2026-12-02 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xop.db.types

revision = "i14_mail_intake"
down_revision = "i12_0005"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = xop.db.types.UTCDateTime(timezone=True)
_OUTCOMES = ("opened", "updated", "auto_reply", "bounce", "own", "quarantined", "accepted", "rejected")


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("message_key", sa.String(300), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("received_at", _ts, nullable=False),
        sa.Column("sender", sa.String(254), nullable=True),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("customer", sa.String(64), nullable=True),
        sa.Column("ticket_id", _id, nullable=True),
        sa.Column("event_id", _id, nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("decided_at", _ts, nullable=True),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.CheckConstraint(f"outcome IN {_OUTCOMES!r}", name=op.f("ck_inbound_messages_outcome_known")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_inbound_messages_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_inbound_messages_event_id_ticket_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("message_key", name=op.f("uq_inbound_messages_message_key")),
    )
    op.create_index("ix_inbound_messages_outcome", "inbound_messages", ["outcome", "id"])
    op.create_index("ix_inbound_messages_ticket_id", "inbound_messages", ["ticket_id"])

    op.create_table(
        "attachments",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("inbound_message_id", _id, nullable=False),
        sa.Column("ticket_id", _id, nullable=False),
        sa.Column("event_id", _id, nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("content_id", sa.String(255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("path", sa.String(300), nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.CheckConstraint("content IS NOT NULL OR path IS NOT NULL", name=op.f("ck_attachments_stored")),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_attachments_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_attachments_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_attachments_event_id_ticket_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_ticket_id", "attachments", ["ticket_id", "id"])

    op.create_table(
        "notification_bounces",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("notification_id", _id, nullable=False),
        sa.Column("inbound_message_id", _id, nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="", nullable=False),
        sa.Column("diagnostic", sa.Text(), server_default="", nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_bounces_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_notification_bounces_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_bounces")),
        sa.UniqueConstraint(
            "notification_id", "inbound_message_id", "recipient", name="uq_notification_bounces_once"
        ),
    )
    op.create_index("ix_notification_bounces_notification_id", "notification_bounces", ["notification_id"])


def downgrade() -> None:
    op.drop_table("notification_bounces")
    op.drop_table("attachments")
    op.drop_table("inbound_messages")

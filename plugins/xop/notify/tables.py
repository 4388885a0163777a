"""The email outbox table: every email the pipeline sends, written in the transaction of its cause."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="SET NULL")),
    Column("event_id", BigId, ForeignKey("ticket_events.id", ondelete="SET NULL")),
    # Unique per (ticket, event, recipient) or (audit run, recipient): a rerun inserts nothing.
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("message_id", String(200), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("audience", String(16), nullable=False),  # customer | internal
    Column("recipient", String(254), nullable=False),
    Column("sender", String(300)),
    # What the email says, as template kind + JSON context. Rendered into ``mime`` (and
    # ``subject``) once, at first delivery, so a sweep that escalates thousands of tickets
    # writes small rows; emails with binary attachments are rendered when enqueued instead.
    Column("context", JSON),
    Column("subject", String(300)),
    # The whole RFC 5322 message as sent (headers, text, HTML, attachments); frozen once set.
    Column("mime", LargeBinary),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    # Who holds the lease (``next_attempt_at`` in the future): the sender task's Airflow task
    # instance, the same for each of its tries, so a retry takes over its dead try's rows at once.
    Column("claimed_by", String(300)),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
    CheckConstraint("audience IN ('customer', 'internal')", name="audience_known"),
    CheckConstraint("mime IS NOT NULL OR context IS NOT NULL", name="content_present"),
)
Index("ix_notifications_pending", notifications.c.status, notifications.c.next_attempt_at)

"""Tables of the mail intake: every message read and the bounces of our emails (attachments are
in ``xop.tickets.tables``: the portal stores its uploads there too).

``inbound_messages`` keeps every message the intake read, with its full original bytes and what
became of it (``outcome``): nothing that reached the mailbox is ever dropped. Its unique
``message_key`` (the Message-ID, or ``sha256:<hex>`` of the bytes when there is none) is
written in the same transaction as the ticket event the message caused: that is what makes the
intake exactly-once.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

#: What became of a message. ``quarantined`` waits for a person; ``accepted``/``rejected`` is
#: their decision; the others are final when the message is read.
OUTCOMES = (
    "opened",  # opened a new ticket
    "updated",  # a public customer update on its ticket (also reopen, close, escalate)
    "auto_reply",  # out-of-office, bulk, list, auto-submitted: no ticket, no email
    "bounce",  # a delivery report: recorded on the outbox row it is about
    "own",  # a message we sent ourselves
    "quarantined",
    "accepted",
    "rejected",
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_key", String(300), nullable=False, unique=True),
    Column("message_id", Text),
    Column("sha256", String(64), nullable=False),
    Column("folder", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("sender", String(254)),
    Column("subject", Text, nullable=False, server_default=""),
    Column("size", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    #: Why it was quarantined or ignored, or what a command did, for people to read.
    Column("reason", Text, nullable=False, server_default=""),
    Column("customer", String(64)),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="SET NULL")),
    Column("event_id", BigId, ForeignKey("ticket_events.id", ondelete="SET NULL")),
    #: The full original message, byte for byte: the source of its ticket event.
    Column("raw", LargeBinary, nullable=False),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(120)),
    CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome_known"),
)
Index("ix_inbound_messages_outcome", inbound_messages.c.outcome, inbound_messages.c.id)
Index("ix_inbound_messages_ticket_id", inbound_messages.c.ticket_id)

#: A delivery report about one of our emails, on the outbox row it is about.
notification_bounces = Table(
    "notification_bounces",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("notification_id", BigId, ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False),
    Column(
        "inbound_message_id", BigId, ForeignKey("inbound_messages.id", ondelete="CASCADE"), nullable=False
    ),
    Column("recipient", String(254), nullable=False),
    #: RFC 3464 Action (failed, delayed, ...) and Status (5.1.1 ...), and the server's words.
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default=""),
    Column("diagnostic", Text, nullable=False, server_default=""),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "notification_id", "inbound_message_id", "recipient", name="uq_notification_bounces_once"
    ),
)
Index("ix_notification_bounces_notification_id", notification_bounces.c.notification_id)

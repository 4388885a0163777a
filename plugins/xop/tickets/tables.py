"""Tables of the ticket store: tickets, their events and SLA clocks.

Each feature declares its own tables beside its code (``xop.notify.tables``, ``xop.trunks.tables``,
…) on the same :data:`xop.db.meta.metadata`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from xop.core.vocabulary import ACTIVE_STATES, SOURCES, STATES, URGENCIES
from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

_active_sql = f"state IN {ACTIVE_STATES!r}"

tickets = Table(
    "tickets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(16), nullable=False, unique=True),
    Column("customer", String(64), nullable=False),
    Column("system", String(64)),
    Column("subject", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("reporter_name", String(120), nullable=False),
    Column("reporter_email", String(254), nullable=False),
    Column("source", String(16), nullable=False),
    Column("urgency", String(16)),
    Column("proposed_urgency", String(16)),
    Column("level", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    # A monitored thing ("trunk:acme-pri-1", "health:acme-conf1:disk") has at most one active
    # ticket: enforced by the partial unique index below, also under concurrent DAG runs.
    Column("dedup_key", String(200)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("escalated_at", UTCDateTime),
    Column("recovered_at", UTCDateTime),
    Column("rca_sent_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    # When the ticket went beyond Level 4 to Emergency (an L4 miss, a critical notify breach, or
    # by hand): the level column keeps 4 (product development still owns the work).
    Column("emergency_at", UTCDateTime),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    # Earliest instant at which the sweep has something to do for this ticket (a warning or
    # a breach of a running clock). NULL when no clock is running. The sweep reads only this.
    Column("next_due_at", UTCDateTime),
    # The board's "most urgent first" (xop.tickets.clocks.ticket_keys), kept with the clocks:
    # 0 with urgent_at the due time of its most urgent counting or breached clock, 1 all its
    # clocks wait on the customer, 2 no running clock.
    Column("urgent_rank", SmallInteger, nullable=False, server_default="2"),
    Column("urgent_at", UTCDateTime),
    # The XOP staff member working the ticket (take / assign / unassign: xop.tickets.ownership).
    Column("owner", String(120)),
    CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
    CheckConstraint(f"state IN {STATES!r}", name="state_known"),
    CheckConstraint(f"source IN {SOURCES!r}", name="source_known"),
    CheckConstraint(f"urgency IS NULL OR urgency IN {URGENCIES!r}", name="urgency_known"),
)
# (next_due_at, id): the board's order, so a page of a broad search is read in index order.
Index("ix_tickets_next_due_at", tickets.c.next_due_at, tickets.c.id)
Index("ix_tickets_urgent", tickets.c.urgent_rank, tickets.c.urgent_at, tickets.c.id)
Index("ix_tickets_customer_state", tickets.c.customer, tickets.c.state)
Index("ix_tickets_owner", tickets.c.owner)
Index(
    "uq_tickets_active_dedup_key",
    tickets.c.dedup_key,
    unique=True,
    sqlite_where=text(f"dedup_key IS NOT NULL AND {_active_sql}"),
    postgresql_where=text(f"dedup_key IS NOT NULL AND {_active_sql}"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    # customer | staff | monitoring | system (xop.tickets.model.Actor); level for staff.
    Column("actor_kind", String(16)),
    Column("actor_level", Integer),
    Column("kind", String(32), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("body", Text, nullable=False, server_default=""),
    Column("payload", JSON, nullable=False),
)
Index("ix_ticket_events_ticket_id", ticket_events.c.ticket_id, ticket_events.c.id)

ticket_clocks = Table(
    "ticket_clocks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(32), nullable=False),
    # A reopened ticket starts a new l2_response: cycle counts the openings.
    Column("cycle", Integer, nullable=False, server_default="0"),
    Column("calendar", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("target_seconds", BigInteger, nullable=False),
    # Business (or 24x7) seconds the clock spent paused, closed pauses only.
    Column("paused_seconds", BigInteger, nullable=False, server_default="0"),
    Column("paused_at", UTCDateTime),
    Column("due_at", UTCDateTime),
    # The next instant the sweep must look at this clock: next warning threshold or due_at.
    Column("next_check_at", UTCDateTime),
    # Highest warning fraction already sent (0 = none); thresholds at or below it are done.
    Column("warned_fraction", Float, nullable=False, server_default="0"),
    Column("met_at", UTCDateTime),
    Column("breached_at", UTCDateTime),
    Column("stopped_at", UTCDateTime),
    # Fingerprint of the policy + calendar the due date was computed with (Zammad's habit):
    # a policy edit finds the clocks to recompute.
    Column("policy_version", String(16), nullable=False, server_default=""),
    UniqueConstraint("ticket_id", "name", "cycle", name="uq_ticket_clocks_ticket_name_cycle"),
)
Index("ix_ticket_clocks_ticket_id", ticket_clocks.c.ticket_id)
Index("ix_ticket_clocks_next_check_at", ticket_clocks.c.next_check_at)
# Running, unbreached clocks by the policy they were computed with: the sweep finds the clocks a
# policy edit must retarget without scanning finished clocks (xop.tickets.clocks.stale_policy_tickets).
_running_sql = "met_at IS NULL AND stopped_at IS NULL AND breached_at IS NULL"
Index(
    "ix_ticket_clocks_running_policy",
    ticket_clocks.c.policy_version,
    sqlite_where=text(_running_sql),
    postgresql_where=text(_running_sql),
)

# Staff following a ticket (i16): each gets an internal copy of the ticket's customer emails at
# their own address (``staff.emails``), never a customer's.
ticket_watchers = Table(
    "ticket_watchers",
    metadata,
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("watcher", String(120), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("since", UTCDateTime, nullable=False),
)

# Counter for human ticket numbers. One row; incremented under a row lock (PostgreSQL) or the
# database write lock (SQLite), so concurrent opens never share a number.
ticket_number_seq = Table(
    "ticket_number_seq",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_value", BigInteger, nullable=False),
)

#: A file attached to a ticket: by email (``inbound_message_id`` names the message; the intake's
#: table) or uploaded in the customer portal (no message). ``event_id`` is the event it came
#: with (the opening or the customer's update): the portal shows it in that event's history.
#: Written and read by :mod:`xop.tickets.attachments`.
attachments = Table(
    "attachments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("inbound_message_id", BigId, ForeignKey("inbound_messages.id", ondelete="CASCADE")),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", BigId, ForeignKey("ticket_events.id", ondelete="SET NULL")),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    #: An inline image of an HTML body (``Content-ID``), not a file the customer attached.
    Column("inline", Boolean, nullable=False),
    Column("content_id", String(255)),
    #: The bytes, in the database, or ``path`` (relative to ``intake.attachments_dir``).
    Column("content", LargeBinary),
    Column("path", String(300)),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("content IS NOT NULL OR path IS NOT NULL", name="stored"),
)
Index("ix_attachments_ticket_id", attachments.c.ticket_id, attachments.c.id)

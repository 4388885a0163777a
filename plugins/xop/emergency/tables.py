"""``emergency_calls``: one row per (ticket, emergency event), claimed before the bridge rings.

The unique key ``(ticket_id, event_id)`` is the "once per emergency" guarantee: the caller
inserts the row and claims it (status ``calling``) in committed transactions before it dials, so
a rerun, a second sweep or a second worker finds the row and never rings for the same emergency
again. Every attempt is appended to ``attempts`` (JSON list) and written as a ticket event as it
ends; the final outcome is the row's ``status``:

* ``calling``   an attempt is under way (claimed at ``claimed_at``);
* ``waiting``   the next attempt (the first, or a retry after a failed one) is due at
  ``next_attempt_at``, in this run or a later one; it is claimed (``waiting`` → ``calling``, a
  conditional update) and committed before it rings;
* ``answered``  the bridge answered and the announcement was played (``answered_at``,
  ``duration_s``, ``rtp_sent``);
* ``failed``    every configured attempt failed (busy, no answer, 4xx/5xx, timeout, transport);
* ``skipped``   nothing rang, ``reason`` says why (outside the configured hours, emergency too
  old, ticket no longer active, no trunk configured);
* ``interrupted`` the calling process died mid-call (found later by a stale claim): the outcome
  is unknown, and the follow-up email says so rather than ringing a second time.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

STATUSES = ("calling", "waiting", "answered", "failed", "skipped", "interrupted")
FINAL_STATUSES = STATUSES[2:]

emergency_calls = Table(
    "emergency_calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigId, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", BigId, ForeignKey("ticket_events.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("number", String(40), nullable=False),
    Column("trunk", String(100), nullable=False, server_default=""),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("answered_at", UTCDateTime),
    Column("duration_s", Float),
    Column("final_sip_code", Integer),
    Column("rtp_sent", Integer),
    # Every attempt: {attempt, started_at, answered, answered_at, duration_s, sip_code, reason,
    # rtp_sent, error}; the same dicts are the payloads of the emergency_call_attempt events.
    Column("attempts", JSON, nullable=False),
    # How the announcement was made (espeak-ng or the shipped recordings) and its length.
    Column("audio", JSON, nullable=False),
    UniqueConstraint("ticket_id", "event_id", name="uq_emergency_calls_ticket_id"),
    CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
)
Index("ix_emergency_calls_status", emergency_calls.c.status, emergency_calls.c.next_attempt_at)

__all__ = ["FINAL_STATUSES", "STATUSES", "emergency_calls"]

"""Tables of the customer portal: one-time sign-in tokens, sessions, rate-limit counters and the
access log. Secrets are never stored: tokens and session ids are kept as their SHA-256."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

portal_signin_tokens = Table(
    "portal_signin_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("customer", String(64), nullable=False),
    # Where to go once signed in (a path of the portal, e.g. /tickets/XOP-000123).
    Column("next_path", String(200), nullable=False, server_default="/"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)
Index("ix_portal_signin_tokens_expires_at", portal_signin_tokens.c.expires_at)

portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("customer", String(64), nullable=False),
    # NULL: every ticket of the customer (signed in by email); else the one ticket of a link.
    Column("ticket", String(16)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)
Index("ix_portal_sessions_expires_at", portal_sessions.c.expires_at)

portal_rate_limits = Table(
    "portal_rate_limits",
    metadata,
    # "<scope>:<sha256 of the address>:<window start, epoch seconds>"
    Column("bucket", String(120), primary_key=True),
    Column("window_end", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
)
Index("ix_portal_rate_limits_window_end", portal_rate_limits.c.window_end)

portal_access_log = Table(
    "portal_access_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("client", String(64), nullable=False),
    # The contact, when known (signed in, or named by a genuine link).
    Column("email", String(254)),
    Column("customer", String(64)),
    Column("ticket", String(16)),
    # view_ticket, list, new_ticket_form, open_ticket, reply, close, escalate, download, upload,
    # signin_request, signin, link, ...
    Column("action", String(32), nullable=False),
    # ok, refused, expired, invalid, used, not_found, rate_limited, csrf, too_large, error
    Column("outcome", String(16), nullable=False),
    Column("detail", String(300), nullable=False, server_default=""),
)
Index("ix_portal_access_log_at", portal_access_log.c.at)
Index("ix_portal_access_log_email", portal_access_log.c.email, portal_access_log.c.at)

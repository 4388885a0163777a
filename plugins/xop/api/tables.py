"""The API's own table: Idempotency-Key records of POST requests.

A client that retries a POST with the same ``Idempotency-Key`` gets the first answer replayed
instead of a second ticket. Keys are scoped per acting user; the request fingerprint catches a
key reused for a different request.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, UniqueConstraint

from xop.db.meta import metadata
from xop.db.types import BigId, UTCDateTime

idempotency_keys = Table(
    "api_idempotency_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("actor", String(120), nullable=False),
    Column("key", String(200), nullable=False),
    # sha256 of method, path and canonical JSON body.
    Column("fingerprint", String(64), nullable=False),
    # NULL while the first request is still being processed.
    Column("status_code", Integer),
    Column("response", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    UniqueConstraint("actor", "key", name="uq_api_idempotency_keys_actor_key"),
)
Index("ix_api_idempotency_keys_created_at", idempotency_keys.c.created_at)

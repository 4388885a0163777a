"""Idempotency-Key handling for POST requests (the pattern of Stripe's and the IETF draft's
``Idempotency-Key`` header).

``claim`` records the key before the operation runs; a second request with the same key either
gets the stored answer replayed, waits its turn (409 while the first is still running), or is
refused when the key was used for a different request. Refused operations change nothing, so
their claim is released and the same key may be retried.

Keys are kept for 24 hours (``api.idempotency_key_hours``); the SLA sweep deletes older ones
with :func:`expire`.

Limit: the ticket service commits in its own transaction, so the ticket and the stored answer
are two commits. If the process dies between them, the key stays "in progress" (409) rather
than risk opening a second ticket.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from xop.api.tables import idempotency_keys
from xop.core.errors import InvalidInput, TicketError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
#: How long a key is remembered unless ``api.idempotency_key_hours`` says otherwise.
DEFAULT_MAX_AGE = timedelta(hours=24)


class IdempotencyKeyReused(InvalidInput):
    """The key was already used by this user for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(HEADER, message)


class IdempotencyKeyInProgress(TicketError):
    """The first request with this key has not finished yet."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(HEADER, f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def claim(engine: Engine, *, actor: str, key: str, fp: str, now: datetime) -> StoredResponse | None:
    """Reserve ``key`` for this request; return the stored answer if it already ran."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(idempotency_keys).values(actor=actor, key=key, fingerprint=fp, created_at=now)
            )
        return None
    except IntegrityError:
        pass
    with engine.connect() as conn:
        row = conn.execute(
            select(idempotency_keys).where(idempotency_keys.c.actor == actor, idempotency_keys.c.key == key)
        ).first()
    if row is None:  # released between our insert and our read: the caller may retry
        raise IdempotencyKeyInProgress(f"{HEADER} {key!r}: a request with this key just failed; retry")
    if row.fingerprint != fp:
        raise IdempotencyKeyReused(f"{key!r} was already used for a different request")
    if row.status_code is None:
        raise IdempotencyKeyInProgress(f"{HEADER} {key!r}: the first request with this key is still running")
    return StoredResponse(row.status_code, row.response)


def complete(engine: Engine, *, actor: str, key: str, status_code: int, body: Any, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.actor == actor, idempotency_keys.c.key == key)
            .values(status_code=status_code, response=body, completed_at=now)
        )


def release(engine: Engine, *, actor: str, key: str) -> None:
    """Forget a claim whose request was refused (it changed nothing)."""
    with engine.begin() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.actor == actor,
                idempotency_keys.c.key == key,
                idempotency_keys.c.status_code.is_(None),
            )
        )


def expire(engine: Engine, *, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE) -> int:
    """Delete the keys claimed before ``now - max_age`` (run by the SLA sweep); return how many.

    After that a retry with the same key acts again, which is the contract of expiring keys
    (24 hours by default, ``api.idempotency_key_hours``): clients retry within minutes.
    """
    if max_age <= timedelta(0):
        raise InvalidInput("api.idempotency_key_hours", f"must be positive, got {max_age}")
    with engine.begin() as conn:
        result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < now - max_age))
    return result.rowcount or 0

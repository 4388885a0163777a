"""Delivery of the email outbox (rows written by :mod:`xop.notify.outbox`).

:func:`deliver_pending` claims due rows (PostgreSQL: ``FOR UPDATE SKIP LOCKED``) by leasing them
(``next_attempt_at`` moved past the lease) in one short statement, sends each over one reused
SMTP session and records the outcome of each row in its own transaction right after the
server's answer:

* 250 → ``sent`` (``sent_at``).
* transient failure (4xx, drop, timeout) → ``attempts + 1`` and a retry after exponential backoff
  with jitter; ``failed`` once ``max_attempts`` is reached.
* permanent failure (5xx) → ``failed`` with ``last_error``.
* no SMTP session at all (server down, login refused) → the claimed rows are released unchanged
  (an outage is not the messages' fault and must not use up their attempts); the run stops and
  ``DeliveryStats.server_unavailable`` says why, so the sender task can fail visibly.

A crash loses nothing: a leased row is due again when the lease ends, or at once for the sender
that held it when it comes back under the same ``claimer`` (a retried Airflow task: only one try of
a task instance runs at a time, so rows leased by an earlier try are the dead try's). The only
duplicate possible
is a crash (or lost connection) between the server's 250 and our commit; the stable Message-ID
lets the receiving side recognise it.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, or_, select, update

from xop.core.config import load_config
from xop.core.errors import MailError, PermanentMailError
from xop.notify.mime import (
    message_bytes,
)
from xop.notify.outbox import compose_message, from_json_safe
from xop.notify.smtp import MailServerUnavailable
from xop.notify.tables import notifications

if TYPE_CHECKING:
    from xop.notify.smtp import SmtpTransport

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_ATTEMPTS = 10
#: First retry after about a minute, doubling, never more than an hour apart.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
#: How long a claimed row is reserved for the sender that claimed it. A sender re-claims (and
#: releases what it has not attempted) after half of it, so a slow server cannot outlive it.
DEFAULT_LEASE = timedelta(minutes=15)

_n = notifications


@dataclass
class DeliveryStats:
    """What one :func:`deliver_pending` run did."""

    claimed: int = 0
    sent: int = 0
    #: transient failures rescheduled with backoff
    retried: int = 0
    #: rows that ended ``failed`` in this run (permanent error or attempts used up)
    failed: int = 0
    #: claimed rows given back unattempted (deadline, lease renewal, server unavailable)
    released: int = 0
    #: why no SMTP session could be opened, if that stopped the run
    server_unavailable: str | None = None
    #: "<message_id>: <error>" for each failure of this run (first 100)
    errors: list[str] = field(default_factory=list)

    def _note(self, message_id: str, error: str) -> None:
        if len(self.errors) < 100:
            self.errors.append(f"{message_id}: {error}")


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay before retry number ``attempts`` (1 = first retry): exponential, capped, jittered.

    "Equal jitter": half the exponential delay plus a random part up to the other half, so
    retries of many messages failed together spread out but never come back too early.
    """
    exponential = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    fraction = (rng or random).random()
    return exponential * (0.5 + 0.5 * fraction)


@dataclass(frozen=True)
class _Claimed:
    id: int
    message_id: str
    recipient: str
    attempts: int


def _claim(
    engine: Engine, *, now: datetime, batch_size: int, lease: timedelta, claimer: str | None = None
) -> list[_Claimed]:
    due_now = _n.c.next_attempt_at <= now
    if claimer is not None:
        due_now = or_(due_now, _n.c.claimed_by == claimer)
    due = (
        select(_n.c.id)
        .where(_n.c.status == "pending", due_now)
        .order_by(_n.c.next_attempt_at, _n.c.id)
        .limit(batch_size)
    )
    if engine.dialect.name == "postgresql":
        # Two senders in parallel: each skips the rows the other is claiming.
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(_n)
        .where(_n.c.id.in_(due), _n.c.status == "pending", due_now)
        .values(next_attempt_at=now + lease, claimed_by=claimer)
        .returning(_n.c.id, _n.c.message_id, _n.c.recipient, _n.c.attempts)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((_Claimed(*row) for row in rows), key=lambda c: c.id)


def _envelope_sender(mime: bytes) -> str:
    # compat32 parsing: we only need one raw header, not the (slow) structured header objects.
    headers = BytesHeaderParser().parsebytes(mime)
    return parseaddr(str(headers.get("From", "")))[1]


def _finish(engine: Engine, row_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        # The row leaves this sender's lease: a retry later is due by its time, not by the claim.
        conn.execute(
            update(_n).where(_n.c.id == row_id, _n.c.status == "pending").values(claimed_by=None, **values)
        )


def _release(engine: Engine, rows: Iterable[_Claimed], *, now: datetime) -> int:
    ids = [r.id for r in rows]
    if not ids:
        return 0
    with engine.begin() as conn:
        conn.execute(
            update(_n)
            .where(_n.c.id.in_(ids), _n.c.status == "pending")
            .values(next_attempt_at=now, claimed_by=None)
        )
    return len(ids)


def deliver_pending(
    engine: Engine,
    *,
    smtp: SmtpTransport,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    deadline: float | None = None,
    lease: timedelta = DEFAULT_LEASE,
    rng: random.Random | None = None,
    claimer: str | None = None,
) -> DeliveryStats:
    """Send every row due at ``now``; return what happened.

    ``claimer`` names this sender (the same for every retry of it, e.g. the Airflow task
    instance): rows it leased before and did not finish, because it died, are due again for it
    at once instead of after the lease.

    ``deadline`` is a :func:`time.monotonic` instant after which no further message is started
    (the rows claimed but not attempted are released). The SMTP session is reused for the whole
    run and closed at the end.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    stats = DeliveryStats()
    renew_after = lease.total_seconds() / 2

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    try:
        while not out_of_time():
            batch = _claim(engine, now=now, batch_size=batch_size, lease=lease, claimer=claimer)
            if not batch:
                break
            stats.claimed += len(batch)
            claimed_at = time.monotonic()
            unattempted = deque(batch)
            try:
                while unattempted:
                    # Every claim attempts at least one row, so the run always makes progress.
                    if len(unattempted) < len(batch) and (
                        out_of_time() or time.monotonic() - claimed_at > renew_after
                    ):
                        break
                    try:
                        _deliver_one(
                            engine,
                            smtp,
                            unattempted[0],
                            now=now,
                            max_attempts=max_attempts,
                            stats=stats,
                            rng=rng,
                        )
                    except MailServerUnavailable as exc:
                        # No session: nothing was tried. This row and the rest are released below.
                        stats.server_unavailable = str(exc)
                        log.warning("outbox: SMTP server unavailable, stopping this run: %s", exc)
                        return stats
                    # Its outcome is committed. (On any other error it stays in `unattempted` and is
                    # released below, as a row we cannot prove was sent.)
                    unattempted.popleft()
            finally:
                stats.released += _release(engine, unattempted, now=now)
    finally:
        smtp.close()
    return stats


def rendered(row: Mapping[str, Any]) -> tuple[str, bytes]:
    """(subject, message bytes) of an outbox row: as stored, or rendered from kind + context.

    ``row`` needs ``mime``, ``subject``, ``kind``, ``context``, ``sender``, ``recipient``,
    ``dedup_key`` and ``created_at``. Rendering is deterministic: the same row always gives the
    same message (Message-ID from the dedup key, Date from ``created_at``).
    """
    if row["mime"] is not None:
        return row["subject"], row["mime"]
    subject, message = compose_message(
        row["kind"],
        from_json_safe(row["context"]),
        recipient=row["recipient"],
        sender=row["sender"] or load_config().support.sender,
        dedup_key=row["dedup_key"],
        date=row["created_at"],
    )
    return " ".join(subject.split()), message_bytes(message)


def _materialise(engine: Engine, row: _Claimed) -> bytes | None:
    """The claimed row's message bytes, rendered and stored (frozen) first if needed.

    A template that cannot render is a permanent failure of that row, marked with the error.
    """
    with engine.connect() as conn:
        r = conn.execute(select(_n).where(_n.c.id == row.id)).one()._mapping
    if r["mime"] is not None:
        return r["mime"]
    try:
        subject, mime = rendered(r)
    except Exception as exc:  # a broken template or context must not stop the other emails
        error = f"could not render {r['kind']!r}: {type(exc).__name__}: {exc}"
        _finish(engine, row.id, status="failed", attempts=row.attempts, last_error=error)
        log.error("outbox: %s: %s", row.message_id, error)
        return None
    # The column is a summary for listings (the message keeps the whole Subject header): never
    # let a long subject make the row undeliverable.
    _finish(engine, row.id, mime=mime, subject=subject[: _n.c.subject.type.length])
    return mime


def _deliver_one(
    engine: Engine,
    smtp: SmtpTransport,
    row: _Claimed,
    *,
    now: datetime,
    max_attempts: int,
    stats: DeliveryStats,
    rng: random.Random | None,
) -> None:
    """Send one claimed row and commit its outcome (raises MailServerUnavailable untouched)."""
    mime = _materialise(engine, row)
    attempts = row.attempts + 1
    if mime is None:
        stats.failed += 1
        return
    try:
        smtp.send(mime, recipient=row.recipient, sender=_envelope_sender(mime))
    except MailServerUnavailable:
        raise
    except MailError as exc:
        error = str(exc)
        stats._note(row.message_id, error)
        if isinstance(exc, PermanentMailError) or attempts >= max_attempts:
            if not isinstance(exc, PermanentMailError):
                error = f"gave up after {attempts} attempts: {error}"
            _finish(engine, row.id, status="failed", attempts=attempts, last_error=error)
            stats.failed += 1
            log.error("outbox: %s to %s failed: %s", row.message_id, row.recipient, error)
        else:
            retry_at = now + backoff_delay(attempts, rng=rng)
            _finish(engine, row.id, attempts=attempts, next_attempt_at=retry_at, last_error=error)
            stats.retried += 1
            log.info("outbox: %s will be retried at %s: %s", row.message_id, retry_at.isoformat(), error)
        return
    _finish(engine, row.id, status="sent", sent_at=now, attempts=attempts)
    stats.sent += 1

"""The email outbox: write notifications with the event that causes them, deliver them later.

Writing: :func:`enqueue` / :func:`render_and_enqueue` insert a row into ``notifications`` on the
caller's connection, inside the caller's transaction, so an email exists if and only if its event
was committed. The row holds the whole message (``mime``), its stable Message-ID and a unique
``dedup_key`` (ticket, event, recipient): a rerun inserts nothing (``INSERT ... ON CONFLICT DO
NOTHING``, safe under concurrency on PostgreSQL and SQLite).

Delivering: :func:`deliver_pending` claims due rows (PostgreSQL: ``FOR UPDATE SKIP LOCKED``) by
leasing them (``next_attempt_at`` moved past the lease) in one short statement, sends each over one
reused SMTP session and records the outcome of each row in its own transaction right after the
server's answer:

* 250 → ``sent`` (``sent_at``).
* transient failure (4xx, drop, timeout) → ``attempts + 1`` and a retry after exponential backoff
  with jitter; ``failed`` once ``max_attempts`` is reached.
* permanent failure (5xx) → ``failed`` with ``last_error`` (see :func:`failed_notifications`).
* no SMTP session at all (server down, login refused) → the claimed rows are released unchanged
  (an outage is not the messages' fault and must not use up their attempts); the run stops and
  ``DeliveryStats.server_unavailable`` says why, so the sender task can fail visibly.

A crash loses nothing: a leased row is due again when the lease ends. The only duplicate possible
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
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, update

from xop.core.config import load_config
from xop.core.errors import ConfigError, MailError, PermanentMailError
from xop.db.bulk import insert_rows
from xop.notify.mime import (
    Attachment,
    InlineImage,
    build_message,
    make_message_id,
    message_bytes,
)
from xop.notify.render import KINDS, render_email
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
AUDIENCES = ("customer", "internal")

_n = notifications


# -- writing ----------------------------------------------------------------------------------


def _insert_ignoring_duplicates(conn: Connection):
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ConfigError(f"outbox: database dialect {dialect!r} is not supported (postgresql, sqlite)")
    # No conflict target: dedup_key and message_id are both unique, and under concurrency
    # PostgreSQL may detect the duplicate on either index first; a targeted ON CONFLICT
    # (dedup_key) would then raise on message_id and abort the caller's transaction.
    return insert(_n).on_conflict_do_nothing()


def enqueue(
    conn: Connection,
    *,
    dedup_key: str,
    kind: str,
    audience: str,
    recipient: str,
    subject: str,
    message: EmailMessage,
    now: datetime,
    ticket_id: int | None = None,
    event_id: int | None = None,
) -> bool:
    """Add ``message`` to the outbox in the caller's transaction.

    Returns True if a row was inserted, False if ``dedup_key`` was already there (nothing
    changes then). ``recipient`` is the envelope recipient; the message must carry a
    Message-ID (see :func:`xop.notify.mime.make_message_id`).
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, got {audience!r}")
    message_id = message["Message-ID"]
    if not message_id:
        raise ValueError(f"notification {dedup_key!r}: the message has no Message-ID header")
    stmt = _insert_ignoring_duplicates(conn).values(
        dedup_key=dedup_key,
        message_id=str(message_id),
        kind=kind,
        audience=audience,
        recipient=recipient,
        subject=" ".join(subject.split()),
        mime=message_bytes(message),
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        ticket_id=ticket_id,
        event_id=event_id,
    )
    # RETURNING, not rowcount: drivers report -1 for an INSERT that returns the new key.
    if conn.execute(stmt.returning(_n.c.id)).first() is not None:
        return True
    # Nothing inserted: a rerun (same dedup_key) is fine; a Message-ID already used by another
    # notification would silently lose this email, so it is an error.
    owner = conn.execute(select(_n.c.dedup_key).where(_n.c.message_id == str(message_id))).scalar()
    if owner is not None and owner != dedup_key:
        raise ValueError(
            f"notification {dedup_key!r}: Message-ID {message_id} is already used by {owner!r}; "
            "build each message with make_message_id(dedup_key)"
        )
    return False


def _ticket_number(context: Mapping[str, Any]) -> str | None:
    ticket = context.get("ticket")
    if ticket is None:
        return None
    if isinstance(ticket, Mapping):
        return ticket.get("number")
    return getattr(ticket, "number", None)


def _compose(
    kind: str,
    context: Mapping[str, Any],
    *,
    recipient: str,
    sender: str,
    dedup_key: str,
    date: datetime,
    attachments: Iterable[Attachment] = (),
    inline_images: Iterable[InlineImage] = (),
    headers: Mapping[str, str] | None = None,
    domain: str | None = None,
) -> tuple[str, EmailMessage]:
    """Render ``kind`` and assemble the message: (subject, message).

    Adds ``Auto-Submitted: auto-generated`` (RFC 3834: no auto-replies to us) and, for ticket
    emails, ``References`` to a per-ticket thread id plus ``X-XOP-Ticket``, so mail clients
    thread all emails of one ticket.
    """
    rendered = render_email(kind, context, recipient=recipient, at=date)
    domain = domain or load_config().support.message_domain
    extra_headers = {"Auto-Submitted": "auto-generated"}
    number = _ticket_number(context)
    if number:
        extra_headers["X-XOP-Ticket"] = str(number)
        extra_headers["References"] = make_message_id(f"ticket-thread:{number}", domain)
    extra_headers.update(headers or {})
    message = build_message(
        sender=sender,
        recipient=recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=make_message_id(dedup_key, domain),
        attachments=attachments,
        inline_images=inline_images,
        headers=extra_headers,
        date=date,
    )
    return rendered.subject, message


def render_and_enqueue(
    conn: Connection,
    *,
    kind: str,
    context: Mapping[str, Any],
    recipient: str,
    audience: str,
    dedup_key: str,
    now: datetime,
    ticket_id: int | None = None,
    event_id: int | None = None,
    sender: str | None = None,
    attachments: Iterable[Attachment] = (),
    inline_images: Iterable[InlineImage] = (),
    headers: Mapping[str, str] | None = None,
    domain: str | None = None,
) -> bool:
    """Render the email ``kind`` now and :func:`enqueue` it; False if already queued.

    For emails with attachments or inline images (the audit report). Ticket emails go through
    :func:`enqueue_many`, which defers rendering to delivery.
    """
    already = conn.execute(select(_n.c.id).where(_n.c.dedup_key == dedup_key)).first()
    if already is not None:
        return False
    subject, message = _compose(
        kind,
        context,
        recipient=recipient,
        sender=sender or load_config().support.sender,
        dedup_key=dedup_key,
        date=now,
        attachments=attachments,
        inline_images=inline_images,
        headers=headers,
        domain=domain,
    )
    return enqueue(
        conn,
        dedup_key=dedup_key,
        kind=kind,
        audience=audience,
        recipient=recipient,
        subject=subject,
        message=message,
        now=now,
        ticket_id=ticket_id,
        event_id=event_id,
    )


_PLAIN = (str, int, float, bool, type(None))


def json_safe(value: Any) -> Any:
    """``value`` with datetimes tagged so the context survives a JSON column unchanged."""
    kind = type(value)
    if kind in _PLAIN:  # by far the most common case: checked first, by exact type
        return value
    if kind is dict:
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def from_json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$datetime"}:
            return datetime.fromisoformat(value["$datetime"])
        return {k: from_json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json_safe(v) for v in value]
    return value


def enqueue_many(conn: Connection, items: Iterable[Mapping[str, Any]]) -> int:
    """Queue emails as (kind, context) in one statement; rendered at first delivery.

    Each item: ``dedup_key``, ``kind``, ``audience``, ``recipient``, ``context``, ``now`` and
    optionally ``sender``, ``ticket_id``, ``event_id``. The Message-ID is fixed now (from the
    dedup key) and the Date header will be ``now``. Items already queued are skipped; returns
    how many rows were new. Cheap enough for a sweep that escalates thousands of tickets.
    """

    support = load_config().support
    rows = []
    for it in items:
        if it["audience"] not in AUDIENCES:
            raise ValueError(f"audience must be one of {AUDIENCES}, got {it['audience']!r}")
        if it["kind"] not in KINDS:
            raise ValueError(f"unknown email kind {it['kind']!r}")
        rows.append(
            {
                "dedup_key": it["dedup_key"],
                "message_id": make_message_id(it["dedup_key"], support.message_domain),
                "kind": it["kind"],
                "audience": it["audience"],
                "recipient": it["recipient"],
                "sender": it.get("sender") or support.sender,
                "context": json_safe(it["context"]),
                "status": "pending",
                "attempts": 0,
                "created_at": it["now"],
                "next_attempt_at": it["now"],
                "ticket_id": it.get("ticket_id"),
                "event_id": it.get("event_id"),
            }
        )
    return len(insert_rows(conn, _n, rows, returning="id", skip_conflicts=True))


# -- delivering -------------------------------------------------------------------------------


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


def _claim(engine: Engine, *, now: datetime, batch_size: int, lease: timedelta) -> list[_Claimed]:
    due = (
        select(_n.c.id)
        .where(_n.c.status == "pending", _n.c.next_attempt_at <= now)
        .order_by(_n.c.next_attempt_at, _n.c.id)
        .limit(batch_size)
    )
    if engine.dialect.name == "postgresql":
        # Two senders in parallel: each skips the rows the other is claiming.
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(_n)
        .where(_n.c.id.in_(due), _n.c.status == "pending", _n.c.next_attempt_at <= now)
        .values(next_attempt_at=now + lease)
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
        conn.execute(update(_n).where(_n.c.id == row_id, _n.c.status == "pending").values(**values))


def _release(engine: Engine, rows: Iterable[_Claimed], *, now: datetime) -> int:
    ids = [r.id for r in rows]
    if not ids:
        return 0
    with engine.begin() as conn:
        conn.execute(update(_n).where(_n.c.id.in_(ids), _n.c.status == "pending").values(next_attempt_at=now))
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
) -> DeliveryStats:
    """Send every row due at ``now``; return what happened.

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
            batch = _claim(engine, now=now, batch_size=batch_size, lease=lease)
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
    subject, message = _compose(
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
    _finish(engine, row.id, mime=mime, subject=subject)
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


# -- looking ----------------------------------------------------------------------------------


def failed_notifications(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent ``failed`` rows (newest first), with ``last_error``: what ops must look at."""
    cols = (
        _n.c.id,
        _n.c.dedup_key,
        _n.c.message_id,
        _n.c.kind,
        _n.c.audience,
        _n.c.recipient,
        _n.c.subject,
        _n.c.attempts,
        _n.c.last_error,
        _n.c.created_at,
        _n.c.ticket_id,
    )
    stmt = select(*cols).where(_n.c.status == "failed").order_by(_n.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def outbox_counts(engine: Engine) -> dict[str, int]:
    """Rows per status, e.g. ``{"pending": 3, "sent": 120, "failed": 1}`` (absent statuses are 0)."""
    counts = {"pending": 0, "sent": 0, "failed": 0}
    with engine.connect() as conn:
        for status, count in conn.execute(select(_n.c.status, func.count()).group_by(_n.c.status)):
            counts[status] = count
    return counts

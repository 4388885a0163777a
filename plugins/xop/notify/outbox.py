"""The email outbox: write notifications with the event that causes them (delivery:
:mod:`xop.notify.delivery`).

:func:`enqueue` / :func:`render_and_enqueue` insert a row into ``notifications`` on the caller's
connection, inside the caller's transaction, so an email exists if and only if its event was
committed. The row holds the whole message (``mime``) or its kind and JSON context (rendered at
first delivery: :func:`enqueue_many`), its stable Message-ID and a unique ``dedup_key`` (ticket,
event, recipient): a rerun inserts nothing (``INSERT ... ON CONFLICT DO NOTHING``, safe under
concurrency on PostgreSQL and SQLite).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from xop.core.config import SupportSpec, load_config
from xop.core.errors import ConfigError
from xop.db.bulk import insert_rows
from xop.notify.mime import (
    Attachment,
    InlineImage,
    build_message,
    make_message_id,
    message_bytes,
)
from xop.notify.render import KINDS, render_email
from xop.notify.tables import notifications

log = logging.getLogger(__name__)

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


def enqueue_rendered(
    conn: Connection,
    *,
    kind: str,
    audience: str,
    recipients: Iterable[tuple[str, str]],
    subject: str,
    text: str,
    html: str,
    now: datetime,
    attachments: Iterable[Attachment] = (),
    inline_images: Iterable[InlineImage] = (),
) -> int:
    """Queue one already rendered email (a report with attachments, an alert) to each
    ``(recipient, dedup_key)``; returns how many rows were new.

    The sender and the Message-ID domain come from the configuration's support identity; the
    message says ``Auto-Submitted: auto-generated`` so that no auto-reply answers it.
    """
    support = load_config().support
    attachments, inline_images = list(attachments), list(inline_images)
    queued = 0
    for recipient, dedup_key in recipients:
        message = build_message(
            sender=support.sender,
            recipient=recipient,
            subject=subject,
            text=text,
            html=html,
            message_id=make_message_id(dedup_key, support.message_domain),
            attachments=attachments,
            inline_images=inline_images,
            headers={"Auto-Submitted": "auto-generated"},
            date=now,
        )
        queued += enqueue(
            conn,
            dedup_key=dedup_key,
            kind=kind,
            audience=audience,
            recipient=recipient,
            subject=subject,
            message=message,
            now=now,
        )
    return queued


def _ticket_number(context: Mapping[str, Any]) -> str | None:
    ticket = context.get("ticket")
    if ticket is None:
        return None
    if isinstance(ticket, Mapping):
        return ticket.get("number")
    return getattr(ticket, "number", None)


def compose_message(
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
    subject, message = compose_message(
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


def _tagged(value: Any) -> Any:
    """``json.dumps`` hook giving what :func:`json_safe` gives: the C encoder walks the context
    and calls back only for what it does not know (datetimes, other mappings)."""
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in an email context")


def enqueue_many(
    conn: Connection, items: Iterable[Mapping[str, Any]], *, support: SupportSpec | None = None
) -> int:
    """Queue emails as (kind, context) in one statement; rendered at first delivery.

    Each item: ``dedup_key``, ``kind``, ``audience``, ``recipient``, ``context``, ``now`` and
    optionally ``sender``, ``ticket_id``, ``event_id``. The Message-ID is fixed now (from the
    dedup key) and the Date header will be ``now``. Items already queued are skipped; returns
    how many rows were new. Cheap enough for a sweep that escalates thousands of tickets.
    ``support``: the sender and Message-ID domain of the caller's configuration (default: the
    configuration file's, looked up per call).
    """

    support = support or load_config().support
    # PostgreSQL: the context goes to json.dumps as it is, datetimes tagged by its hook (no copy
    # of every context in Python first); SQLite's JSON type serialises the json_safe copy.
    plain = conn.dialect.name == "postgresql"
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
                "context": it["context"] if plain else json_safe(it["context"]),
                "status": "pending",
                "attempts": 0,
                "created_at": it["now"],
                "next_attempt_at": it["now"],
                "ticket_id": it.get("ticket_id"),
                "event_id": it.get("event_id"),
            }
        )
    return len(insert_rows(conn, _n, rows, returning="id", skip_conflicts=True, json_default=_tagged))


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

"""Turn one message into its outcome, exactly once: one transaction per message.

In that transaction, in this order:

1. the message is recorded in ``inbound_messages`` by its key (Message-ID, or the hash of its
   bytes). If the key is already there, the message was processed before (a rerun after a crash
   between commit and move, or a parallel run): nothing else happens. On PostgreSQL the unique
   index makes a parallel run's insert wait for the first commit, then do nothing; on SQLite the
   write lock taken at BEGIN serialises the runs.
2. the ticket action (open, respond, reopen, close, escalate) through the ticket service, on
   this same connection: its events, clocks and outbox rows commit with the record, or nothing
   does. A refused action (the ticket model says no) quarantines the message instead.
3. the attachments, with their sha256, in the database or the configured directory.

Only after the commit may the caller move the message out of the inbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from xop.core.config import XopConfig
from xop.core.errors import TicketError
from xop.intake.parse import Parsed, parse
from xop.intake.steps import Context, Decision, decide
from xop.intake.tables import inbound_messages, notification_bounces
from xop.tickets import Actor, TicketService, attachments
from xop.tickets.service import service_on
from xop.tickets.tables import ticket_events

log = logging.getLogger(__name__)

SUBJECT_MAX = 200
BODY_MAX = 20000


def customer_actor(address: str | None) -> Actor:
    return Actor.customer(address or "unknown sender")


@dataclass(frozen=True)
class Result:
    outcome: str  # an inbound_messages outcome, or "duplicate" (recorded before)
    key: str
    reason: str = ""
    ticket: str | None = None


def insert_ignoring_conflicts(conn: Connection, table):
    """``INSERT ... ON CONFLICT DO NOTHING`` of the connection's dialect (PostgreSQL, SQLite)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


def clip(text: str, limit: int, what: str) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    note = f"\n\n[{what} shortened to {limit} characters; the full message is kept as the source]"
    return text[: limit - len(note)] + note


def ticket_subject(msg: Parsed) -> str:
    return clip(msg.subject or "(no subject)", SUBJECT_MAX, "subject").splitlines()[0][:SUBJECT_MAX]


def _claim(
    conn: Connection, msg: Parsed, *, folder: str, now: datetime, outcome: str, reason: str
) -> tuple[int | None, str]:
    """Insert the record; (id, key), or (None, key) when the key was recorded before."""
    key = msg.message_key
    for _ in range(2):
        row = {
            "message_key": key[:300],
            "message_id": msg.message_id,
            "sha256": msg.sha256,
            "folder": folder,
            "received_at": now,
            "sender": (msg.sender or "")[:254] or None,
            "subject": msg.subject,
            "size": len(msg.raw),
            "outcome": outcome,
            "reason": reason,
            "raw": msg.raw,
        }
        new = conn.execute(
            insert_ignoring_conflicts(conn, inbound_messages).values(**row).returning(inbound_messages.c.id)
        ).scalar()
        if new is not None:
            return new, key
        seen = conn.execute(
            select(inbound_messages.c.sha256).where(inbound_messages.c.message_key == key[:300])
        ).scalar()
        if seen == msg.sha256 or key != msg.message_id:
            return None, key
        # Same Message-ID, different bytes: another message reusing the id. Keep it, by its hash.
        key = f"{msg.message_id} sha256:{msg.sha256}"
        reason = (reason + "; " if reason else "") + "reuses the Message-ID of an earlier message"
    return None, key


def newest_event(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(ticket_events.c.id), 0))).scalar_one()


def first_event_after(conn: Connection, ticket_id: int, after: int) -> int | None:
    """The event the message caused: the first one of its ticket written in this transaction."""
    return conn.execute(
        select(func.min(ticket_events.c.id)).where(
            ticket_events.c.ticket_id == ticket_id, ticket_events.c.id > after
        )
    ).scalar()


def _open(svc: TicketService, msg: Parsed, d: Decision, now: datetime, body: str, note: str = ""):
    return svc.open(
        customer=d.customer,
        system=d.system,
        subject=ticket_subject(msg),
        description=clip((note + "\n\n" + body).strip() if note else body, BODY_MAX, "message"),
        reporter_name=(d.contact_name or msg.sender or "customer")[:120],
        reporter_email=msg.sender,
        source="customer",
        level=2,
        actor=customer_actor(msg.sender),
        now=now,
    )


def _command(svc: TicketService, msg: Parsed, d: Decision, now: datetime, rest: str) -> tuple[Any, str]:
    """The reporter's "close" or "escalate"; the ticket model may refuse it (TicketError)."""
    number, actor = d.ticket["number"], customer_actor(msg.sender)
    if d.command == "close":
        report = rest or f"Closed by {msg.sender} by email."
        return svc.close(number, actor=actor, now=now, report=report), "closed"
    reason = rest or f"Escalated by {msg.sender} by email."
    done = svc.escalate(number, actor=actor, now=now, reason=reason)
    return done, f"escalated to level {done.level}"


def _follow_up(
    svc: TicketService, cfg: XopConfig, msg: Parsed, d: Decision, now: datetime
) -> tuple[Any, str]:
    """Act on the ticket a reply belongs to; returns (ticket, what was done).

    A command the ticket model refuses (a customer escalates only from Level 1; a closed ticket
    cannot be closed again) is not lost: the message becomes a customer update saying so.
    """
    t = d.ticket
    actor = customer_actor(msg.sender)
    body = clip(msg.reply_text, BODY_MAX, "message") or "(empty message)"
    refused = ""
    if d.command == "close" and t["state"] == "closed":
        return svc.get(t["number"]), "close: the ticket is already closed; nothing to do"
    if d.command:
        try:
            with svc.engine.begin():  # a savepoint: a refused command leaves nothing behind
                return _command(svc, msg, d, now, "\n".join(body.splitlines()[1:]).strip())
        except TicketError as exc:
            refused = f"{d.command} refused ({exc}); kept as a customer update: "
    if t["state"] == "closed":
        closed_at = t["closed_at"]
        if closed_at is not None and now - closed_at <= timedelta(seconds=cfg.intake.reopen_window_seconds):
            return svc.reopen(t["number"], actor=actor, now=now, reason=body), f"{refused}reopened"
        d.customer, d.system = t["customer"], t["system"]
        note = f"Follow-up to {t['number']}, closed {closed_at:%Y-%m-%d} (after the reopen window)."
        return _open(svc, msg, d, now, body, note), f"{refused}opened a new ticket following up {t['number']}"
    # A customer's update meets no XOP clock and resumes a ticket waiting on the customer.
    return svc.respond(t["number"], actor=actor, body=body, now=now), f"{refused}customer update"


def _act(
    conn: Connection, cfg: XopConfig, msg: Parsed, d: Decision, now: datetime, inbound_id: int
) -> dict[str, Any]:
    """The ticket action of a message that passed the steps; values for its record."""
    svc = service_on(conn, cfg)
    if d.outcome == "bounce":
        rows = [
            {
                "notification_id": b.notification_id,
                "inbound_message_id": inbound_id,
                "recipient": b.recipient[:254],
                "action": b.action,
                "status": b.status,
                "diagnostic": b.diagnostic,
                "at": now,
            }
            for b in d.bounces
            if b.notification_id is not None
        ]
        if rows:
            conn.execute(insert_ignoring_conflicts(conn, notification_bounces), rows)
        return {}
    if d.outcome is not None:
        return {}
    before = newest_event(conn)
    try:
        if d.ticket is not None:
            ticket, done = _follow_up(svc, cfg, msg, d, now)
            outcome = "opened" if ticket.number != d.ticket["number"] else "updated"
            reason = f"{done} ({d.matched_by})"
        else:
            ticket = _open(svc, msg, d, now, clip(msg.text, BODY_MAX, "message"))
            outcome, reason = "opened", f"new ticket from {msg.sender}"
    except TicketError as exc:
        return {"outcome": "quarantined", "reason": f"the ticket service refused it: {exc}"}
    event_id = first_event_after(conn, ticket.id, before)
    stored = attachments.save(
        conn, cfg, msg.parts, inbound_id=inbound_id, ticket_id=ticket.id, event_id=event_id, now=now
    )
    if stored:
        reason += f"; {len(stored)} attachment(s)"
    return {
        "outcome": outcome,
        "reason": reason,
        "customer": ticket.customer,
        "ticket_id": ticket.id,
        "event_id": event_id,
        "_number": ticket.number,
    }


def process(engine: Engine, cfg: XopConfig, raw: bytes, *, now: datetime, folder: str = "INBOX") -> Result:
    """Process one message in one transaction (see the module docstring)."""
    msg = parse(raw)
    with engine.begin() as conn:
        d = decide(msg, Context(conn=conn, cfg=cfg, now=now))
        inbound_id, key = _claim(
            conn, msg, folder=folder, now=now, outcome=d.outcome or "quarantined", reason=d.reason
        )
        if inbound_id is None:
            return Result("duplicate", key)
        values = _act(conn, cfg, msg, d, now, inbound_id)
        number = values.pop("_number", None)
        if d.customer and "customer" not in values:
            values["customer"] = d.customer
        if values:
            conn.execute(update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(**values))
        outcome = values.get("outcome", d.outcome)
        return Result(outcome, key, values.get("reason", d.reason), number)


def quarantine_failure(engine: Engine, raw: bytes, *, now: datetime, folder: str, error: str) -> Result:
    """Record a message whose processing failed unexpectedly, so it is kept for a person to decide."""
    msg = parse(raw)
    with engine.begin() as conn:
        inbound_id, key = _claim(
            conn, msg, folder=folder, now=now, outcome="quarantined", reason=f"intake error: {error}"[:2000]
        )
    return Result("quarantined" if inbound_id else "duplicate", key, f"intake error: {error}")

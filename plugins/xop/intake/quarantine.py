"""The quarantine: messages the intake would not act on alone, and what staff decide about them.

A quarantined message (unknown sender, unreadable, over a limit, a reply from a stranger, a
refused action) is a row of ``inbound_messages`` with its full original bytes. Staff
**accept** it (open a ticket for a customer, or attach it to a ticket as the sender's update)
or **reject** it (kept, marked rejected). Nothing is ever deleted. Each decision is one
transaction, guarded by the row's outcome, so two people deciding at once cannot both act.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from xop.core.config import XopConfig
from xop.core.errors import InvalidInput, InvalidTransition, TicketNotFound
from xop.intake.apply import (
    BODY_MAX,
    clip,
    customer_actor,
    first_event_after,
    newest_event,
    ticket_subject,
)
from xop.intake.parse import parse
from xop.intake.tables import inbound_messages, notification_bounces
from xop.notify.tables import notifications
from xop.tickets import attachments
from xop.tickets.service import service_on
from xop.tickets.tables import tickets

_LISTED = [c for c in inbound_messages.c if c.name != "raw"]


def list_messages(
    engine: Engine, *, outcome: str = "quarantined", limit: int = 100, before_id: int | None = None
) -> list[dict[str, Any]]:
    """Records of one outcome, newest first, without their bytes (page with ``before_id``)."""
    q = select(*_LISTED).where(inbound_messages.c.outcome == outcome)
    if before_id is not None:
        q = q.where(inbound_messages.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(inbound_messages.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def count(engine: Engine, outcome: str = "quarantined") -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(inbound_messages).where(inbound_messages.c.outcome == outcome)
        return conn.execute(q).scalar_one()


def message(engine: Engine, inbound_id: int) -> dict[str, Any]:
    """One record with its readable text, the parser's problems and the attachment names."""
    with engine.connect() as conn:
        row = conn.execute(select(inbound_messages).where(inbound_messages.c.id == inbound_id)).first()
    if row is None:
        raise TicketNotFound(f"no inbound message {inbound_id}")
    out = dict(row._mapping)
    msg = parse(out.pop("raw"))
    out |= {
        "text": msg.text[:BODY_MAX],
        "problems": msg.problems,
        "parts": [
            {"filename": p.filename, "content_type": p.content_type, "size": len(p.data)} for p in msg.parts
        ],
    }
    return out


def source(engine: Engine, inbound_id: int) -> bytes:
    """The full original message, byte for byte."""
    with engine.connect() as conn:
        raw = conn.execute(select(inbound_messages.c.raw).where(inbound_messages.c.id == inbound_id)).scalar()
    if raw is None:
        raise TicketNotFound(f"no inbound message {inbound_id}")
    return bytes(raw)


def _claim_decision(conn: Connection, inbound_id: int) -> dict[str, Any]:
    q = select(inbound_messages).where(inbound_messages.c.id == inbound_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise TicketNotFound(f"no inbound message {inbound_id}")
    if row.outcome != "quarantined":
        who = row.decided_by or "the intake"
        raise InvalidTransition(f"inbound message {inbound_id} is {row.outcome} (by {who}), not quarantined")
    return dict(row._mapping)


def accept(
    engine: Engine,
    cfg: XopConfig,
    inbound_id: int,
    *,
    staff: str,
    now: datetime,
    ticket: str | None = None,
    customer: str | None = None,
    system: str | None = None,
    reporter_email: str | None = None,
) -> dict[str, Any]:
    """Accept a quarantined message: attach it to ``ticket`` as the sender's public update, or open
    a ticket for ``customer`` (reported by the sender, or ``reporter_email`` when it has none)."""
    if (ticket is None) == (customer is None):
        raise InvalidInput("ticket", "give either a ticket number to attach to or a customer to open one for")
    with engine.begin() as conn:
        row = _claim_decision(conn, inbound_id)
        msg = parse(row["raw"])
        sender = reporter_email or msg.sender
        svc = service_on(conn, cfg)
        before = newest_event(conn)
        text = msg.reply_text if ticket else msg.text
        body = clip(text, BODY_MAX, "message") or "(no readable text: see the message's source)"
        if ticket is not None:
            t = svc.respond(ticket, actor=customer_actor(sender), body=body, now=now)
            done = f"accepted by {staff}: attached to {t.number}"
        else:
            if not sender:
                raise InvalidInput("reporter_email", "the message has no sender: give the reporter's address")
            t = svc.open(
                customer=customer,
                system=system,
                subject=ticket_subject(msg),
                description=body,
                reporter_name=(msg.sender_name or sender)[:120],
                reporter_email=sender,
                level=2,
                actor=customer_actor(sender),
                now=now,
            )
            done = f"accepted by {staff}: opened {t.number}"
        event_id = first_event_after(conn, t.id, before)
        attachments.save(
            conn, cfg, msg.parts, inbound_id=inbound_id, ticket_id=t.id, event_id=event_id, now=now
        )
        values = {
            "outcome": "accepted",
            "reason": f"{row['reason']}; {done}",
            "customer": t.customer,
            "ticket_id": t.id,
            "event_id": event_id,
            "decided_at": now,
            "decided_by": staff[:120],
        }
        conn.execute(update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(**values))
    return {"id": inbound_id, "ticket": t.number, **values}


def reject(engine: Engine, inbound_id: int, *, staff: str, now: datetime, reason: str = "") -> dict[str, Any]:
    """Reject a quarantined message: it stays, marked rejected, with who decided and why."""
    reason = " ".join((reason or "").split())[:2000]
    with engine.begin() as conn:
        row = _claim_decision(conn, inbound_id)
        values = {
            "outcome": "rejected",
            "reason": f"{row['reason']}; rejected by {staff}" + (f": {reason}" if reason else ""),
            "decided_at": now,
            "decided_by": staff[:120],
        }
        conn.execute(update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(**values))
    return {"id": inbound_id, **values}


def ticket_mail(engine: Engine, number: str) -> dict[str, Any]:
    """A ticket's attachments (without bytes), the messages that reached it, and the bounces of its emails."""
    with engine.connect() as conn:
        tid = conn.execute(select(tickets.c.id).where(tickets.c.number == number.strip().upper())).scalar()
        if tid is None:
            raise TicketNotFound(f"no ticket {number!r}")
        messages = conn.execute(
            select(*[c for c in _LISTED if c.name not in ("reason",)], inbound_messages.c.reason)
            .where(inbound_messages.c.ticket_id == tid)
            .order_by(inbound_messages.c.id)
        ).all()
        bounced = conn.execute(
            select(
                notification_bounces,
                notifications.c.kind,
                notifications.c.message_id.label("notification_message_id"),
            )
            .join(notifications, notifications.c.id == notification_bounces.c.notification_id)
            .where(notifications.c.ticket_id == tid)
            .order_by(notification_bounces.c.id)
        ).all()
    return {
        "attachments": attachments.list_for_ticket(engine, tid),
        "messages": [dict(r._mapping) for r in messages],
        "bounces": [dict(r._mapping) for r in bounced],
    }

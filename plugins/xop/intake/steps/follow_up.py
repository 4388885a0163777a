"""Which ticket a reply belongs to: the ticket number in the subject, else its References.

``RE: [XOP-000123] ...``, ``AW:``, ``Fwd:`` ... all carry the number. Mail clients that drop or
rewrite the subject still send ``In-Reply-To``/``References`` with the Message-ID of the email
they answer: one of our outbox's, or an earlier customer message of the ticket.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision
from xop.intake.tables import inbound_messages
from xop.notify.tables import notifications
from xop.tickets.tables import tickets

TOKEN = re.compile(r"\bXOP-(\d{6,9})\b", re.IGNORECASE)


def _ticket(ctx: Context, **where) -> dict | None:
    ((col, value),) = where.items()
    row = ctx.conn.execute(select(tickets).where(tickets.c[col] == value)).first()
    return dict(row._mapping) if row else None


def follow_up_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    for m in TOKEN.finditer(msg.subject):
        t = _ticket(ctx, number=f"XOP-{m.group(1)}")
        if t is not None:
            d.ticket, d.matched_by = t, f"ticket number {t['number']} in the subject"
            return
    if not msg.references:
        return
    refs = list(msg.references)
    hit = ctx.conn.execute(
        select(notifications.c.ticket_id, notifications.c.message_id)
        .where(notifications.c.message_id.in_(refs), notifications.c.ticket_id.is_not(None))
        .limit(1)
    ).first()
    if hit is None:
        hit = ctx.conn.execute(
            select(inbound_messages.c.ticket_id, inbound_messages.c.message_id)
            .where(inbound_messages.c.message_id.in_(refs), inbound_messages.c.ticket_id.is_not(None))
            .limit(1)
        ).first()
    if hit is not None:
        t = _ticket(ctx, id=hit.ticket_id)
        if t is not None:
            d.ticket, d.matched_by = t, f"In-Reply-To/References {hit.message_id}"

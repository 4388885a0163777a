"""Our own messages (a loop back into the support mailbox) never open a ticket or send mail."""

from __future__ import annotations

from email.utils import parseaddr

from sqlalchemy import select

from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision
from xop.notify.tables import notifications


def own_addresses(ctx: Context) -> set[str]:
    own = {str(a).lower() for a in ctx.spec.own_addresses}
    own.add(parseaddr(ctx.cfg.support.sender)[1].lower())
    return own


def own_message_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    if msg.sender in own_addresses(ctx):
        d.settle("own", f"sent from our own address {msg.sender}")
        return
    if msg.message_id:
        hit = ctx.conn.execute(
            select(notifications.c.id).where(notifications.c.message_id == msg.message_id)
        ).first()
        if hit is not None:
            d.settle("own", f"Message-ID {msg.message_id} is our notification #{hit.id}")

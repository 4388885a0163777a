"""Attachments over the per-message or per-ticket limit send the message to quarantine (kept whole)."""

from __future__ import annotations

from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision
from xop.tickets.attachments import stored_bytes


def size_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    size = msg.attachment_bytes
    if not size:
        return
    limit = ctx.spec.max_message_attachment_bytes
    if size > limit:
        d.settle(
            "quarantined", f"attachments of {size} bytes exceed intake.max_message_attachment_bytes ({limit})"
        )
        return
    if d.ticket is not None:
        stored = stored_bytes(ctx.conn, d.ticket["id"])
        limit = ctx.spec.max_ticket_attachment_bytes
        if stored + size > limit:
            d.settle(
                "quarantined",
                f"{d.ticket['number']} already has {stored} bytes of attachments; {size} more would exceed "
                f"intake.max_ticket_attachment_bytes ({limit})",
            )

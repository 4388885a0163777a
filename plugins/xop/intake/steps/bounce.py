"""Delivery reports never open a ticket; a bounce of one of our emails is recorded on its outbox row.

Recognised: RFC 3464 DSNs (``multipart/report; report-type=delivery-status``) and the older
mailer-daemon / postmaster reports. The email a report is about is found by the Message-ID in
its returned message or headers (``message/rfc822``, ``text/rfc822-headers``), matched against
the outbox's Message-IDs.
"""

from __future__ import annotations

import re
from email.message import Message

from sqlalchemy import select

from xop.intake.parse import Parsed
from xop.intake.steps.base import Bounce, Context, Decision
from xop.notify.tables import notifications

_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery (status notification|failure|has failed)|returned mail|"
    r"mail delivery failed|failure notice|nondeliverable|non-delivery|unzustellbar)",
    re.IGNORECASE,
)
_MSGID_LINE = re.compile(rb"^Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _is_report(msg: Parsed) -> bool:
    m = msg.message
    if (
        m is not None
        and m.get_content_type() == "multipart/report"
        and str(m.get_param("report-type") or "").lower() == "delivery-status"
    ):
        return True
    local = (msg.sender or "").split("@")[0]
    return local in _DAEMONS or (
        msg.header("return-path").strip() == "<>" and bool(_SUBJECT.search(msg.subject))
    )


def _recipient_blocks(m: Message) -> list[Message]:
    blocks: list[Message] = []
    for part in m.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks += [b for b in payload if b.get("Action") or b.get("Final-Recipient")]
    return blocks


def _addr(value: str | None) -> str:
    value = str(value or "")
    return value.split(";", 1)[-1].strip().strip("<>").lower()


def _original_ids(msg: Parsed) -> list[str]:
    ids = []
    for part in msg.parts:
        if part.content_type in ("message/rfc822", "text/rfc822-headers"):
            ids += [m.decode("ascii", "replace") for m in _MSGID_LINE.findall(part.data)]
    if not ids:  # an old-style bounce quoting the message in its text
        ids = [m.decode("ascii", "replace") for m in _MSGID_LINE.findall(msg.text.encode("utf-8", "replace"))]
    ids += list(msg.references)
    return [i for i in dict.fromkeys(ids) if i != msg.message_id]


def bounce_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    if not _is_report(msg):
        return
    ids = _original_ids(msg)
    ours = []
    if ids:
        ours = ctx.conn.execute(
            select(notifications.c.id, notifications.c.recipient, notifications.c.message_id).where(
                notifications.c.message_id.in_(ids)
            )
        ).all()
    blocks = _recipient_blocks(msg.message) if msg.message is not None else []
    if not blocks:
        status = _STATUS.search(msg.text)
        for n in ours:
            d.bounces.append(
                Bounce(n.recipient, "failed", status.group(1) if status else "", msg.text[:500].strip(), n.id)
            )
    for b in blocks:
        rcpt = _addr(b.get("Final-Recipient") or b.get("Original-Recipient"))
        action = str(b.get("Action", "")).strip().lower() or "failed"
        match = next((n for n in ours if n.recipient.lower() == rcpt), ours[0] if len(ours) == 1 else None)
        d.bounces.append(
            Bounce(
                recipient=rcpt or (match.recipient if match else ""),
                action=action[:16],
                status=str(b.get("Status", "")).strip()[:16],
                diagnostic=" ".join(str(b.get("Diagnostic-Code", "")).split())[:2000],
                notification_id=match.id if match else None,
            )
        )
    about = ", ".join(f"#{b.notification_id} {b.recipient} {b.action} {b.status}".strip() for b in d.bounces)
    d.settle("bounce", f"delivery report about {about}" if ours else "delivery report about no email of ours")

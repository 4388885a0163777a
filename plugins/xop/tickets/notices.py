"""Which emails a ticket event causes, to whom, with what context.

The ticket service and the sweep call :func:`notify` inside the transaction that writes the
event, so an email is in the outbox exactly when its event is in the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.notify.outbox import enqueue_many

#: Customer-facing emails and who receives them besides the reporter.
CUSTOMER_KINDS = {
    "ticket_opened",
    "ticket_updated",
    "ticket_escalated",
    "ticket_recovered",
    "rca",
    "ticket_resolved",
    "ticket_closed",
}


def sla_targets(cfg: XopConfig, customer: str | None, urgency: str) -> list[dict[str, str]]:
    """Rows of the SLA table for an acknowledgement: what the customer may expect, and when."""
    policy = cfg.sla_for(customer)
    rows = []
    for name in CLOCK_NAMES:
        clock = policy.clocks[name]
        raw = clock.targets[urgency]
        unit = {"h": "hours", "d": "days", "m": "minutes"}[raw.strip()[-1]]
        kind = "business " if clock.calendar == "business" else ""
        rows.append(
            {"clock": name, "label": CLOCK_LABELS[name], "target": f"{raw.strip()[:-1]} {kind}{unit}"}
        )
    return rows


def contact_context(cfg: XopConfig, level: int) -> dict[str, Any]:
    c = cfg.escalation.emergency if level > 4 else cfg.escalation.for_level(max(level, 2))
    return c.model_dump()


def ticket_context(ticket: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "number",
        "subject",
        "description",
        "customer",
        "system",
        "urgency",
        "level",
        "state",
        "reporter_name",
        "reporter_email",
        "opened_at",
        "source",
    )
    return {k: ticket.get(k) for k in keys}


def emails_for(
    cfg: XopConfig,
    *,
    kind: str,
    ticket: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
    recipients: Iterable[str] = (),
    audience: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The outbox items of one event (see :func:`xop.notify.outbox.enqueue_many`).

    Customer kinds go to the reporter (and, for ``ticket_closed``, the customer's management
    contacts); internal kinds go to ``recipients``. The de-duplication key is
    (kind, ticket, event, recipient), so a rerun after a crash queues nothing twice.
    """
    audience = audience or ("customer" if kind in CUSTOMER_KINDS else "internal")
    to = list(recipients)
    if audience == "customer" and not to:
        to = [ticket["reporter_email"]]
        if kind == "ticket_closed":
            to += [m.email for m in _management(cfg, ticket["customer"])]
    context = {
        "ticket": ticket_context(ticket),
        "event": {k: event.get(k) for k in ("id", "kind", "actor", "body", "at")},
        "contact": contact_context(cfg, ticket["level"]),
        "support": cfg.escalation.level2.model_dump(),
        "ticket_url": cfg.support.ticket_url.format(number=ticket["number"]),
    } | (extra or {})
    return [
        {
            "kind": kind,
            "context": context,
            "recipient": rcpt,
            "audience": audience,
            "dedup_key": f"{kind}:t{ticket['id']}:e{event['id']}:{rcpt}",
            "now": now,
            "ticket_id": ticket["id"],
            "event_id": event["id"],
            "sender": cfg.support.sender,
        }
        for rcpt in dict.fromkeys(to)  # keeps order, drops repeats
    ]


def notify(conn: Connection, cfg: XopConfig, **kw: Any) -> int:
    """Queue the emails of one event in the caller's transaction; returns how many were new."""
    return enqueue_many(conn, emails_for(cfg, **kw))


def _management(cfg: XopConfig, customer: str):
    for c in cfg.customers:
        if c.id == customer:
            return c.management_contacts
    return ()

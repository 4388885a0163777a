"""Which emails a ticket event causes, to whom, with what context.

The ticket service and the sweep call :func:`notify` inside the transaction that writes the
event, so an email is in the outbox exactly when its event is in the history.

What a customer reads is decided here, not in the templates: the customer's name (not its id),
due times in the support calendar's zone with the zone named ("Monday 09:30 CST"), targets
with proper plurals ("1 business day"), the signature of the level that owns the ticket, and
who receives what (a monitoring ticket of a customer without management contacts emails nobody
outside XOP).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import humanize
from sqlalchemy import Connection

from xop.core.config import XopConfig, parse_target
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.notify.outbox import enqueue_many
from xop.tickets.model import EMERGENCY, LEVEL_LABELS, level_of

#: Customer-facing emails.
CUSTOMER_KINDS = {
    "ticket_opened",
    "ticket_updated",
    "ticket_escalated",
    "ticket_recovered",
    "rca",
    "ticket_resolved",
    "ticket_closed",
}
#: What the emergency phone number does (seed section 3, note).
EMERGENCY_NOTE = (
    "This number starts the emergency (Firebar dial-out) conference that connects you with XOP staff"
    " members, so that decisions can be made at once."
)


def local_time(cfg: XopConfig, value: datetime | None) -> str | None:
    """``Monday 09:30 CST (2026-12-07)``: an aware time in the support calendar's zone, zone named."""
    if value is None:
        return None
    local = value.astimezone(ZoneInfo(cfg.calendar.timezone))
    return f"{local:%A %H:%M %Z} ({local:%Y-%m-%d})"


def due_text(cfg: XopConfig, due: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a customer is told of the next commitment: label, local due time, paused or not."""
    if not due:
        return None
    return {
        "name": due["name"],
        "label": CLOCK_LABELS[due["name"]],
        "due": local_time(cfg, due["due_at"]),
        "paused": due["paused"],
    }


def duration_text(seconds: int, *, business_day: int | None) -> str:
    """``2 business hours``, ``1 business day``, ``3 days``: plurals by humanize.

    With ``business_day`` (seconds in one business day) a whole number of business days is said
    in days, anything else in business hours (the seed's "24 hours" stays 24 hours); without it
    (24x7 clocks) a day is 24 hours.
    """
    seconds = int(seconds)
    if business_day:
        if seconds % business_day == 0:
            text = humanize.precisedelta(timedelta(days=seconds // business_day), format="%0.0f")
        else:
            text = humanize.precisedelta(
                timedelta(seconds=seconds), minimum_unit="minutes", suppress=["days"], format="%0.0f"
            )
        return re.sub(r"(\d+) (day|hour|minute)", r"\1 business \2", text)
    return humanize.precisedelta(timedelta(seconds=seconds), minimum_unit="minutes", format="%0.0f")


def sla_targets(cfg: XopConfig, customer: str | None, urgency: str) -> list[dict[str, str]]:
    """Rows of the SLA table for an acknowledgement: what the customer may expect."""
    policy = cfg.sla_for(customer)
    rows = []
    for name in CLOCK_NAMES:
        clock = policy.clocks[name]
        business = clock.calendar == "business"
        day = cfg.calendar.day_seconds if business else 86400
        seconds = parse_target(clock.targets[urgency], day_seconds=day)
        rows.append(
            {
                "clock": name,
                "label": CLOCK_LABELS[name],
                "target": duration_text(seconds, business_day=day if business else None),
            }
        )
    return rows


def contact_context(cfg: XopConfig, level: int) -> dict[str, Any]:
    """The contact (name, email, phone, hours) of a model level; Emergency's says what its number does."""
    if level >= EMERGENCY:
        return cfg.escalation.emergency.model_dump() | {"note": EMERGENCY_NOTE, "level_label": "Emergency"}
    return cfg.escalation.for_level(max(level, 2)).model_dump() | {"level_label": LEVEL_LABELS[max(level, 2)]}


def customer_name(cfg: XopConfig, customer_id: str) -> str:
    for c in cfg.customers:
        if c.id == customer_id:
            return c.name
    return customer_id


def ticket_context(cfg: XopConfig, ticket: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "number",
        "subject",
        "description",
        "system",
        "urgency",
        "state",
        "reporter_name",
        "reporter_email",
        "opened_at",
        "source",
    )
    level = level_of(ticket) if "emergency_at" in ticket else ticket["level"]
    return {k: ticket.get(k) for k in keys} | {
        "customer": customer_name(cfg, ticket["customer"]),
        "customer_id": ticket["customer"],
        "level": level,
        "level_label": LEVEL_LABELS.get(level, f"Level {level}"),
    }


def _management(cfg: XopConfig, customer: str):
    for c in cfg.customers:
        if c.id == customer:
            return c.management_contacts
    return ()


def _internal(cfg: XopConfig, address: str) -> bool:
    """An XOP address (internal recipients and escalation contacts): never a customer copy."""
    xop = {str(a).lower() for a in cfg.support.internal_recipients}
    m = cfg.escalation
    xop |= {str(c.email).lower() for c in (m.level2, m.level3, m.level4, m.emergency)}
    return address.lower() in xop


def customer_recipients(cfg: XopConfig, kind: str, ticket: dict[str, Any]) -> list[tuple[str, str]]:
    """(address, greeting name) of a customer email: the reporter, and for the closing report the
    management contacts. Monitoring tickets go to management contacts only; XOP's own addresses
    never receive a "customer" copy."""
    out: list[tuple[str, str]] = []
    management = [(str(m.email), m.name) for m in _management(cfg, ticket["customer"])]
    if ticket.get("source") == "monitoring":
        out = management
    else:
        out = [(ticket["reporter_email"], ticket["reporter_name"])]
        if kind == "ticket_closed":
            out += management
    seen: dict[str, str] = {}
    for address, name in out:
        if not _internal(cfg, address):
            seen.setdefault(address.lower(), (address, name))  # type: ignore[arg-type]
    return list(seen.values())  # type: ignore[arg-type]


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

    Customer kinds go to :func:`customer_recipients` (each greeted by name); internal kinds go to
    ``recipients``. The de-duplication key is (kind, ticket, event, recipient), so a rerun after
    a crash queues nothing twice. Signed by the level that owns the ticket.
    """
    audience = audience or ("customer" if kind in CUSTOMER_KINDS else "internal")
    if audience == "customer" and not recipients:
        to = customer_recipients(cfg, kind, ticket)
    else:
        to = [(r, "") for r in recipients]
    tctx = ticket_context(cfg, ticket)
    owner = contact_context(cfg, tctx["level"])
    context = {
        "ticket": tctx,
        "event": {k: event.get(k) for k in ("id", "kind", "actor", "body", "at")}
        | {"at_local": local_time(cfg, event.get("at"))},
        "contact": owner,
        "support": owner,
        "ticket_url": cfg.support.ticket_url.format(number=ticket["number"]),
    } | (extra or {})
    items = []
    for rcpt, name in {r.lower(): (r, n) for r, n in to}.values():
        ctx = context | ({"recipient_name": name} if name else {})
        items.append(
            {
                "kind": kind,
                "context": ctx,
                "recipient": rcpt,
                "audience": audience,
                "dedup_key": f"{kind}:t{ticket['id']}:e{event['id']}:{rcpt}",
                "now": now,
                "ticket_id": ticket["id"],
                "event_id": event["id"],
                "sender": cfg.support.sender,
            }
        )
    return items


def _bridge_call(cfg: XopConfig) -> dict[str, Any]:
    """i18: when the automatic call to the emergency bridge is on, the emergency email says that a
    follow-up email (``emergency_call``) reports whether the bridge was reached."""
    spec = cfg.emergency_call
    return {"bridge_call": {"number": spec.number}} if spec.enabled else {}


def emergency_emails(
    cfg: XopConfig, ticket: dict[str, Any], event: dict[str, Any], *, clock: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The internal emergency email of an ``emergency`` event: to the owning level and management."""
    emergency = cfg.escalation.emergency
    owner = contact_context(cfg, min(int(ticket["level"]), 4))
    return emails_for(
        cfg,
        kind="emergency",
        ticket=ticket,
        event=event,
        now=now,
        recipients=[owner["email"], str(emergency.email)],
        extra={"clock": clock, "contact": contact_context(cfg, EMERGENCY), "owner": owner}
        | _bridge_call(cfg),
    )


def notify(conn: Connection, cfg: XopConfig, **kw: Any) -> int:
    """Queue the emails of one event in the caller's transaction; returns how many were new."""
    return enqueue_many(conn, emails_for(cfg, **kw))

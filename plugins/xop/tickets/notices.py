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
from sqlalchemy import Connection, select

from xop.core.config import XopConfig, parse_target
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.notify.outbox import enqueue_many
from xop.tickets.model import EMERGENCY, LEVEL_LABELS, level_of
from xop.tickets.tables import ticket_watchers, tickets

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


#: For the configuration last asked about (by identity; the config is frozen): the contact
#: contexts by level, the XOP addresses and each customer's name and management contacts. A sweep
#: builds thousands of emails; ``model_dump`` and a scan of the customers per email were its
#: largest costs. One entry: a reloaded configuration replaces the old one.
_PER_CONFIG: dict[int, tuple[XopConfig, dict[int, dict[str, Any]], frozenset[str], dict[str, Any]]] = {}


def _per_config(cfg: XopConfig) -> tuple[dict[int, dict[str, Any]], frozenset[str], dict[str, Any]]:
    hit = _PER_CONFIG.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        m = cfg.escalation
        contacts = {
            level: m.for_level(level).model_dump() | {"level_label": LEVEL_LABELS[level]}
            for level in (2, 3, 4)
        }
        contacts[EMERGENCY] = m.emergency.model_dump() | {"note": EMERGENCY_NOTE, "level_label": "Emergency"}
        xop = {str(a).lower() for a in cfg.support.internal_recipients}
        xop |= {str(c.email).lower() for c in (m.level2, m.level3, m.level4, m.emergency)}
        customers: dict[str, Any] = {}
        for c in cfg.customers:  # the first of a repeated id wins, as a scan would find it
            customers.setdefault(c.id, (c.name, [(str(x.email), x.name) for x in c.management_contacts]))
        _PER_CONFIG.clear()
        hit = _PER_CONFIG[id(cfg)] = (cfg, contacts, frozenset(xop), customers)
    return hit[1], hit[2], hit[3]


def contact_context(cfg: XopConfig, level: int) -> dict[str, Any]:
    """The contact (name, email, phone, hours) of a model level; Emergency's says what its number does."""
    contacts = _per_config(cfg)[0]
    return dict(contacts[EMERGENCY if level >= EMERGENCY else max(level, 2)])


def customer_name(cfg: XopConfig, customer_id: str) -> str:
    found = _per_config(cfg)[2].get(customer_id)
    return found[0] if found else customer_id


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


def _management(cfg: XopConfig, customer: str) -> list[tuple[str, str]]:
    """(address, name) of the customer's management contacts."""
    found = _per_config(cfg)[2].get(customer)
    return found[1] if found else []


def _internal(cfg: XopConfig, address: str) -> bool:
    """An XOP address (internal recipients and escalation contacts): never a customer copy."""
    return address.lower() in _per_config(cfg)[1]


def customer_recipients(cfg: XopConfig, kind: str, ticket: dict[str, Any]) -> list[tuple[str, str]]:
    """(address, greeting name) of a customer email: the reporter, and for the closing report the
    management contacts. Monitoring tickets go to management contacts only; XOP's own addresses
    never receive a "customer" copy."""
    out: list[tuple[str, str]] = []
    management = _management(cfg, ticket["customer"])
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
    if audience == "internal":  # XOP's readers see who works the ticket; customers never do
        tctx["owner"] = ticket.get("owner")
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


def internal_recipients(
    cfg: XopConfig, ticket: dict[str, Any], *, level: int, owner_only: bool = False
) -> list[str]:
    """Who reads an internal notice of a ticket: its owner first (at their ``staff.emails``
    address), then the mailbox of model ``level`` (the owning level's contact). ``owner_only``
    (an SLA warning before the last threshold): the owner alone when there is one with an
    address; the level's mailbox always gets the last warning and every breach, so nothing rests
    on one person."""
    mailbox = str(contact_context(cfg, level)["email"])
    mine = cfg.staff.email_of(ticket.get("owner"))
    if mine is None:
        return [mailbox]
    return [mine] if owner_only else list(dict.fromkeys([mine, mailbox]))


def watcher_copies(conn: Connection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Internal copies of a ticket's customer emails for the staff who watch it (i16).

    One copy per (email kind, event) and watcher, at the watcher's own XOP address (never a
    customer's: only staff watch, at their ``staff.emails`` address); not to the watcher whose
    action caused the email. The same template renders it, for the internal audience (the owner
    shown, no customer portal link), saying why the watcher receives it.
    """
    originals = {
        (it["kind"], it.get("event_id")): it
        for it in items
        if it["audience"] == "customer" and it["kind"] in CUSTOMER_KINDS and it.get("ticket_id")
    }
    if not originals:
        return []
    ids = list({it["ticket_id"] for it in originals.values()})
    rows = conn.execute(
        select(ticket_watchers).where(ticket_watchers.c.ticket_id.in_(ids)).order_by(ticket_watchers.c.since)
    ).all()
    owners = dict(conn.execute(select(tickets.c.id, tickets.c.owner).where(tickets.c.id.in_(ids))).all())
    watchers: dict[int, list[Any]] = {}
    for w in rows:
        watchers.setdefault(w.ticket_id, []).append(w)
    copies = []
    for (kind, event_id), it in originals.items():
        for w in watchers.get(it["ticket_id"], []):
            if (it["context"].get("event") or {}).get("actor") == w.watcher:
                continue
            ctx = {k: v for k, v in it["context"].items() if k != "recipient_name"}
            ctx["watching"] = w.watcher
            ctx["ticket"] = dict(ctx["ticket"]) | {"owner": owners.get(it["ticket_id"])}
            copies.append(
                it
                | {
                    "context": ctx,
                    "recipient": w.email,
                    "audience": "internal",
                    "dedup_key": f"{kind}:t{it['ticket_id']}:e{event_id}:watch:{w.email.lower()}",
                }
            )
    return copies


def enqueue_with_watchers(conn: Connection, items: list[dict[str, Any]]) -> int:
    """Queue ``items`` and their watchers' copies (:func:`watcher_copies`) in one statement."""
    return enqueue_many(conn, items + watcher_copies(conn, items))


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
        recipients=[
            *internal_recipients(cfg, ticket, level=min(int(ticket["level"]), 4)),
            str(emergency.email),
        ],
        extra={"clock": clock, "contact": contact_context(cfg, EMERGENCY), "owner": owner}
        | _bridge_call(cfg),
    )


def notify(conn: Connection, cfg: XopConfig, **kw: Any) -> int:
    """Queue the emails of one event (and the watchers' copies) in the caller's transaction;
    returns how many were new."""
    return enqueue_with_watchers(conn, emails_for(cfg, **kw))

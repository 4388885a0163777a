"""Which emails a ticket event causes, to whom, with what context.

The ticket service and the sweep call :func:`notify` inside the transaction that writes the
event, so an email is in the outbox exactly when its event is in the history.

What a customer reads is decided here, not in the templates: the customer's name (not its id),
due times in the support calendar's zone with the zone named ("Monday 09:30 CST"), targets
with proper plurals ("1 business day"), the signature of the level that owns the ticket, and
who receives what (a monitoring ticket of a customer without management contacts emails nobody
outside XOP), and what the staff watching the ticket get (:func:`watcher_copies`).

An email of an event is first composed (:func:`compose`: kind, audience, context, ticket and
event), then addressed (:func:`address`: one outbox item per recipient). The watchers' copies
are made from the composed email, so a watcher gets it even when it has no other recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import humanize
from sqlalchemy import Connection

from xop.core.config import XopConfig, parse_target
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.notify.outbox import enqueue_many
from xop.tickets.model import EMERGENCY, LEVEL_LABELS, level_of
from xop.tickets.watching import Watchers

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
    return _local_text(cfg.calendar.timezone, value)


@lru_cache(maxsize=4096)
def _local_text(zone: str, value: datetime) -> str:
    # A sweep's emails share their instants (its "now", the due times of one policy): each is
    # converted and formatted once.
    local = value.astimezone(ZoneInfo(zone))
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


class _Facts(NamedTuple):
    """What the emails of a configuration need, derived once (see :func:`_per_config`)."""

    contacts: dict[int, dict[str, Any]]  # contact context by model level
    xop: frozenset[str]  # XOP's own addresses
    customers: dict[str, tuple[str, list[tuple[str, str]]]]  # id -> name, management (address, name)
    reached: frozenset[str]  # addresses a customer is reached at (never a watcher's copy)


#: For the configuration last asked about (by identity; the config is frozen). A sweep builds
#: thousands of emails; ``model_dump`` and a scan of the customers per email were its largest
#: costs. One entry: a reloaded configuration replaces the old one.
_PER_CONFIG: dict[int, tuple[XopConfig, _Facts]] = {}


def _per_config(cfg: XopConfig) -> _Facts:
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
        customers: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for c in cfg.customers:  # the first of a repeated id wins, as a scan would find it
            customers.setdefault(c.id, (c.name, [(str(x.email), x.name) for x in c.management_contacts]))
        reached = {str(mc.email).lower() for c in cfg.customers for mc in c.management_contacts}
        reached |= {str(ct.email).lower() for ic in cfg.intake.customers for ct in ic.contacts}
        _PER_CONFIG.clear()
        hit = _PER_CONFIG[id(cfg)] = (
            cfg,
            _Facts(contacts, frozenset(xop), customers, frozenset(reached - xop)),
        )
    return hit[1]


def contact_context(cfg: XopConfig, level: int) -> dict[str, Any]:
    """The contact (name, email, phone, hours) of a model level; Emergency's says what its number does."""
    contacts = _per_config(cfg).contacts
    return dict(contacts[EMERGENCY if level >= EMERGENCY else max(level, 2)])


def customer_name(cfg: XopConfig, customer_id: str) -> str:
    found = _per_config(cfg).customers.get(customer_id)
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
    found = _per_config(cfg).customers.get(customer)
    return found[1] if found else []


def _internal(cfg: XopConfig, address: str) -> bool:
    """An XOP address (internal recipients and escalation contacts): never a customer copy."""
    return address.lower() in _per_config(cfg).xop


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


def compose(
    cfg: XopConfig,
    *,
    kind: str,
    ticket: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
    audience: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The email ``kind`` of one event before it is addressed: an outbox item without recipient
    and key (:func:`address` makes those). Internal emails show who owns the ticket; customers
    never see it. Signed by the level that owns the ticket."""
    audience = audience or ("customer" if kind in CUSTOMER_KINDS else "internal")
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
    return {
        "kind": kind,
        "context": context,
        "audience": audience,
        "now": now,
        "ticket_id": ticket["id"],
        "event_id": event["id"],
        "sender": cfg.support.sender,
    }


def address(
    cfg: XopConfig, mail: dict[str, Any], ticket: dict[str, Any], recipients: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The outbox items of a composed email (see :func:`xop.notify.outbox.enqueue_many`).

    Customer kinds go to :func:`customer_recipients` (each greeted by name); internal kinds go to
    ``recipients``. The de-duplication key is (kind, ticket, event, recipient), so a rerun after
    a crash queues nothing twice.
    """
    recipients = list(recipients)
    if mail["audience"] == "customer" and not recipients:
        to = customer_recipients(cfg, mail["kind"], ticket)
    else:
        to = [(r, "") for r in recipients]
    base = f"{mail['kind']}:t{mail['ticket_id']}:e{mail['event_id']}"
    items = []
    for rcpt, name in {r.lower(): (r, n) for r, n in to}.values():
        ctx = mail["context"] | ({"recipient_name": name} if name else {})
        items.append(mail | {"context": ctx, "recipient": rcpt, "dedup_key": f"{base}:{rcpt}"})
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


def watcher_copies(
    conn: Connection, cfg: XopConfig, emails: Iterable[dict[str, Any]], *, watchers: Watchers | None = None
) -> list[dict[str, Any]]:
    """Internal copies of a ticket's emails for the staff who watch it (i16, :mod:`xop.tickets.watching`).

    ``emails``: outbox items (addressed) and composed emails (:func:`compose`, without recipient:
    a customer email nobody outside XOP receives, a customer's reply, an internal note). One copy
    per (kind, event) and watcher, at the watcher's ``staff.emails`` address; none for a watcher
    who is among that email's recipients already, none to the watcher whose action caused it,
    none to an address the customer is reached at (a customer never reads internal text). The
    same template renders it, for the internal audience (the owner shown, no customer portal
    link), saying why the watcher receives it. Emails of no ticket (the sweep's digest) have no
    watchers. ``watchers``: the watchers already read for the batch (else one query here).
    """
    originals: dict[tuple[str, int, Any], tuple[dict[str, Any], set[str]]] = {}
    for it in emails:
        if not it.get("ticket_id"):
            continue
        key = (it["kind"], it["ticket_id"], it.get("event_id"))
        mail, sent = originals.setdefault(key, (it, set()))
        if it.get("recipient"):
            sent.add(it["recipient"].lower())
    if not originals:
        return []
    if watchers is None:
        watchers = Watchers(conn)
    watchers.need(tid for _, tid, _ in originals)
    facts = _per_config(cfg)
    copies = []
    for (kind, ticket_id, event_id), (mail, sent) in originals.items():
        for w in watchers.of(ticket_id):
            rcpt = cfg.staff.email_of(w.watcher)
            if rcpt is None or rcpt.lower() in sent:
                continue  # no longer an address of XOP staff; or a recipient already
            ctx = {k: v for k, v in mail["context"].items() if k != "recipient_name"}
            if (ctx.get("event") or {}).get("actor") == w.watcher:
                continue  # their own action
            reporter = str((ctx.get("ticket") or {}).get("reporter_email") or "").lower()
            if rcpt.lower() in facts.reached or (rcpt.lower() == reporter and reporter not in facts.xop):
                continue  # an address the customer is reached at: never internal text
            ctx["watching"] = w.watcher
            ctx["ticket"] = dict(ctx["ticket"]) | {"owner": w.owner}
            copies.append(
                mail
                | {
                    "context": ctx,
                    "recipient": rcpt,
                    "audience": "internal",
                    "dedup_key": f"{kind}:t{ticket_id}:e{event_id}:watch:{rcpt.lower()}",
                }
            )
    return copies


def enqueue_with_watchers(
    conn: Connection, cfg: XopConfig, emails: Iterable[dict[str, Any]], *, watchers: Watchers | None = None
) -> int:
    """Queue the addressed ``emails`` and the watchers' copies of all of them (composed ones
    included: :func:`watcher_copies`) in one statement; returns how many rows were new."""
    emails = list(emails)
    sent = [it for it in emails if it.get("recipient")]
    copies = watcher_copies(conn, cfg, emails, watchers=watchers)
    return enqueue_many(conn, sent + copies, support=cfg.support)


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
    level = min(int(ticket["level"]), 4)
    extra = {"clock": clock, "contact": contact_context(cfg, EMERGENCY), "owner": contact_context(cfg, level)}
    mail = compose(
        cfg, kind="emergency", ticket=ticket, event=event, now=now, extra=extra | _bridge_call(cfg)
    )
    return address(cfg, mail, ticket, [*internal_recipients(cfg, ticket, level=level), str(emergency.email)])


def notify(
    conn: Connection,
    cfg: XopConfig,
    *,
    ticket: dict[str, Any],
    recipients: Iterable[str] = (),
    watchers: Watchers | None = None,
    **kw: Any,
) -> int:
    """Queue the emails of one event and the watchers' copies (also when the email reaches
    nobody else: a monitoring ticket of a customer without contacts) in the caller's
    transaction; returns how many were new. ``watchers``: already known (else read here)."""
    mail = compose(cfg, ticket=ticket, **kw)
    return enqueue_with_watchers(
        conn, cfg, [mail, *address(cfg, mail, ticket, recipients)], watchers=watchers
    )

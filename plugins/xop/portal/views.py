"""What a customer sees of a ticket: its facts, who works on it, its commitments, its public
history and the actions open to them. Built from the ticket tables in one connection.

Only public events are read; internal notes, internal actors (staff user names, the sweep,
monitoring) and raw event names never reach a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_LABELS
from xop.tickets import Actor, actions_for
from xop.tickets.attachments import human_size
from xop.tickets.tables import attachments, ticket_clocks, ticket_events, tickets

STATE_LABELS = {
    "open": "Open",
    "waiting_customer": "Waiting for your reply",
    "recovered": "Service recovered",
    "resolved": "Resolved",
    "closed": "Closed",
}
LEVEL_LABELS = {
    1: "Level 1 (your own staff)",
    2: "Level 2 (XOP Networks support)",
    3: "Level 3 (XOP Networks engineers)",
    4: "Level 4 (XOP Networks product development)",
}
#: Public event kinds and how a customer reads them; any other public kind is an "Update".
EVENT_LABELS = {
    "opened": "Ticket opened",
    "responded": "Reply",
    "escalated": "Escalated",
    "recovered": "Service recovered",
    "rca_sent": "Root cause analysis",
    "resolved": "Resolved",
    "closed": "Closed",
    "reopened": "Reopened",
}
SUPPORT_NAME = "XOP Networks support"
EMERGENCY_LABEL = "Emergency (XOP Networks management)"
LIST_LIMIT = 200


def _urgency(urgency: str | None, proposed: str | None) -> str:
    if urgency:
        return urgency.capitalize()
    return (
        f"{proposed.capitalize()} (as you proposed; not yet classified)" if proposed else "Not yet classified"
    )


def _label(kind: str, payload: dict[str, Any]) -> str:
    if kind == "escalated" and payload.get("to_level"):
        return f"Escalated to Level {payload['to_level']}"
    return EVENT_LABELS.get(kind, "Update")


@dataclass(frozen=True)
class Moment:
    """A time shown in the support calendar's zone and, when different, the customer's."""

    support: str
    customer: str | None


@dataclass
class TicketView:
    number: str
    subject: str
    description: str
    customer: str
    system: str | None
    state: str
    state_label: str
    level: int
    level_label: str
    urgency: str
    opened: Moment
    reporter: str
    contact: dict[str, Any] | None
    commitments: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


class Clockface:
    """Formats instants in the support zone and the customer's own zone."""

    def __init__(self, cfg: XopConfig, customer: str) -> None:
        self.support_zone = ZoneInfo(cfg.calendar.timezone)
        own = cfg.portal.customer_timezones.get(customer)
        self.customer_zone = ZoneInfo(own) if own and own != cfg.calendar.timezone else None

    def moment(self, at: datetime) -> Moment:
        fmt = "%a %Y-%m-%d %H:%M %Z"
        theirs = at.astimezone(self.customer_zone).strftime(fmt) if self.customer_zone else None
        return Moment(at.astimezone(self.support_zone).strftime(fmt), theirs)


#: The model's actions a customer contact takes here, by their names on the page.
PAGE_ACTIONS = {"respond": "reply", "close": "close", "escalate": "escalate"}


def page_actions(ticket: dict[str, Any], email: str) -> list[str]:
    """The L1 actions the transition table allows this contact on the ticket now."""
    return [PAGE_ACTIONS[a] for a in actions_for(ticket, Actor.customer(email)) if a in PAGE_ACTIONS]


def _who(actor: str, kind: str | None) -> str:
    """A customer contact's own name or address is shown; every XOP-side actor (staff, the
    sweep, monitoring) is "XOP Networks support"."""
    return actor if kind == "customer" else SUPPORT_NAME


def ticket_view(cfg: XopConfig, engine: Engine, number: str, email: str) -> TicketView | None:
    """What the contact ``email`` sees of ``number`` (None if there is no such ticket)."""
    with engine.connect() as conn:
        row = conn.execute(select(tickets).where(tickets.c.number == number)).first()
        if row is None:
            return None
        t = dict(row._mapping)
        events = conn.execute(
            select(
                ticket_events.c.id,
                ticket_events.c.at,
                ticket_events.c.actor,
                ticket_events.c.actor_kind,
                ticket_events.c.kind,
                ticket_events.c.body,
                ticket_events.c.payload,
            )
            .where(ticket_events.c.ticket_id == t["id"], ticket_events.c.public.is_(True))
            .order_by(ticket_events.c.id)
        ).all()
        clocks = conn.execute(
            select(ticket_clocks).where(ticket_clocks.c.ticket_id == t["id"]).order_by(ticket_clocks.c.id)
        ).all()
        files: dict[int, list[dict[str, Any]]] = {}
        for a in conn.execute(_public_files(t["id"]).order_by(attachments.c.id)):
            files.setdefault(a.event_id, []).append(
                {"id": a.id, "name": a.filename, "size": human_size(a.size)}
            )
    face = Clockface(cfg, t["customer"])
    level = t["level"]
    contact = None
    if t.get("emergency_at") is not None:
        contact = cfg.escalation.emergency.model_dump()
    elif level >= 2:
        contact = cfg.escalation.for_level(level).model_dump()
    view = TicketView(
        number=t["number"],
        subject=t["subject"],
        description=t["description"],
        customer=t["customer"],
        system=t["system"],
        state=t["state"],
        state_label=STATE_LABELS.get(t["state"], t["state"]),
        level=level,
        level_label=EMERGENCY_LABEL if t.get("emergency_at") else LEVEL_LABELS.get(level, f"Level {level}"),
        urgency=_urgency(t["urgency"], t["proposed_urgency"]),
        opened=face.moment(t["opened_at"]),
        reporter=t["reporter_name"],
        contact=contact,
        actions=page_actions(t, email),
    )
    for e in events:
        payload = e.payload or {}
        entry = {
            "at": face.moment(e.at),
            "what": _label(e.kind, payload),
            "who": _who(e.actor, e.actor_kind),
            "body": e.body or "",
            "files": files.get(e.id, []),
        }
        if e.kind == "rca_sent":
            entry["sections"] = [
                (title, payload.get(key, ""))
                for title, key in (
                    ("Cause", "cause"),
                    ("Extent", "extent"),
                    ("Actions taken", "actions"),
                    ("Resolution plan", "plan"),
                )
                if payload.get(key)
            ]
        view.history.append(entry)
    for c in clocks:
        c = c._mapping
        if c["met_at"]:
            status, when = "met", face.moment(c["met_at"])
        elif c["breached_at"] and not c["stopped_at"]:
            status, when = "overdue", face.moment(c["due_at"])
        elif c["stopped_at"]:
            continue  # a commitment that no longer applies (closed, or superseded)
        elif c["paused_at"]:
            status, when = "paused while we wait for you", face.moment(c["due_at"]) if c["due_at"] else None
        else:
            status, when = "due", face.moment(c["due_at"]) if c["due_at"] else None
        view.commitments.append(
            {"label": CLOCK_LABELS.get(c["name"], "Commitment"), "status": status, "when": when}
        )
    return view


def _public_files(ticket_id: int):
    """The files a customer sees: those of the ticket's public events, not inline images of
    an email's HTML (a signature's logo)."""
    return (
        select(attachments.c.id, attachments.c.event_id, attachments.c.filename, attachments.c.size)
        .join(ticket_events, ticket_events.c.id == attachments.c.event_id)
        .where(
            attachments.c.ticket_id == ticket_id,
            ticket_events.c.public.is_(True),
            attachments.c.inline.is_(False),
        )
    )


def public_attachment(engine: Engine, number: str, attachment_id: int) -> bool:
    """Whether ``attachment_id`` is a file of the public history of ticket ``number``."""
    with engine.connect() as conn:
        tid = conn.execute(select(tickets.c.id).where(tickets.c.number == number)).scalar_one_or_none()
        if tid is None:
            return False
        q = _public_files(tid).where(attachments.c.id == attachment_id)
        return conn.execute(q).first() is not None


def upload_rules(cfg: XopConfig) -> dict[str, Any]:
    """What the file fields of the forms say and accept."""
    types = cfg.portal.attachment_types
    return {
        "max": cfg.portal.max_attachments,
        "bytes": human_size(cfg.intake.max_message_attachment_bytes),
        "types": ", ".join(types),
        "accept": ",".join(f".{t}" for t in types),
    }


def ticket_customer(engine: Engine, number: str) -> str | None:
    """The customer a ticket belongs to (None if there is no such ticket): the access check."""
    with engine.connect() as conn:
        return conn.execute(select(tickets.c.customer).where(tickets.c.number == number)).scalar_one_or_none()


def company_tickets(cfg: XopConfig, engine: Engine, customer: str) -> list[dict[str, Any]]:
    """The customer's tickets, active ones first, newest first."""
    face = Clockface(cfg, customer)
    active = func.coalesce(tickets.c.closed_at, tickets.c.resolved_at).is_(None)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                tickets.c.number,
                tickets.c.subject,
                tickets.c.state,
                tickets.c.level,
                tickets.c.updated_at,
                tickets.c.system,
            )
            .where(tickets.c.customer == customer)
            .order_by(active.desc(), tickets.c.id.desc())
            .limit(LIST_LIMIT)
        ).all()
    return [
        {
            "number": r.number,
            "subject": r.subject,
            "state": STATE_LABELS.get(r.state, r.state),
            "level": r.level,
            "system": r.system,
            "updated": face.moment(r.updated_at),
        }
        for r in rows
    ]

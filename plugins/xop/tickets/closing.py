"""The closing report a customer's management reads (seed: "close a trouble ticket ... and
provide report to the Customer's management").

Each SLA clock's outcome is computed at the moment of closing: met, met late by how much (in
the clock's own business time), missed, stopped before it was due, or not started. Times are in
the support calendar's zone with the zone named. The history shows public events only, with
XOP's people named by their level and events in words, never internal actors or event names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.sla.policy import calendar
from xop.tickets.model import LEVEL_LABELS
from xop.tickets.notices import duration_text, local_time
from xop.tickets.records import Ticket
from xop.tickets.tables import ticket_clocks, ticket_events

_WORDS = {
    "opened": "Ticket opened",
    "responded": "Reply",
    "classified": "Classification changed",
    "escalated": "Escalated",
    "paused": "Waiting for your reply",
    "resumed": "Work resumed",
    "recovered": "Service recovered",
    "rca_sent": "Root cause analysis sent",
    "resolved": "Resolved",
    "reopened": "Reopened",
}


def public_name(kind: str | None, level: int | None, name: str) -> str:
    """An actor as the customer reads it: XOP's people by their level, never internal names."""
    if kind == "staff" and level:
        return f"XOP {LEVEL_LABELS[level]} support"
    if kind in ("monitoring", "system") or (kind is None and name.startswith("xop-")):
        return "XOP Networks"
    if kind == "customer":
        return name
    return "XOP support"


def _what(row: Any) -> str:
    payload = row.payload or {}
    text = _WORDS.get(row.kind, row.kind.replace("_", " ").capitalize())
    if row.kind == "escalated":
        to = payload.get("to_level")
        text += f" to {LEVEL_LABELS.get(to, f'Level {to}')}" if to else ""
    elif row.kind == "classified":
        text = f"Classified as {payload.get('to')}"
    body = (row.body or "").strip().replace("\n", " ")
    if row.kind == "rca_sent":
        body = payload.get("cause", "")
    return f"{text}: {body}" if body else text


def outcome(cfg: XopConfig, c: dict[str, Any], now: datetime) -> str:
    """One clock's result at ``now`` (closing): met / met late by … / missed / stopped / running."""
    due, met = c["due_at"], c["met_at"]
    business = c["calendar"] == "business"
    day = cfg.calendar.day_seconds if business else None
    cal = calendar(cfg, c["calendar"])
    if met is not None:
        if met <= due:
            return f"met, {local_time(cfg, met)}"
        late = int(cal.elapsed(due, met).total_seconds())
        late_text = duration_text(late, business_day=day) if late > 0 else "less than a minute"
        return f"met late by {late_text}, {local_time(cfg, met)}"
    end = c["paused_at"] or c["stopped_at"] or now
    if c["breached_at"] is not None or due <= end:
        return "missed"
    if c["stopped_at"] is not None:
        return "not needed: stopped before it was due"
    return "within target when the ticket was closed"


def closing_report(
    conn: Connection, cfg: XopConfig, t: Ticket, summary: str, now: datetime
) -> dict[str, Any]:
    """Summary, public history and each SLA clock's outcome at ``now``, for the closing email."""
    events = conn.execute(
        select(ticket_events)
        .where(ticket_events.c.ticket_id == t.id, ticket_events.c.public.is_(True))
        .order_by(ticket_events.c.id)
    ).all()
    rows = [
        dict(r._mapping)
        for r in conn.execute(
            select(ticket_clocks).where(ticket_clocks.c.ticket_id == t.id).order_by(ticket_clocks.c.id)
        )
    ]
    sla = []
    for c in rows:
        label = CLOCK_LABELS[c["name"]] + (f" (reopening {c['cycle']})" if c["cycle"] else "")
        day = cfg.calendar.day_seconds if c["calendar"] == "business" else None
        sla.append(
            {
                "label": label,
                "target": duration_text(c["target_seconds"], business_day=day),
                "due": local_time(cfg, c["due_at"]),
                "result": outcome(cfg, c, now),
            }
        )
    started = {c["name"] for c in rows}
    if t.level >= 2:
        for name in CLOCK_NAMES:
            if name not in started:
                sla.append({"label": CLOCK_LABELS[name], "target": "", "due": "", "result": "not started"})
    timeline = [
        {
            "at": e.at,
            "at_local": local_time(cfg, e.at),
            "actor": public_name(e.actor_kind, e.actor_level, e.actor),
            "body": _what(e),
        }
        for e in events
    ]
    return {"summary": summary, "timeline": timeline, "sla": sla}

"""What the ticket page shows of SLA compliance, with the report's own code: this month so far
per level and clock, open tickets by level and age, the breaches of this week; and one
ticket's clock timeline read from the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from xop.core.config import XopConfig
from xop.core.errors import TicketNotFound
from xop.core.vocabulary import ACTIVE_STATES, CLOCK_LABELS, LEVELS
from xop.notify.render import business_duration
from xop.reports.figures import ALL, Month, compute
from xop.reports.frames import load_frames
from xop.reports.outcomes import CLOCK_LEVEL, business_seconds, clock_outcomes
from xop.reports.timeline import clock_timeline
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

#: Age buckets of open tickets, in business days of the support calendar.
AGE_BUCKETS = ((0, 1, "under 1 day"), (1, 3, "1–3 days"), (3, 10, "3–10 days"), (10, None, "10 days or more"))


def week_start(now: datetime, tz: str) -> datetime:
    """Monday 00:00 of ``now``'s week in ``tz`` (as an aware instant)."""
    local = now.astimezone(ZoneInfo(tz))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo(tz))


def compliance_view(conn: Connection, cfg: XopConfig, *, now: datetime) -> dict[str, Any]:
    tz = cfg.calendar.timezone
    month = Month.containing(now, tz)
    monday = week_start(now, tz)
    frames = load_frames(conn, min(month.start, monday), now + timedelta(microseconds=1))
    figures = compute(cfg, frames, month, as_of=now, scopes=[])[ALL]
    table = figures.by_clock[figures.by_clock["urgency"] == "all"]
    clocks = [
        {
            "level": CLOCK_LEVEL[r["name"]],
            "name": r["name"],
            "label": CLOCK_LABELS[r["name"]],
            **{
                k: int(r[k]) for k in ("tickets", "met", "met_late", "missed", "skipped", "running", "paused")
            },
            "compliance": None if pd.isna(r["compliance"]) else float(r["compliance"]),
            "median_seconds": None if pd.isna(r["median_seconds"]) else float(r["median_seconds"]),
            "p90_seconds": None if pd.isna(r["p90_seconds"]) else float(r["p90_seconds"]),
        }
        for r in table.to_dict("records")
    ]

    t = frames.tickets[frames.tickets["state"].isin(ACTIVE_STATES)]
    day = cfg.calendar.day_seconds
    age = business_seconds(
        cfg, pd.Series("business", index=t.index), t["opened_at"], pd.Series(pd.Timestamp(now), index=t.index)
    )
    levels = t["level"].to_numpy(dtype=np.int64)
    open_by_level = []
    for level in LEVELS:
        mine = age[levels == level]
        row = {"level": level, "total": len(mine)}
        for lo, hi, label in AGE_BUCKETS:
            row[label] = int(((mine >= lo * day) & ((mine < hi * day) if hi else True)).sum())
        open_by_level.append(row)

    out = clock_outcomes(cfg, frames.clocks, frames.events, now)
    late = out[out["status"].isin(("missed", "met_late")) & (out["decided_at"] >= pd.Timestamp(monday))]
    late = late.sort_values(["decided_at", "number"])
    breaches = [
        {
            "number": r["number"],
            "customer": r["customer"],
            "clock": r["name"],
            "label": CLOCK_LABELS[r["name"]],
            "urgency": r["urgency"],
            "status": r["status"],
            "due_at": r["due_at"].to_pydatetime(),
            "late_seconds": int(r["late_seconds"]),
        }
        for r in late.to_dict("records")
    ]
    return {
        "now": now,
        "timezone": tz,
        "month": month.label,
        "week_start": monday,
        "clocks": clocks,
        "open_by_level": open_by_level,
        "age_buckets": [label for _, _, label in AGE_BUCKETS],
        "breaches_this_week": breaches,
    }


def ticket_timeline(
    conn: Connection, cfg: XopConfig, number: str, *, now: datetime, public_only: bool = False
) -> dict[str, Any]:
    row = conn.execute(select(tickets).where(tickets.c.number == number.strip().upper())).first()
    if row is None:
        raise TicketNotFound(f"no ticket {number!r}")
    ticket = dict(row._mapping)
    clocks = [
        dict(r._mapping)
        for r in conn.execute(
            select(ticket_clocks)
            .where(ticket_clocks.c.ticket_id == ticket["id"])
            .order_by(ticket_clocks.c.id)
        )
    ]
    q = select(ticket_events).where(ticket_events.c.ticket_id == ticket["id"]).order_by(ticket_events.c.id)
    events = [dict(r._mapping) for r in conn.execute(q)]
    if public_only:
        events = [e for e in events if e["public"]] + [
            e for e in events if e["kind"] in ("paused", "resumed")
        ]
    return {
        "number": ticket["number"],
        "now": now,
        "clocks": clock_timeline(cfg, ticket, clocks, events, now=now, public_only=public_only),
    }


def public_timeline(engine: Engine, cfg: XopConfig, number: str, *, now: datetime) -> list[dict[str, Any]]:
    """The customer portal's view of the timeline: public events only, no actors, times as text
    in the support calendar's zone and business time used as "3 h 05 min"."""
    tz = ZoneInfo(cfg.calendar.timezone)

    def at(value: datetime | None) -> str | None:
        return value.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") if value else None

    with engine.connect() as conn:
        clocks = ticket_timeline(conn, cfg, number, now=now, public_only=True)["clocks"]
    return [
        {
            "label": c["label"],
            "cycle": c["cycle"],
            "outcome": c["outcome"],
            "used": business_duration(c["used_seconds"]),
            "target": business_duration(c["target_seconds"]),
            "entries": [
                {
                    "when": at(e["at"]),
                    "until": at(e.get("until")),
                    "what": e["label"],
                    "used": business_duration(e["used_seconds"]),
                }
                for e in c["entries"]
            ],
        }
        for c in clocks
    ]


__all__ = ["AGE_BUCKETS", "compliance_view", "public_timeline", "ticket_timeline", "week_start"]

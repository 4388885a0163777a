# ruff: noqa: B023  (the helpers inside the per-ticket loop run within the same iteration)
"""An independent recomputation of a month's clock figures from the raw ticket events.

It walks each ticket's events in order with the scalar calendar (``elapsed``/``add``), keeps
its own clocks (start, pauses, end, breach flag, urgency) and never reads ``ticket_clocks``:
what the report computes set-based from the stored clocks must come out the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from xop.sla.policy import calendar
from xop.tickets.tables import ticket_events, tickets

LEVEL_CLOCKS = {2: ("l2_response",), 3: ("l3_response", "l3_recovery"), 4: ("l4_resolution",)}
LOWER_RESPONSE = {3: ("l2_response",), 4: ("l2_response", "l3_response")}


@dataclass
class RefClock:
    name: str
    cycle: int
    start: datetime
    pauses: list[list[datetime | None]] = field(default_factory=list)
    end: datetime | None = None
    met: bool = False
    breached: bool = False
    urgency: str | None = None


def _business(cfg, a: datetime, b: datetime) -> int:
    return int(calendar(cfg, "business").elapsed(a, b).total_seconds())


def _used(cfg, c: RefClock, until: datetime) -> int:
    used = _business(cfg, c.start, until)
    for p0, p1 in c.pauses:
        used -= _business(cfg, p0, min(p1 or until, until))
    return max(used, 0)


def _breach_instant(cfg, c: RefClock, target: int, as_of: datetime) -> datetime:
    """First instant at which the clock had used its whole target (walking the running spans)."""
    cal = calendar(cfg, "business")
    spans, t = [], c.start
    for p0, p1 in c.pauses:
        spans.append((t, p0))
        t = p1 or as_of
    spans.append((t, None))
    left = target
    for a, b in spans:
        length = _business(cfg, a, b) if b else None
        if length is None or length >= left:
            return cal.add(a, timedelta(seconds=left))
        left -= length
    raise AssertionError("unreachable")


def recompute(
    engine, cfg, customer: str, month_start: datetime, month_end: datetime, as_of: datetime
) -> dict:
    """The month's figures of ``customer``, from its raw events in the database."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ticket_events, tickets.c.customer, tickets.c.proposed_urgency, tickets.c.number)
            .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
            .where(tickets.c.customer == customer)
            .order_by(ticket_events.c.ticket_id, ticket_events.c.id)
        ).all()
    by_ticket: dict[int, list] = {}
    for r in rows:
        by_ticket.setdefault(r.ticket_id, []).append(r)
    return walk(cfg, by_ticket.values(), month_start, month_end, as_of)


def walk(cfg, tickets_events, month_start: datetime, month_end: datetime, as_of: datetime) -> dict:
    """One ticket at a time, one event at a time: each item of ``tickets_events`` is a ticket's
    events in order (objects with ``at``, ``kind``, ``payload``, ``customer``,
    ``proposed_urgency``, ``number``)."""
    counts: Counter = Counter()
    used_met: dict[tuple[str, str], list[int]] = {}
    breaches = []
    recoveries, reopened, resolved = [], 0, 0
    for events in tickets_events:
        clocks: list[RefClock] = []
        urgency = None
        level, cycle, recovered, waiting = 2, 0, False, False
        urg_changes: list[tuple[datetime, str | None]] = []
        cycle_start = None
        first_close_in_month = None
        reopen_after = False

        def running(names=None):
            return [c for c in clocks if c.end is None and (names is None or c.name in names)]

        def start(names, at):
            for n in names:
                if n == "l3_recovery" and recovered:
                    continue
                if any(c.name == n and c.cycle == cycle for c in clocks):
                    continue
                c = RefClock(n, cycle, at)
                if waiting:
                    c.pauses.append([at, None])
                clocks.append(c)

        def finish(names, at, met):
            for c in running(names):
                if c.pauses and c.pauses[-1][1] is None:
                    c.pauses[-1][1] = at
                c.end, c.met = at, met

        for e in events:
            p = e.payload or {}
            if e.kind == "opened":
                level, urgency = p.get("level", 2), p.get("urgency")
                urg_changes.append((e.at, urgency))
                cycle_start = e.at
                if level >= 2:
                    start(["l2_response"], e.at)
            elif e.kind == "responded":
                name = {2: "l2_response", 3: "l3_response"}.get(level)
                if name:
                    finish([name], e.at, True)
            elif e.kind == "escalated":
                to = p["to_level"]
                finish(LOWER_RESPONSE.get(to, ()), e.at, False)
                urgency = p.get("urgency")
                urg_changes.append((e.at, urgency))
                for lv in range(max(level + 1, 2), to + 1):
                    start(LEVEL_CLOCKS[lv], e.at)
                level = to
            elif e.kind == "classified":
                urgency = p["to"]
                urg_changes.append((e.at, urgency))
            elif e.kind == "paused":
                waiting = True
                for c in running():
                    c.pauses.append([e.at, None])
            elif e.kind in ("resumed", "recovered") and waiting:
                waiting = False
                for c in running():
                    if c.pauses and c.pauses[-1][1] is None:
                        c.pauses[-1][1] = e.at
            if e.kind == "recovered":
                finish(["l3_recovery"], e.at, True)
                recovered = True
                if level >= 3:
                    start(["l3_rca"], e.at)
                if cycle_start is not None:
                    recoveries.append((cycle_start, e.at))
                    cycle_start = None
            elif e.kind == "rca_sent":
                finish(["l3_rca"], e.at, True)
            elif e.kind == "resolved":
                finish(["l4_resolution", "l3_recovery"], e.at, True)
                finish(["l2_response", "l3_response"], e.at, False)
                if cycle_start is not None:
                    recoveries.append((cycle_start, e.at))
                    cycle_start = None
            elif e.kind == "closed":
                finish(None, e.at, False)
            elif e.kind == "reopened":
                cycle = p["cycle"]
                recovered = False
                cycle_start = e.at
                if first_close_in_month is not None and e.at > first_close_in_month:
                    reopen_after = True
                if level >= 2:
                    start(["l2_response"], e.at)
            elif e.kind == "sla_breached":
                for c in running([p["clock"]]):
                    c.breached = True
            if (
                e.kind in ("resolved", "closed")
                and month_start <= e.at < month_end
                and first_close_in_month is None
            ):
                first_close_in_month = e.at

        if first_close_in_month is not None:
            resolved += 1
            reopened += reopen_after

        customer_id = events[0].customer
        proposed = events[0].proposed_urgency
        for c in clocks:
            until = c.end or (c.pauses[-1][0] if c.pauses and c.pauses[-1][1] is None else as_of)

            def urgency_at(at):
                value = None
                for when, u in urg_changes:
                    if when <= at:
                        value = u
                return value or proposed or cfg.sla_for(customer_id).default_urgency

            target = cfg.target_seconds(customer_id, c.name, urgency_at(until))
            used = _used(cfg, c, until)
            if c.met:
                status = "met_late" if c.breached or used > target else "met"
            elif c.breached or used >= target:
                status = "missed"
            elif c.end is not None:
                status = "skipped"
            else:
                status = "paused" if until != as_of else "running"
            if status in ("met_late", "missed"):
                decided = _breach_instant(cfg, c, target, as_of)
            elif status in ("met", "skipped"):
                decided = c.end
            else:
                continue
            if not (month_start <= decided < month_end):
                continue
            u = urgency_at(decided)
            counts[(c.name, u, status)] += 1
            if status in ("met", "met_late"):
                used_met.setdefault((c.name, u), []).append(used)
            if status in ("met_late", "missed"):
                breaches.append((events[0].number, c.name, c.cycle, status, max(used - target, 0)))
    mttr = [_business(cfg, a, b) for a, b in recoveries if month_start <= b < month_end]
    return {
        "counts": counts,
        "used_met": used_met,
        "breaches": sorted(breaches),
        "mttr": sum(mttr) / len(mttr) if mttr else None,
        "recoveries": len(mttr),
        "reopened": reopened,
        "resolved": resolved,
    }


def month_bounds(year: int, month: int, tz: str = "America/Chicago") -> tuple[datetime, datetime]:
    z = ZoneInfo(tz)
    start = datetime(year, month, 1, tzinfo=z)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=z)
    return start, end

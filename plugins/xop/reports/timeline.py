"""The explainable timeline of a ticket's SLA clocks: why a clock stands where it stands.

A pure function of one ticket's stored clocks and events and the calendar (no database). For
each clock, in time order: its start, every pause and resume (waiting on the customer), each
reclassification with the old and new target, escalations, warnings, the support-hours gaps
that did not count (nights, weekends, holidays), when it is (or was) due, and how it ended —
met, met late, missed or stopped — each entry with the business time the clock had used at
that instant (``elapsed(start, x)`` minus the pauses before ``x``, as the ticket page counts).

``public_only`` leaves out what comes from internal events (reclassifications, pauses,
warnings are internal in the history) and every actor: that is the customer portal's view.
The clock facts themselves (start, gaps, due, outcome) are the customer's to see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_LABELS
from xop.sla.policy import calendar

#: Events that end a waiting-on-customer pause.
_RESUMING = ("resumed", "recovered", "resolved", "closed", "reopened")
_OUTCOME_LABELS = {
    "met": "met",
    "met_late": "met late",
    "missed": "missed",
    "skipped": "stopped before it was due",
    "paused": "paused",
    "running": "running",
}


def _seconds(cfg: XopConfig, cal_name: str, a: datetime, b: datetime) -> int:
    return int(calendar(cfg, cal_name).elapsed(a, b).total_seconds()) if b > a else 0


def pauses_of(events: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, datetime | None]]:
    """The ticket's waiting-on-customer spans from its events (an open one ends with None)."""
    spans: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = None
    for e in events:
        if e["kind"] == "paused" and since is None:
            since = e["at"]
        elif e["kind"] in _RESUMING and since is not None:
            spans.append((since, e["at"]))
            since = None
    if since is not None:
        spans.append((since, None))
    return spans


def support_gaps(
    cfg: XopConfig, cal_name: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Spans inside ``[start, end)`` outside support hours (none for a 24x7 clock): the room
    between the calendar's own business intervals, so a gap never holds a second that
    :meth:`~xop.sla.calendar.BusinessCalendar.elapsed` counts (DST changes, holidays)."""
    gaps, cursor = [], start
    for a, b in calendar(cfg, cal_name).intervals(start, end):
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def _status(clock: Mapping[str, Any], used: int, end: datetime) -> str:
    target = int(clock["target_seconds"])
    if clock.get("met_at"):
        return "met_late" if clock.get("breached_at") or used > target else "met"
    if clock.get("breached_at") or (clock.get("due_at") and clock["due_at"] <= end):
        return "missed"
    if clock.get("stopped_at"):
        return "skipped"
    return "paused" if clock.get("paused_at") else "running"


def clock_timeline(
    cfg: XopConfig,
    ticket: Mapping[str, Any],
    clocks: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    public_only: bool = False,
) -> list[dict[str, Any]]:
    """One entry list per clock (in the clocks' order); see the module docstring."""
    events = sorted(events, key=lambda e: (e["at"], e.get("id") or 0))
    spans = pauses_of(events)
    return [_one_clock(cfg, ticket, c, events, spans, now=now, public_only=public_only) for c in clocks]


class _Clock:
    """One clock's business time used at any instant (pauses subtracted, projection after now)."""

    def __init__(self, cfg: XopConfig, c: Mapping[str, Any], spans: list, now: datetime) -> None:
        self.cfg, self.cal = cfg, c["calendar"]
        self.start = c["started_at"]
        self.stop = c.get("met_at") or c.get("stopped_at")
        self.end = self.stop or c.get("paused_at") or now
        self.running = self.stop is None and c.get("paused_at") is None
        # The ticket's waiting spans clipped to the clock's life; a clock started while the
        # ticket waited starts paused.
        self.pauses = []
        for p0, p1 in spans:
            a, b = max(p0, self.start), min(p1 or now, self.stop or now)
            if (p1 is None or p1 > self.start) and (self.stop is None or p0 < self.stop) and b >= a:
                self.pauses.append((a, b, p1 is None and self.stop is None))

    def used_at(self, x: datetime) -> int:
        ahead = _seconds(self.cfg, self.cal, self.end, x) if self.running and x > self.end else 0
        x = min(x, self.end)
        spent = _seconds(self.cfg, self.cal, self.start, x)
        for a, b, _open in self.pauses:
            spent -= _seconds(self.cfg, self.cal, a, min(b, x))
        return max(spent, 0) + ahead


def _one_clock(
    cfg: XopConfig,
    ticket: Mapping[str, Any],
    c: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    spans: list,
    *,
    now: datetime,
    public_only: bool,
) -> dict[str, Any]:
    k = _Clock(cfg, c, spans, now)
    horizon = k.stop or max(now, c.get("due_at") or now)
    entries: list[dict[str, Any]] = []

    def add(at: datetime, kind: str, label: str, **extra: Any) -> None:
        entries.append({"at": at, "kind": kind, "label": label, "used_seconds": k.used_at(at), **extra})

    label = CLOCK_LABELS.get(c["name"], c["name"])
    add(k.start, "start", f"{label} started", target_seconds=int(c["target_seconds"]))
    for a, b, still in k.pauses:
        add(a, "pause", "waiting on you" if public_only else "paused: waiting on the customer")
        if not still:
            add(b, "resume", "resumed")
    for e in events:
        at = e["at"]
        if at < k.start or at > horizon:
            continue
        payload = e.get("payload") or {}
        actor = {} if public_only else {"actor": e.get("actor")}
        if e["kind"] == "classified" and not public_only and (k.stop is None or at <= k.stop):
            frm, to = payload.get("from"), payload["to"]
            add(
                at,
                "reclassified",
                f"reclassified {frm or 'unclassified'} → {to}",
                old_target_seconds=cfg.target_seconds(ticket["customer"], c["name"], frm) if frm else None,
                new_target_seconds=cfg.target_seconds(ticket["customer"], c["name"], to),
                **actor,
            )
        elif e["kind"] == "escalated" and at > k.start:
            add(at, "escalated", f"escalated to level {payload.get('to_level')}", **actor)
        elif e["kind"] == "emergency" and payload.get("clock") in (None, c["name"]):
            add(at, "emergency", "Emergency: XOP management called in", **actor)
        elif e["kind"] == "sla_warning" and payload.get("clock") == c["name"] and not public_only:
            add(at, "warning", f"warning sent at {round(100 * float(payload.get('fraction') or 0))} %")
    for a, b in support_gaps(cfg, k.cal, k.start, horizon):
        add(a, "gap", "outside support hours: not counted", until=b)
    used = k.used_at(k.end)
    status = _status(c, used, k.end)
    due = c.get("due_at")
    shown = k.stop is None or due <= k.stop or status in ("met", "skipped") if due else False
    if shown and (c.get("paused_at") is None or due <= c["paused_at"]):
        add(due, "due", "due", target_seconds=int(c["target_seconds"]))
    if c.get("breached_at"):
        add(c["breached_at"], "breached", "breach recorded")
    if c.get("met_at"):
        add(c["met_at"], "met", "met late" if status == "met_late" else "met")
    elif c.get("stopped_at"):
        add(c["stopped_at"], "stopped", "stopped" + (" after its breach" if status == "missed" else ""))
    entries.sort(key=lambda x: (x["at"], x["kind"] != "start"))
    return {
        "name": c["name"],
        "label": label,
        "cycle": c.get("cycle", 0),
        "calendar": k.cal,
        "status": status,
        "outcome": _OUTCOME_LABELS[status],
        "target_seconds": int(c["target_seconds"]),
        "used_seconds": used,
        "paused_seconds": int(c.get("paused_seconds") or 0),
        "due_at": due,
        "entries": entries,
    }


__all__ = ["clock_timeline", "pauses_of", "support_gaps"]

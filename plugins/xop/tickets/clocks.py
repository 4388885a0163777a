"""SLA clocks of tickets: started, met, stopped, paused, resumed and retargeted by ticket events.

Every function here is set-based: it takes many tickets at once, reads the affected clock rows
in one query, computes due dates for all of them with the calendar's vectorised ``add_many``,
and writes them back in one (executemany) statement. The ticket service calls them with one
ticket, the sweep with thousands; there is one implementation of each clock rule.

A clock's business time used at instant ``x`` is ``elapsed(started_at, x) - paused``, so it is
due at ``add(started_at, target + paused)``; a warning at fraction ``f`` of the target is due at
``add(started_at, f * target + paused)``. ``next_check_at`` is the earliest of those the sweep
still has to act on, NULL while the clock is paused, met, stopped or already breached; the
ticket's ``next_due_at`` is the minimum over its clocks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select, update

from xop.core.config import XopConfig
from xop.db.bulk import in_ids, insert_rows, update_rows
from xop.sla.policy import calendar, clock_calendar_name
from xop.tickets.tables import ticket_clocks, tickets

_RUNNING = (ticket_clocks.c.met_at.is_(None), ticket_clocks.c.stopped_at.is_(None))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _ns(values: Iterable[datetime]) -> np.ndarray:
    """Exact int64 ns since the epoch (Python datetimes carry microseconds)."""
    return np.array([(v - _EPOCH) // _US for v in values], dtype=np.int64) * 1000


def _dt(ns: np.int64) -> datetime:
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def schedule(cfg: XopConfig, rows: Sequence[dict[str, Any]]) -> None:
    """Fill ``due_at`` and ``next_check_at`` of clock rows in place (vectorised per calendar).

    A row needs ``customer``, ``calendar``, ``started_at``, ``target_seconds``,
    ``paused_seconds``, ``warned_fraction`` and may carry ``paused_at``, ``breached_at``,
    ``met_at``, ``stopped_at``.
    """
    groups: dict[tuple[str, tuple[float, ...]], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["calendar"], cfg.sla_for(r.get("customer")).warn_at)].append(i)
    for (cal_name, warn_at), idx in groups.items():
        cal = calendar(cfg, cal_name)
        part = [rows[i] for i in idx]
        starts = _ns(r["started_at"] for r in part).view("datetime64[ns]")
        target = np.array([r["target_seconds"] for r in part], dtype=np.int64) * 10**9
        paused = np.array([r.get("paused_seconds") or 0 for r in part], dtype=np.int64) * 10**9
        warned = np.array([r.get("warned_fraction") or 0.0 for r in part])
        due = cal.add_many(starts, (target + paused).view("timedelta64[ns]")).view(np.int64)
        nxt = due.copy()
        for f in sorted(warn_at, reverse=True):  # the smallest unwarned threshold wins last
            at = cal.add_many(
                starts, (np.round(target * f).astype(np.int64) + paused).view("timedelta64[ns]")
            )
            nxt = np.where(warned < f, at.view(np.int64), nxt)
        for r, d, n in zip(part, due, nxt, strict=True):
            r["due_at"] = _dt(d)
            idle = r.get("paused_at") or r.get("met_at") or r.get("stopped_at") or r.get("breached_at")
            r["next_check_at"] = None if idle else _dt(n)


def start_clocks(conn: Connection, cfg: XopConfig, starts: Sequence[dict[str, Any]]) -> None:
    """Start clocks. Each item: ``ticket_id``, ``customer``, ``name``, ``cycle``, ``urgency``, ``at``.

    A clock that already exists for (ticket, name, cycle) is left as it is: starting is idempotent.
    """
    if not starts:
        return
    existing = set(
        conn.execute(
            select(ticket_clocks.c.ticket_id, ticket_clocks.c.name, ticket_clocks.c.cycle).where(
                in_ids(ticket_clocks.c.ticket_id, {s["ticket_id"] for s in starts}, conn)
            )
        ).all()
    )
    rows = []
    for s in starts:
        if (s["ticket_id"], s["name"], s["cycle"]) in existing:
            continue
        rows.append(
            {
                "ticket_id": s["ticket_id"],
                "customer": s["customer"],
                "name": s["name"],
                "cycle": s["cycle"],
                "calendar": clock_calendar_name(cfg, s["customer"], s["name"]),
                "started_at": s["at"],
                "target_seconds": cfg.target_seconds(s["customer"], s["name"], s["urgency"]),
                "paused_seconds": 0,
                "warned_fraction": 0.0,
                "policy_version": cfg.fingerprint,
            }
        )
    if not rows:
        return
    schedule(cfg, rows)
    insert_rows(conn, ticket_clocks, [{k: v for k, v in r.items() if k != "customer"} for r in rows])


def _running(conn: Connection, ticket_ids: Iterable[int], names: Iterable[str] | None = None) -> list[dict]:
    q = (
        select(ticket_clocks, tickets.c.customer)
        .join(tickets, tickets.c.id == ticket_clocks.c.ticket_id)
        .where(in_ids(ticket_clocks.c.ticket_id, ticket_ids, conn), *_RUNNING)
    )
    if names is not None:
        q = q.where(ticket_clocks.c.name.in_(list(names)))
    return [dict(r._mapping) for r in conn.execute(q)]


_WRITTEN = (
    "id",
    "paused_seconds",
    "paused_at",
    "target_seconds",
    "due_at",
    "next_check_at",
    "met_at",
    "stopped_at",
    "policy_version",
)


def _write(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    update_rows(conn, ticket_clocks, [{k: r[k] for k in _WRITTEN} for r in rows])


def _close_pauses(cfg: XopConfig, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Add the business time of open pauses to ``paused_seconds`` (vectorised per calendar)."""
    by_cal: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["paused_at"] is not None:
            by_cal[r["calendar"]].append(r)
    for cal_name, part in by_cal.items():
        starts = _ns(r["paused_at"] for r in part).view("datetime64[ns]")
        ends = np.full(len(part), _ns([now])[0]).view("datetime64[ns]")
        spent = calendar(cfg, cal_name).elapsed_many(starts, ends).view(np.int64) // 10**9
        for r, s in zip(part, spent, strict=True):
            r["paused_seconds"] = int(r["paused_seconds"]) + int(s)
            r["paused_at"] = None


def finish_clocks(
    conn: Connection,
    cfg: XopConfig,
    ticket_ids: Iterable[int],
    names: Iterable[str] | None,
    now: datetime,
    *,
    met: bool,
) -> list[str]:
    """Mark running clocks met (``met=True``) or stopped; returns the names finished."""
    rows = _running(conn, ticket_ids, names)
    _close_pauses(cfg, rows, now)
    for r in rows:
        r["met_at" if met else "stopped_at"] = now
        r["next_check_at"] = None
    _write(conn, rows)
    return [r["name"] for r in rows]


def pause_clocks(conn: Connection, ticket_ids: Iterable[int], now: datetime) -> None:
    conn.execute(
        update(ticket_clocks)
        .where(
            in_ids(ticket_clocks.c.ticket_id, ticket_ids, conn),
            ticket_clocks.c.paused_at.is_(None),
            *_RUNNING,
        )
        .values(paused_at=now, next_check_at=None)
    )


def resume_clocks(conn: Connection, cfg: XopConfig, ticket_ids: Iterable[int], now: datetime) -> None:
    """End the pause of every paused running clock; due dates move by the paused business time."""
    rows = [r for r in _running(conn, ticket_ids) if r["paused_at"] is not None]
    _close_pauses(cfg, rows, now)
    schedule(cfg, rows)
    _write(conn, rows)


def retarget_clocks(conn: Connection, cfg: XopConfig, urgency_by_ticket: dict[int, str]) -> None:
    """Recompute targets and due dates after a reclassification; starts and pauses are kept."""
    rows = _running(conn, urgency_by_ticket)
    for r in rows:
        r["target_seconds"] = cfg.target_seconds(r["customer"], r["name"], urgency_by_ticket[r["ticket_id"]])
        r["policy_version"] = cfg.fingerprint
    schedule(cfg, rows)
    _write(conn, rows)


def refresh_next_due(conn: Connection, ticket_ids: Iterable[int]) -> None:
    """Set each ticket's ``next_due_at`` to the earliest ``next_check_at`` of its clocks."""
    ids = list(ticket_ids)
    if not ids:
        return
    earliest = (
        select(func.min(ticket_clocks.c.next_check_at))
        .where(ticket_clocks.c.ticket_id == tickets.c.id)
        .scalar_subquery()
    )
    conn.execute(update(tickets).where(in_ids(tickets.c.id, ids, conn)).values(next_due_at=earliest))

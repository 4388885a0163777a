"""SLA clocks of tickets: started, met, stopped, paused, resumed and retargeted by ticket events.

Every function here is set-based: it takes many tickets at once, reads the affected clock rows
in one query, computes due dates for all of them with the calendar's vectorised ``add_many``,
and writes them back in one (executemany) statement. The ticket service calls them with one
ticket, the sweep with thousands; there is one implementation of each clock rule.

Due dates and thresholds are computed by the pure :func:`xop.sla.standing.schedule`; the
ticket's ``next_due_at`` is the minimum ``next_check_at`` over its clocks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select, update

from xop.core.config import XopConfig
from xop.db.bulk import in_ids, insert_rows, update_rows
from xop.sla.policy import calendar, clock_calendar_name, effective_urgency
from xop.sla.standing import ns, schedule
from xop.tickets.tables import ticket_clocks, tickets

_RUNNING = (ticket_clocks.c.met_at.is_(None), ticket_clocks.c.stopped_at.is_(None))


def start_clocks(conn: Connection, cfg: XopConfig, starts: Sequence[dict[str, Any]]) -> None:
    """Start clocks. Each item: ``ticket_id``, ``customer``, ``name``, ``cycle``, ``urgency``, ``at``
    and optionally ``paused`` (the ticket waits on the customer: the clock starts paused).

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
    rows = _new_clocks(cfg, starts, existing)
    if rows:
        insert_rows(conn, ticket_clocks, [{k: v for k, v in r.items() if k != "customer"} for r in rows])


def _new_clocks(
    cfg: XopConfig, starts: Sequence[dict[str, Any]], existing: set[tuple[int, str, int]]
) -> list[dict[str, Any]]:
    """The clock rows (scheduled, with ``customer``) that ``starts`` adds; ``existing`` grows."""
    rows = []
    policy: dict[tuple[str, str, str], tuple[str, int]] = {}  # (customer, clock, urgency): same answer
    for s in starts:
        key = (s["ticket_id"], s["name"], s["cycle"])
        if key in existing:
            continue
        existing.add(key)
        which = (s["customer"], s["name"], s["urgency"])
        if which not in policy:
            policy[which] = (
                clock_calendar_name(cfg, s["customer"], s["name"]),
                cfg.target_seconds(s["customer"], s["name"], s["urgency"]),
            )
        cal_name, target = policy[which]
        rows.append(
            {
                "ticket_id": s["ticket_id"],
                "customer": s["customer"],
                "name": s["name"],
                "cycle": s["cycle"],
                "calendar": cal_name,
                "started_at": s["at"],
                "target_seconds": target,
                "paused_seconds": 0,
                "paused_at": s["at"] if s.get("paused") else None,
                "warned_fraction": 0.0,
                "policy_version": cfg.fingerprint,
            }
        )
    schedule(cfg, rows)
    return rows


def _running(conn: Connection, ticket_ids: Iterable[int], names: Iterable[str] | None = None) -> list[dict]:
    q = (
        select(ticket_clocks, tickets.c.customer)
        .join(tickets, tickets.c.id == ticket_clocks.c.ticket_id)
        .where(in_ids(ticket_clocks.c.ticket_id, ticket_ids, conn), *_RUNNING)
    )
    if names is not None:
        q = q.where(ticket_clocks.c.name.in_(list(names)))
    return [dict(r._mapping) for r in conn.execute(q)]


def running(conn: Connection, ticket_ids: Iterable[int], names: Iterable[str] | None = None) -> list[dict]:
    """The running (not met, not stopped) clocks of the tickets, with the ticket's customer."""
    return _running(conn, ticket_ids, names)


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
        starts = ns(r["paused_at"] for r in part).view("datetime64[ns]")
        ends = np.full(len(part), ns([now])[0]).view("datetime64[ns]")
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
    _finish(cfg, rows, now, met=met)
    _write(conn, rows)
    return [r["name"] for r in rows]


def _finish(cfg: XopConfig, rows: Sequence[dict[str, Any]], now: datetime, *, met: bool) -> None:
    _close_pauses(cfg, rows, now)
    for r in rows:
        r["met_at" if met else "stopped_at"] = now
        r["next_check_at"] = None


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


def retarget_clocks(conn: Connection, cfg: XopConfig, urgency_by_ticket: dict[int, str]) -> list[dict]:
    """Recompute targets and due dates (reclassification, policy edit) of running clocks; starts
    and pauses are kept. Returns the rows written, each with its ``old_due_at``."""
    rows = _running(conn, urgency_by_ticket)
    for r in rows:
        r["old_due_at"] = r["due_at"]
        r["target_seconds"] = cfg.target_seconds(r["customer"], r["name"], urgency_by_ticket[r["ticket_id"]])
        r["policy_version"] = cfg.fingerprint
    schedule(cfg, rows)
    _write(conn, rows)
    return rows


def stale_policy_tickets(conn: Connection, cfg: XopConfig, limit: int) -> dict[int, str]:
    """Tickets with a running, unbreached clock computed under another policy (a policy edit):
    ticket id → the urgency its clocks are measured with. Reads the partial index
    ``ix_ticket_clocks_running_policy`` as two range scans (no full scan when nothing is stale)."""
    c, fp = ticket_clocks.c, cfg.fingerprint
    q = (
        select(tickets.c.id, tickets.c.customer, tickets.c.urgency, tickets.c.proposed_urgency)
        .where(
            tickets.c.id.in_(
                select(c.ticket_id)
                .where(c.met_at.is_(None), c.stopped_at.is_(None), c.breached_at.is_(None))
                .where((c.policy_version < fp) | (c.policy_version > fp))
                .limit(limit)
                .scalar_subquery()
            )
        )
        .order_by(tickets.c.id)
    )
    return {r.id: effective_urgency(cfg, r.customer, r.urgency, r.proposed_urgency) for r in conn.execute(q)}


def first_due(conn: Connection, ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Per ticket, its running clock due first (name, due_at, paused): what the customer is told."""
    out: dict[int, dict[str, Any]] = {}
    q = (
        select(
            ticket_clocks.c.ticket_id, ticket_clocks.c.name, ticket_clocks.c.due_at, ticket_clocks.c.paused_at
        )
        .where(
            in_ids(ticket_clocks.c.ticket_id, ticket_ids, conn),
            *_RUNNING,
            ticket_clocks.c.breached_at.is_(None),
        )
        .order_by(ticket_clocks.c.ticket_id, ticket_clocks.c.due_at)
    )
    for r in conn.execute(q):
        out.setdefault(r.ticket_id, {"name": r.name, "due_at": r.due_at, "paused": r.paused_at is not None})
    return out


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


class ClockBook:
    """Every clock of a set of tickets, read in one query, changed in memory by the same rules as
    the functions above (:func:`_finish`, :func:`_new_clocks`), written in one ``UPDATE`` and one
    ``INSERT`` by :meth:`flush`.

    Written for the sweep, which handles thousands of tickets per transaction: the clock rows a
    breach marks and the escalation then stops are the same rows, and each ticket's next due
    time follows from the book without another query. The caller holds the tickets locked
    (PostgreSQL ``FOR UPDATE``) or the database write lock (SQLite), so the book stays true.
    """

    _COLUMNS = (*_WRITTEN, "breached_at", "warned_fraction")

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.by_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            self.by_ticket[r["ticket_id"]].append(r)
        self._dirty: dict[int, dict[str, Any]] = {}
        self._new: list[dict[str, Any]] = []

    @classmethod
    def load(cls, conn: Connection, customers: dict[int, str]) -> ClockBook:
        """The clocks of the tickets ``customers`` names (ticket id -> its customer), by ticket and id."""
        q = (
            select(ticket_clocks)
            .where(in_ids(ticket_clocks.c.ticket_id, customers, conn))
            .order_by(ticket_clocks.c.ticket_id, ticket_clocks.c.id)
        )
        result = conn.execute(q)
        keys = (*result.keys(), "customer")
        return cls(dict(zip(keys, (*r, customers[r.ticket_id]), strict=True)) for r in result)

    def running(self, ticket_ids: Iterable[int], names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        wanted = None if names is None else set(names)
        return [
            r
            for tid in ticket_ids
            for r in self.by_ticket.get(tid, ())
            if r["met_at"] is None and r["stopped_at"] is None and (wanted is None or r["name"] in wanted)
        ]

    def changed(self, rows: Iterable[dict[str, Any]]) -> None:
        """Rows of this book changed by the caller: written by the next :meth:`flush`."""
        for r in rows:
            self._dirty[r["id"]] = r

    def finish(
        self,
        cfg: XopConfig,
        ticket_ids: Iterable[int],
        names: Iterable[str] | None,
        now: datetime,
        *,
        met: bool,
    ) -> list[str]:
        """:func:`finish_clocks` in the book."""
        rows = self.running(ticket_ids, names)
        _finish(cfg, rows, now, met=met)
        self.changed(rows)
        return [r["name"] for r in rows]

    def start(self, cfg: XopConfig, starts: Sequence[dict[str, Any]]) -> None:
        """:func:`start_clocks` in the book."""
        existing = {
            (r["ticket_id"], r["name"], r["cycle"])
            for tid in {s["ticket_id"] for s in starts}
            for r in self.by_ticket.get(tid, ())
        }
        rows = _new_clocks(cfg, starts, existing)
        for r in rows:
            r.update(met_at=None, breached_at=None, stopped_at=None)
            self.by_ticket[r["ticket_id"]].append(r)
        self._new += rows

    def first_due(self, ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """:func:`first_due` from the book."""
        out: dict[int, dict[str, Any]] = {}
        for tid in ticket_ids:
            rows = [r for r in self.running([tid]) if r["breached_at"] is None and r["due_at"] is not None]
            if rows:
                r = min(rows, key=lambda r: r["due_at"])
                out[tid] = {"name": r["name"], "due_at": r["due_at"], "paused": r["paused_at"] is not None}
        return out

    def next_due(self, ticket_id: int) -> datetime | None:
        """The ticket's ``next_due_at`` (:func:`refresh_next_due`): its clocks' earliest next check."""
        checks = [
            r["next_check_at"] for r in self.by_ticket.get(ticket_id, ()) if r["next_check_at"] is not None
        ]
        return min(checks, default=None)

    def flush(self, conn: Connection) -> None:
        """Write the changed rows (one statement) and the new ones (one statement)."""
        cols = self._COLUMNS
        update_rows(conn, ticket_clocks, [{c: r[c] for c in cols} for r in self._dirty.values()])
        if self._new:
            keys = [k for k in self._new[0] if k != "customer"]
            ids = insert_rows(
                conn, ticket_clocks, [{k: r[k] for k in keys} for r in self._new], returning="id"
            )
            for r, clock_id in zip(self._new, ids, strict=True):
                r["id"] = clock_id
        self._dirty, self._new = {}, []

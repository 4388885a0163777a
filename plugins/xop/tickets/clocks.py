"""SLA clocks of tickets: started, met, stopped, paused, resumed and retargeted by ticket events.

One implementation of each clock rule, set-based: a :class:`ClockBook` reads every clock of
a set of tickets in one query, applies the rules in memory (due dates for all rows at once with
the calendar's vectorised ``add_many``) and writes the changed rows in one ``UPDATE`` and the
new ones in one ``INSERT``. The ticket service opens a book of one ticket per action, the sweep
one of thousands.

Due dates and thresholds are computed by the pure :func:`xop.sla.standing.schedule`. The
ticket row carries what its clocks imply for reading it in order (:func:`ticket_keys`):
``next_due_at`` (the sweep's next check) and ``urgent_rank``/``urgent_at`` (the board's "most
urgent first"), written with the clocks by the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from xop.core.config import XopConfig
from xop.db.bulk import in_ids, update_rows, update_then_insert
from xop.sla.policy import calendar, clock_calendar_name, effective_urgency
from xop.sla.standing import ns, schedule
from xop.tickets.tables import ticket_clocks, tickets


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


def _finish(cfg: XopConfig, rows: Sequence[dict[str, Any]], now: datetime, *, met: bool) -> None:
    _close_pauses(cfg, rows, now)
    for r in rows:
        r["met_at" if met else "stopped_at"] = now
        r["next_check_at"] = None


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


#: ``urgent_rank`` of a ticket: some running clock has a due time that orders it (``urgent_at``);
#: every running clock waits on the customer; no running clock.
RANK_DUE, RANK_WAITING, RANK_NONE = 0, 1, 2


def _urgent_at(r: dict[str, Any]) -> datetime | None:
    """What a running clock puts on the board's time line: its due time while it counts, and
    also while it is paused once it is breached (flagged by the sweep, or paused after its due
    time); nothing while it is paused in time (it waits on the customer)."""
    due = r["due_at"]
    if due is None:
        return None
    if r["breached_at"] is not None:
        return min(due, r["breached_at"])
    if r["paused_at"] is None or due <= r["paused_at"]:
        return due
    return None


def ticket_keys(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A ticket's order keys from all its clock rows: ``next_due_at`` (the earliest
    ``next_check_at``: the sweep's index) and ``urgent_rank`` / ``urgent_at`` (the board's index).

    Most urgent first is ``(urgent_rank, urgent_at, id)``: tickets with a counting or breached
    clock by its due time, so the breached come first, the longest overdue leading, then the
    rest by time left (time left is business time up to the due time); then tickets whose
    clocks all wait on the customer; then those without a running clock. The key changes only
    when a clock does (start, meet, stop, pause, resume, retarget, breach), never with the time
    of day, so it is stored and indexed instead of computed per row at each read.
    """
    checks, urgent, running = [], [], False
    for r in rows:
        if r["next_check_at"] is not None:
            checks.append(r["next_check_at"])
        if r["met_at"] is None and r["stopped_at"] is None:
            running = True
            at = _urgent_at(r)
            if at is not None:
                urgent.append(at)
    rank = RANK_DUE if urgent else RANK_WAITING if running else RANK_NONE
    return {
        "next_due_at": min(checks, default=None),
        "urgent_rank": rank,
        "urgent_at": min(urgent, default=None),
    }


class ClockBook:
    """Every clock of a set of tickets, read in one query, changed in memory by the same rules as
    the functions above (:func:`_finish`, :func:`_new_clocks`), written in one ``UPDATE`` and one
    ``INSERT`` by :meth:`flush`.

    The sweep's book holds thousands of tickets: the clock rows a breach marks and the escalation
    then stops are the same rows, and each ticket's order keys follow from the book without
    another query. The caller holds the tickets locked (PostgreSQL ``FOR UPDATE``) or the
    database write lock (SQLite), so the book stays true.
    """

    _COLUMNS = (*_WRITTEN, "breached_at", "warned_fraction")

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.by_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            self.by_ticket[r["ticket_id"]].append(r)
        self._dirty: dict[int, dict[str, Any]] = {}
        self._new: list[dict[str, Any]] = []

    @classmethod
    def load(cls, conn: Connection, tickets_: dict[int, str] | Iterable[int]) -> ClockBook:
        """The clocks of the tickets, by ticket and id. Given ticket id -> customer (what starting
        and retargeting clocks need), each row carries its ticket's ``customer``."""
        customers = tickets_ if isinstance(tickets_, dict) else None
        q = (
            select(ticket_clocks)
            if customers is not None
            else select(ticket_clocks, tickets.c.customer).join(tickets)
        )
        q = q.where(in_ids(ticket_clocks.c.ticket_id, tickets_, conn)).order_by(
            ticket_clocks.c.ticket_id, ticket_clocks.c.id
        )
        result = conn.execute(q)
        if customers is None:
            return cls(dict(r._mapping) for r in result)
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

    def pause(self, ticket_ids: Iterable[int], now: datetime) -> None:
        """Every running clock not yet paused stops counting (waiting on the customer)."""
        rows = [r for r in self.running(ticket_ids) if r["paused_at"] is None]
        for r in rows:
            r.update(paused_at=now, next_check_at=None)
        self.changed(rows)

    def resume(self, cfg: XopConfig, ticket_ids: Iterable[int], now: datetime) -> None:
        """End the pause of every paused running clock; due dates move by the paused business time."""
        rows = [r for r in self.running(ticket_ids) if r["paused_at"] is not None]
        _close_pauses(cfg, rows, now)
        schedule(cfg, rows)
        self.changed(rows)

    def retarget(self, cfg: XopConfig, urgency_by_ticket: dict[int, str]) -> list[dict[str, Any]]:
        """Recompute targets and due dates of running clocks (reclassification, policy edit);
        starts and pauses are kept. Returns the rows changed, each with its ``old_due_at``."""
        rows = self.running(urgency_by_ticket)
        for r in rows:
            r["old_due_at"] = r["due_at"]
            r["target_seconds"] = cfg.target_seconds(
                r["customer"], r["name"], urgency_by_ticket[r["ticket_id"]]
            )
            r["policy_version"] = cfg.fingerprint
        schedule(cfg, rows)
        self.changed(rows)
        return rows

    def keys(self, ticket_id: int) -> dict[str, Any]:
        """The ticket's order keys (:func:`ticket_keys`) from the book."""
        return ticket_keys(self.by_ticket.get(ticket_id, ()))

    def write_keys(self, conn: Connection, ticket_ids: Iterable[int]) -> None:
        """Store the tickets' order keys (one statement)."""
        update_rows(conn, tickets, [{"id": tid} | self.keys(tid) for tid in ticket_ids])

    def flush(self, conn: Connection) -> None:
        """Write the changed rows and the new ones (one statement each; one for both where
        :func:`update_then_insert` can: a service action's clocks)."""
        cols = self._COLUMNS
        changed = [{c: r[c] for c in cols} for r in self._dirty.values()]
        keys = [k for k in self._new[0] if k != "customer"] if self._new else []
        new = [{k: r[k] for k in keys} for r in self._new]
        ids = update_then_insert(conn, ticket_clocks, changed, ticket_clocks, new, returning="id")
        for r, clock_id in zip(self._new, ids, strict=True):
            r["id"] = clock_id
        self._dirty, self._new = {}, []

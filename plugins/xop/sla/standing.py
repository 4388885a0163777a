"""Where SLA clocks stand: due dates, warning thresholds, how far a clock has come. Pure.

A clock's business time used at instant ``x`` is ``elapsed(started_at, x) - paused``, so it is
due at ``add(started_at, target + paused)``; a warning at fraction ``f`` of the target is due at
``add(started_at, f * target + paused)``. ``next_check_at`` is the earliest of those the sweep
still has to act on, NULL while the clock is paused, met, stopped or already breached.

:func:`clock_standings` is the read side (the API, the pages, the reports): how far each clock
has come at an instant. Everything is vectorised per calendar (``add_many`` / ``elapsed_many``)
and works on plain dict rows: no database here (``xop.tickets.clocks`` reads and writes the rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from xop.core.config import XopConfig
from xop.sla.policy import calendar

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def ns(values: Iterable[datetime]) -> np.ndarray:
    """Exact int64 ns since the epoch (Python datetimes carry microseconds)."""
    return np.array([(v - _EPOCH) // _US for v in values], dtype=np.int64) * 1000


def from_ns(value: np.int64) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value) // 1000)


def _groups(cfg: XopConfig, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, tuple[float, ...]], list[int]]:
    groups: dict[tuple[str, tuple[float, ...]], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["calendar"], cfg.sla_for(r.get("customer")).warn_at)].append(i)
    return groups


def _arrays(part: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts = ns(r["started_at"] for r in part).view("datetime64[ns]")
    target = np.array([r["target_seconds"] for r in part], dtype=np.int64) * 10**9
    paused = np.array([r.get("paused_seconds") or 0 for r in part], dtype=np.int64) * 10**9
    return starts, target, paused


def schedule(cfg: XopConfig, rows: Sequence[dict[str, Any]]) -> None:
    """Fill ``due_at`` and ``next_check_at`` of clock rows in place (vectorised per calendar).

    A row needs ``customer``, ``calendar``, ``started_at``, ``target_seconds``,
    ``paused_seconds``, ``warned_fraction`` and may carry ``paused_at``, ``breached_at``,
    ``met_at``, ``stopped_at``.
    """
    for (cal_name, warn_at), idx in _groups(cfg, rows).items():
        cal = calendar(cfg, cal_name)
        part = [rows[i] for i in idx]
        starts, target, paused = _arrays(part)
        warned = np.array([r.get("warned_fraction") or 0.0 for r in part])
        due = cal.add_many(starts, (target + paused).view("timedelta64[ns]")).view(np.int64)
        nxt = due.copy()
        for f in sorted(warn_at, reverse=True):  # the smallest unwarned threshold wins last
            at = cal.add_many(
                starts, (np.round(target * f).astype(np.int64) + paused).view("timedelta64[ns]")
            )
            nxt = np.where(warned < f, at.view(np.int64), nxt)
        for r, d, n in zip(part, due, nxt, strict=True):
            r["due_at"] = from_ns(d)
            idle = r.get("paused_at") or r.get("met_at") or r.get("stopped_at") or r.get("breached_at")
            r["next_check_at"] = None if idle else from_ns(n)


def reached(cfg: XopConfig, rows: Sequence[dict[str, Any]], now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Per clock at ``now``: breached (bool) and the highest warning fraction reached (0 if none)."""
    breached = np.array([r["due_at"] <= now for r in rows], dtype=bool)
    best_all = np.zeros(len(rows))
    now_ns = ns([now])[0]
    for (cal_name, warn_at), idx in _groups(cfg, rows).items():
        part = [rows[i] for i in idx]
        starts, target, paused = _arrays(part)
        cal = calendar(cfg, cal_name)
        best = np.zeros(len(part))
        for f in sorted(warn_at):
            at = cal.add_many(
                starts, (np.round(target * f).astype(np.int64) + paused).view("timedelta64[ns]")
            )
            best = np.where(at.view(np.int64) <= now_ns, f, best)
        best_all[idx] = best
    return breached, best_all


def _dt64(values: Sequence[datetime]) -> np.ndarray:
    return ns(values).view("datetime64[ns]")


def clock_standings(cfg: XopConfig, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """How far each clock has come at ``now``: used and remaining business seconds, percent used,
    status. A clock counts until it is met or stopped (or, while paused, until its pause)."""
    out: list[dict[str, Any]] = [{} for _ in rows]
    by_cal: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_cal[r["calendar"]].append(i)
    for cal_name, idx in by_cal.items():
        cal = calendar(cfg, cal_name)
        part = [rows[i] for i in idx]
        ends = [r["met_at"] or r["stopped_at"] or r["paused_at"] or now for r in part]
        elapsed = (
            cal.elapsed_many(_dt64([r["started_at"] for r in part]), _dt64(ends)).view(np.int64) // 10**9
        )
        open_now = cal.is_open(now)
        for i, r, spent in zip(idx, part, elapsed, strict=True):
            used = max(int(spent) - int(r["paused_seconds"]), 0)
            target = int(r["target_seconds"])
            remaining = target - used
            finished = r["met_at"] is not None or r["stopped_at"] is not None
            if r["met_at"] is not None:
                status = "met_late" if r["breached_at"] is not None or remaining < 0 else "met"
            elif r["stopped_at"] is not None:
                status = "stopped"
            elif r["breached_at"] is not None or (
                r["due_at"] is not None and r["due_at"] <= (r["paused_at"] or now)
            ):
                status = "breached"  # same rule as the ``breached`` filter (xop.tickets.clocks.ticket_keys)
            elif r["paused_at"] is not None:
                status = "paused"
            else:
                status = "running"
            out[i] = {
                "name": r["name"],
                "cycle": r["cycle"],
                "calendar": r["calendar"],
                "status": status,
                "started_at": r["started_at"],
                "due_at": r["due_at"],
                "target_seconds": target,
                "used_seconds": used,
                "remaining_seconds": remaining,
                "percent_used": round(100.0 * used / target, 1) if target > 0 else 100.0,
                "ticking": open_now and not finished and r["paused_at"] is None,
                "paused_at": r["paused_at"],
                "met_at": r["met_at"],
                "breached_at": r["breached_at"],
                "stopped_at": r["stopped_at"],
            }
    return out

"""How each SLA clock ended, for many clocks at once (pandas + the vectorised calendar).

The rule is the ticket page's (:func:`xop.api.queries.clock_standings`), applied to whole
frames: a clock's business time *used* at instant ``x`` is ``elapsed(started_at, x)`` in whole
seconds minus its closed pauses, where ``x`` is when it was met, stopped or paused, else
``as_of``. Then, per clock:

============  ==============================================================  ===============
status        when                                                            decided at
============  ==============================================================  ===============
``met``       met, never breached and used ≤ target                           ``met_at``
``met_late``  met after its due time (breached, or used > target)              the breach
``missed``    not met, and breached or past due (``due_at`` ≤ its end)         the breach
``skipped``   stopped before it was due (escalated past, resolved first)       ``stopped_at``
``paused``    running, paused now, not yet due                                 — (undecided)
``running``   running, not yet due                                             — (undecided)
============  ==============================================================  ===============

"The breach" is ``due_at``, or ``breached_at`` when the sweep saw it earlier than a due time
that later moved (a clock paused and resumed after its breach). A report counts a clock in the
month in which it was decided, in the support calendar's zone. ``late_seconds`` is how much
business time past its target the clock used (at its end, or at ``as_of`` while it runs).

The urgency a clock is reported under is the ticket's at the decision (the last ``opened``,
``classified`` or ``escalated`` event before it), so a ticket reclassified mid-month counts
its earlier clocks under the old urgency and later ones under the new.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from xop.core.config import XopConfig
from xop.sla.policy import calendar

#: Level that owns each clock.
CLOCK_LEVEL = {"l2_response": 2, "l3_response": 3, "l3_recovery": 3, "l3_rca": 3, "l4_resolution": 4}
STATUSES = ("met", "met_late", "missed", "skipped", "paused", "running")
#: Outcomes that count towards compliance (met / all three).
JUDGED = ("met", "met_late", "missed")
DT_COLUMNS = ("started_at", "paused_at", "due_at", "met_at", "breached_at", "stopped_at")


def _utc(value: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"naive instant {value!r}: give an aware one")
    return ts.tz_convert("UTC").as_unit("ns")


def _ns(series: pd.Series) -> np.ndarray:
    """int64 ns of a datetime64[ns, UTC] column (NaT as int64 min)."""
    return series.dt.tz_convert("UTC").dt.as_unit("ns").array.asi8


def business_seconds(cfg: XopConfig, calendars: pd.Series, starts: pd.Series, ends: pd.Series) -> np.ndarray:
    """Whole business seconds between ``starts`` and ``ends``, each row in its own calendar."""
    out = np.zeros(len(starts), dtype=np.int64)
    s_ns, e_ns = _ns(starts), _ns(ends)
    names = calendars.to_numpy()
    for name in pd.unique(names):
        mask = names == name
        cal = calendar(cfg, str(name))
        spent = cal.elapsed_many(s_ns[mask].view("datetime64[ns]"), e_ns[mask].view("datetime64[ns]"))
        out[mask] = spent.view(np.int64) // 10**9
    return out


def clock_outcomes(
    cfg: XopConfig, clocks: pd.DataFrame, urgency_events: pd.DataFrame, as_of: datetime
) -> pd.DataFrame:
    """``clocks`` with ``status``, ``used_seconds``, ``late_seconds``, ``decided_at``, ``level``, ``urgency``.

    ``clocks``: one row per clock with the ``ticket_clocks`` columns plus the ticket's
    ``customer``, ``urgency`` and ``proposed_urgency``. ``urgency_events``: ``ticket_id``, ``at``,
    ``urgency`` (from ``opened``/``classified``/``escalated`` events; may be empty).
    """
    now = _utc(as_of)
    df = clocks.copy()
    if df.empty:
        for col, dtype in (
            ("status", object),
            ("used_seconds", "int64"),
            ("late_seconds", "int64"),
            ("decided_at", "datetime64[ns, UTC]"),
            ("level", "int64"),
        ):
            df[col] = pd.Series(dtype=dtype)
        df["urgency"] = pd.Series(dtype=object)
        return df
    end = df["met_at"].fillna(df["stopped_at"]).fillna(df["paused_at"]).fillna(now)
    spent = business_seconds(cfg, df["calendar"], df["started_at"], end)
    used = np.maximum(spent - df["paused_seconds"].to_numpy(dtype=np.int64), 0)
    target = df["target_seconds"].to_numpy(dtype=np.int64)
    met = df["met_at"].notna().to_numpy()
    stopped = df["stopped_at"].notna().to_numpy()
    breached = df["breached_at"].notna().to_numpy()
    paused = df["paused_at"].notna().to_numpy()
    due_passed = (df["due_at"].notna() & (df["due_at"] <= end)).to_numpy()
    overdue = breached | due_passed
    status = np.select(
        [met & (breached | (used > target)), met, overdue, stopped, paused],
        ["met_late", "met", "missed", "skipped", "paused"],
        default="running",
    )
    breach_at = df["due_at"].where(
        df["breached_at"].isna() | (df["due_at"] <= df["breached_at"]), df["breached_at"]
    )
    decided = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    late = np.isin(status, ("met_late", "missed"))
    decided = decided.where(~late, breach_at)
    decided = decided.where(status != "met", df["met_at"])
    decided = decided.where(status != "skipped", df["stopped_at"])
    df["status"] = status
    df["used_seconds"] = used
    df["late_seconds"] = np.where(late, np.maximum(used - target, 0), 0)
    df["decided_at"] = decided
    df["level"] = df["name"].map(CLOCK_LEVEL).astype("int64")
    df["urgency"] = _urgency_at(cfg, df, urgency_events, decided.fillna(end))
    return df


def _urgency_at(cfg: XopConfig, df: pd.DataFrame, events: pd.DataFrame, at: pd.Series) -> pd.Series:
    """The ticket's urgency at ``at`` per row: last urgency event before it, else proposed, else default."""
    value = np.full(len(df), None, dtype=object)
    if not events.empty:
        right = events.loc[events["urgency"].notna(), ["ticket_id", "at", "urgency"]]
        if not right.empty:
            left = pd.DataFrame(
                {
                    "ticket_id": df["ticket_id"].to_numpy(dtype=np.int64),
                    "t": _ns(at),
                    "row": np.arange(len(df)),
                }
            ).sort_values("t", kind="stable")
            right = pd.DataFrame(
                {
                    "ticket_id": right["ticket_id"].to_numpy(dtype=np.int64),
                    "t": _ns(right["at"]),
                    "urgency": right["urgency"].to_numpy(dtype=object),
                }
            ).sort_values("t", kind="stable")
            merged = pd.merge_asof(left, right, on="t", by="ticket_id", direction="backward")
            value[merged["row"].to_numpy()] = merged["urgency"].to_numpy(dtype=object)
    series = pd.Series(value, index=df.index, dtype=object)
    series = series.where(series.notna(), df["proposed_urgency"])
    defaults = df["customer"].map({c: cfg.sla_for(c).default_urgency for c in pd.unique(df["customer"])})
    return series.where(series.notna(), defaults).astype(object)


__all__ = ["CLOCK_LEVEL", "DT_COLUMNS", "JUDGED", "STATUSES", "business_seconds", "clock_outcomes"]

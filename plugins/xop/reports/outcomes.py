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
from xop.core.vocabulary import CLOCK_NAMES, URGENCY_ORDER
from xop.reports.tally import codes
from xop.sla.policy import calendar

#: Level that owns each clock.
CLOCK_LEVEL = {"l2_response": 2, "l3_response": 3, "l3_recovery": 3, "l3_rca": 3, "l4_resolution": 4}
STATUSES = ("met", "met_late", "missed", "skipped", "paused", "running")
#: Outcomes that count towards compliance (met / all three).
JUDGED = ("met", "met_late", "missed")
_NAT = np.iinfo(np.int64).min
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
    df = clocks.copy(deep=False)
    if df.empty:
        for col, dtype in (
            ("status", object),
            ("used_seconds", "int64"),
            ("late_seconds", "int64"),
            ("decided_at", "datetime64[ns, UTC]"),
            ("status_code", "int8"),
            ("level", "int64"),
        ):
            df[col] = pd.Series(dtype=dtype)
        # The same dtypes as a non-empty result: callers read .cat of both.
        df["status"] = pd.Categorical([], categories=list(STATUSES))
        df["urgency"] = pd.Categorical([], categories=list(URGENCY_ORDER))
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
    code = np.select(
        [met & (breached | (used > target)), met, overdue, stopped, paused],
        [STATUSES.index(x) for x in ("met_late", "met", "missed", "skipped", "paused")],
        default=STATUSES.index("running"),
    ).astype(np.int8)
    due, brk = _ns(df["due_at"]), _ns(df["breached_at"])
    breach_ns = np.where((brk != _NAT) & (brk < due), brk, due)
    late = (code == STATUSES.index("met_late")) | (code == STATUSES.index("missed"))
    decided_ns = np.where(late, breach_ns, _NAT)
    decided_ns = np.where(code == STATUSES.index("met"), _ns(df["met_at"]), decided_ns)
    decided_ns = np.where(code == STATUSES.index("skipped"), _ns(df["stopped_at"]), decided_ns)
    decided = pd.Series(
        pd.DatetimeIndex(decided_ns.view("datetime64[ns]")).tz_localize("UTC"), index=df.index
    )
    df["status_code"] = code
    df["status"] = pd.Categorical.from_codes(code, categories=list(STATUSES))
    df["used_seconds"] = used
    df["late_seconds"] = np.where(late, np.maximum(used - target, 0), 0)
    df["decided_at"] = decided
    df["level"] = np.array([CLOCK_LEVEL.get(n, 0) for n in CLOCK_NAMES], dtype=np.int64)[
        np.maximum(codes(df["name"], CLOCK_NAMES), 0)
    ]
    df["urgency"] = _urgency_at(cfg, df, urgency_events, decided.fillna(end))
    return df


def _urgency_at(cfg: XopConfig, df: pd.DataFrame, events: pd.DataFrame, at: pd.Series) -> pd.Categorical:
    """The ticket's urgency at ``at`` per row: last urgency event before it, else proposed, else default.

    Urgency events are reduced to the changes (an event repeating the ticket's urgency is
    dropped); a ticket with one change is a lookup, only tickets with several take ``merge_asof``.
    """
    value = np.full(len(df), -1, dtype=np.int64)
    has = events["urgency"].notna().to_numpy() if not events.empty else np.zeros(0, dtype=bool)
    if has.any():
        e_tid = events["ticket_id"].to_numpy(dtype=np.int64)[has]
        e_t = _ns(events["at"])[has]
        e_u = codes(events["urgency"].to_numpy(dtype=object)[has], URGENCY_ORDER)
        order = np.lexsort((e_t, e_tid))
        e_tid, e_t, e_u = e_tid[order], e_t[order], e_u[order]
        same = np.zeros(len(e_tid), dtype=bool)
        same[1:] = (e_tid[1:] == e_tid[:-1]) & (e_u[1:] == e_u[:-1])
        e_tid, e_t, e_u = e_tid[~same], e_t[~same], e_u[~same]
        first = np.ones(len(e_tid), dtype=bool)
        first[1:] = e_tid[1:] != e_tid[:-1]
        last = np.ones(len(e_tid), dtype=bool)
        last[:-1] = e_tid[:-1] != e_tid[1:]
        single = first & last
        tid = df["ticket_id"].to_numpy(dtype=np.int64)
        t = _ns(at)
        # One change: the lookup (valid from that event on).
        pos = np.searchsorted(e_tid[single], tid)
        pos = np.minimum(pos, max(int(single.sum()) - 1, 0))
        hit = single.any() & (e_tid[single][pos] == tid) if single.any() else np.zeros(len(tid), dtype=bool)
        if single.any():
            hit &= e_t[single][pos] <= t
            value[hit] = e_u[single][pos][hit]
        many_tickets = np.unique(e_tid[~single])
        rows = np.nonzero(np.isin(tid, many_tickets))[0] if len(many_tickets) else np.zeros(0, dtype=np.int64)
        if len(rows):
            left = pd.DataFrame({"ticket_id": tid[rows], "t": t[rows], "row": rows}).sort_values(
                "t", kind="stable"
            )
            right = pd.DataFrame({"ticket_id": e_tid[~single], "t": e_t[~single], "u": e_u[~single]})
            right = right.sort_values("t", kind="stable")
            merged = pd.merge_asof(left, right, on="t", by="ticket_id", direction="backward")
            value[merged["row"].to_numpy()] = merged["u"].fillna(-1).to_numpy(dtype=np.int64)
    proposed = codes(df["proposed_urgency"], URGENCY_ORDER)
    value = np.where(value >= 0, value, proposed)
    customers = df["customer"].to_numpy(dtype=object)
    defaults = {c: URGENCY_ORDER.index(cfg.sla_for(c).default_urgency) for c in pd.unique(customers)}
    value = np.where(value >= 0, value, _map(customers, defaults))
    return pd.Categorical.from_codes(value, categories=list(URGENCY_ORDER))


def _map(values: np.ndarray, mapping: dict) -> np.ndarray:
    found, uniques = pd.factorize(values)
    lookup = np.array([mapping[u] for u in uniques], dtype=np.int64)
    return lookup[found]


__all__ = ["CLOCK_LEVEL", "DT_COLUMNS", "JUDGED", "STATUSES", "business_seconds", "clock_outcomes"]

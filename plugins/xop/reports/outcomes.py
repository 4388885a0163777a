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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_NAMES, URGENCY_ORDER
from xop.reports.tally import codes, dense, factorize
from xop.sla.policy import calendar

#: Level that owns each clock.
CLOCK_LEVEL = {"l2_response": 2, "l3_response": 3, "l3_recovery": 3, "l3_rca": 3, "l4_resolution": 4}
STATUSES = ("met", "met_late", "missed", "skipped", "paused", "running")
#: Outcomes that count towards compliance (met / all three).
JUDGED = ("met", "met_late", "missed")
NAT = np.iinfo(np.int64).min
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
DT_COLUMNS = ("started_at", "paused_at", "due_at", "met_at", "breached_at", "stopped_at")


def _utc(value: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"naive instant {value!r}: give an aware one")
    return ts.tz_convert("UTC").as_unit("ns")


def as_ns(series: pd.Series) -> np.ndarray:
    """int64 ns of a datetime64[ns, UTC] column (NaT as int64 min)."""
    if series.dtype != _UTC_NS:
        series = series.dt.tz_convert("UTC").dt.as_unit("ns")
    return series.array.asi8


def _first_set(*columns: np.ndarray) -> np.ndarray:
    """Per row, the first of ``columns`` (int64 ns) that is not NaT."""
    out = columns[-1]
    for col in reversed(columns[:-1]):
        out = np.where(col != NAT, col, out)
    return out


def _business_ns(
    cfg: XopConfig, cal_codes: np.ndarray, cal_names: Sequence, s_ns: np.ndarray, e_ns: np.ndarray
) -> np.ndarray:
    """Whole business seconds between int64 ns instants, row ``i`` in ``cal_names[cal_codes[i]]``
    (a code of -1, an unknown calendar, counts in the policy's default: business)."""
    out = np.zeros(len(s_ns), dtype=np.int64)
    present = np.nonzero(np.bincount(cal_codes + 1, minlength=len(cal_names) + 1))[0] - 1
    for code in present:
        mask = cal_codes == code if len(present) > 1 else slice(None)
        cal = calendar(cfg, str(cal_names[code]) if code >= 0 else "business")
        spent = cal.elapsed_many(s_ns[mask].view("datetime64[ns]"), e_ns[mask].view("datetime64[ns]"))
        out[mask] = spent.view(np.int64) // 10**9
    return out


def business_seconds(
    cfg: XopConfig, calendars: pd.Series | str, starts: pd.Series, ends: pd.Series
) -> np.ndarray:
    """Whole business seconds between ``starts`` and ``ends``, each row in its own calendar
    (``calendars``: a column of calendar names, or one name for every row)."""
    if isinstance(calendars, str):
        cal_codes, names = np.zeros(len(starts), dtype=np.int64), [calendars]
    else:
        cal_codes, names = factorize(calendars)
    return _business_ns(cfg, cal_codes, names, as_ns(starts), as_ns(ends))


@dataclass(frozen=True)
class Outcomes:
    """How each clock ended, as arrays aligned with the clocks frame's rows."""

    status: np.ndarray  # int8 position in STATUSES
    used: np.ndarray  # int64 business seconds used
    late: np.ndarray  # int64 business seconds past target (met late or missed), else 0
    decided_ns: np.ndarray  # int64 ns (NaT as int64 min while undecided)
    name: np.ndarray  # int64 position in CLOCK_NAMES
    urgency: np.ndarray  # int64 position in URGENCY_ORDER
    customer: np.ndarray  # int64 position in ``customers``
    customers: np.ndarray  # the distinct customer ids (object)

    @property
    def level(self) -> np.ndarray:
        return _LEVEL_OF[np.maximum(self.name, 0)]


_LEVEL_OF = np.array([CLOCK_LEVEL.get(n, 0) for n in CLOCK_NAMES], dtype=np.int64)


def outcome_arrays(
    cfg: XopConfig, clocks: pd.DataFrame, urgency_events: pd.DataFrame, as_of: datetime
) -> Outcomes:
    """:func:`clock_outcomes` as numpy arrays (what the report's figures group on)."""
    now = _utc(as_of).value
    met_ns, stop_ns, pause_ns = (
        as_ns(clocks["met_at"]),
        as_ns(clocks["stopped_at"]),
        as_ns(clocks["paused_at"]),
    )
    end_ns = _first_set(met_ns, stop_ns, pause_ns, np.full(len(clocks), now, dtype=np.int64))
    cal_codes, cal_names = factorize(clocks["calendar"])
    spent = _business_ns(cfg, cal_codes, cal_names, as_ns(clocks["started_at"]), end_ns)
    used = np.maximum(spent - clocks["paused_seconds"].to_numpy(dtype=np.int64), 0)
    target = clocks["target_seconds"].to_numpy(dtype=np.int64)
    due, brk = as_ns(clocks["due_at"]), as_ns(clocks["breached_at"])
    met, stopped, breached, paused = met_ns != NAT, stop_ns != NAT, brk != NAT, pause_ns != NAT
    overdue = breached | ((due != NAT) & (due <= end_ns))
    code = np.select(
        [met & (breached | (used > target)), met, overdue, stopped, paused],
        [STATUSES.index(x) for x in ("met_late", "met", "missed", "skipped", "paused")],
        default=STATUSES.index("running"),
    ).astype(np.int8)
    breach_ns = np.where(breached & (brk < due), brk, due)
    late = (code == STATUSES.index("met_late")) | (code == STATUSES.index("missed"))
    decided_ns = np.where(late, breach_ns, NAT)
    decided_ns = np.where(code == STATUSES.index("met"), met_ns, decided_ns)
    decided_ns = np.where(code == STATUSES.index("skipped"), stop_ns, decided_ns)
    cust, customers = factorize(clocks["customer"])
    urgency = _urgency_at(
        cfg, clocks, cust, customers, urgency_events, np.where(decided_ns != NAT, decided_ns, end_ns)
    )
    return Outcomes(
        status=code,
        used=used,
        late=np.where(late, np.maximum(used - target, 0), 0),
        decided_ns=decided_ns,
        name=codes(clocks["name"], CLOCK_NAMES),
        urgency=urgency,
        customer=cust,
        customers=customers,
    )


def clock_outcomes(
    cfg: XopConfig, clocks: pd.DataFrame, urgency_events: pd.DataFrame, as_of: datetime
) -> pd.DataFrame:
    """``clocks`` with ``status``, ``used_seconds``, ``late_seconds``, ``decided_at``, ``level``, ``urgency``.

    ``clocks``: one row per clock with the ``ticket_clocks`` columns plus the ticket's
    ``customer``, ``urgency`` and ``proposed_urgency``. ``urgency_events``: ``ticket_id``, ``at``,
    ``urgency`` (from ``opened``/``classified``/``escalated`` events; may be empty).
    """
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
    o = outcome_arrays(cfg, clocks, urgency_events, as_of)
    df["status_code"] = o.status
    df["status"] = pd.Categorical.from_codes(o.status, categories=list(STATUSES))
    df["used_seconds"] = o.used
    df["late_seconds"] = o.late
    df["decided_at"] = pd.Series(
        pd.DatetimeIndex(o.decided_ns.view("datetime64[ns]")).tz_localize("UTC"), index=df.index
    )
    df["level"] = o.level
    df["urgency"] = pd.Categorical.from_codes(o.urgency, categories=list(URGENCY_ORDER))
    return df


def _urgency_at(
    cfg: XopConfig,
    df: pd.DataFrame,
    cust: np.ndarray,
    customers: np.ndarray,
    events: pd.DataFrame,
    t: np.ndarray,
) -> np.ndarray:
    """The ticket's urgency at ``t`` (int64 ns) per row, as a position in URGENCY_ORDER: the last
    urgency event before it, else the proposed urgency, else the customer's default.

    Urgency events are reduced to the changes (an event repeating the ticket's urgency is
    dropped); a ticket with one change is a lookup, only tickets with several take ``merge_asof``.
    """
    value = np.full(len(df), -1, dtype=np.int64)
    e_all = codes(events["urgency"], URGENCY_ORDER) if not events.empty else np.zeros(0, dtype=np.int64)
    has = e_all >= 0
    if has.any():
        e_tid = events["ticket_id"].to_numpy(dtype=np.int64)[has]
        e_t = as_ns(events["at"])[has]
        e_u = e_all[has]
        tid = df["ticket_id"].to_numpy(dtype=np.int64)
        if len(tid) and dense(e_tid, tid):
            # Tickets whose urgency events all name one urgency (most): that urgency, from the
            # first of them on; per-ticket minima and maxima, no sort. The rest below.
            size = max(int(e_tid.max()), int(tid.max())) + 1
            lo_u, hi_u = np.full(size, len(URGENCY_ORDER), dtype=np.int64), np.full(size, -1, dtype=np.int64)
            since = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(lo_u, e_tid, e_u)
            np.maximum.at(hi_u, e_tid, e_u)
            np.minimum.at(since, e_tid, e_t)
            one = lo_u == hi_u
            hit = one[tid] & (since[tid] <= t)
            value[hit] = lo_u[tid[hit]]
            rest = ~one[e_tid]
            e_tid, e_t, e_u = e_tid[rest], e_t[rest], e_u[rest]
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
        if single.any():
            # One change: the lookup (valid from that event on).
            s_tid, s_t, s_u = e_tid[single], e_t[single], e_u[single]
            pos = np.minimum(np.searchsorted(s_tid, tid), len(s_tid) - 1)
            hit = (s_tid[pos] == tid) & (s_t[pos] <= t)
            value[hit] = s_u[pos][hit]
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
    value = np.where(value >= 0, value, codes(df["proposed_urgency"], URGENCY_ORDER))
    defaults = np.array(
        [URGENCY_ORDER.index(cfg.sla_for(c).default_urgency) for c in customers] + [-1], dtype=np.int64
    )
    return np.where(value >= 0, value, defaults[cust])


__all__ = [
    "CLOCK_LEVEL",
    "DT_COLUMNS",
    "JUDGED",
    "NAT",
    "STATUSES",
    "Outcomes",
    "as_ns",
    "business_seconds",
    "clock_outcomes",
    "outcome_arrays",
]

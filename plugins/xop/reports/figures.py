"""The figures of the monthly SLA report, for every customer and XOP as a whole, set-based.

Input: the frames of :mod:`xop.reports.frames`; output: one :class:`SlaFigures` per scope
(a customer id, or ``"*"`` for XOP). Every figure is a ``bincount`` or a sort over integer codes
of all clocks at once, every scope in the same pass (:mod:`xop.reports.tally`); nothing loops
over tickets.

Definitions (also printed under the report's tables):

- *Compliance* of a clock: met ÷ (met + met late + missed) of the clocks decided in the month
  (:mod:`xop.reports.outcomes`); skipped clocks (stopped before they were due) do not count.
- *Time to respond / recover / deliver the RCA / resolve*: median and 90th percentile of the
  business time used by the clocks met in the month (on time or late), pauses excluded.
- *MTTR*: mean business time (support calendar) from a ticket's opening or reopening to its
  recovery (or resolution, when it was resolved without a separate recovery), over the
  recoveries of the month.
- *Reopen rate*: of the tickets resolved or closed in the month, the share reopened since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_NAMES, URGENCY_ORDER
from xop.reports.frames import EVENT_KINDS, Frames
from xop.reports.outcomes import JUDGED, NAT, STATUSES, as_ns, outcome_arrays
from xop.reports.tally import (
    VALUE_BITS,
    bincount,
    codes,
    dense,
    distinct_count,
    factorize,
    group_quantiles,
    pack,
    packable,
    slices,
    sorted_quantiles,
)
from xop.sla.policy import calendar

ALL = "*"


@dataclass(frozen=True)
class Month:
    """A calendar month in the support calendar's zone, as UTC instants ``[start, end)``."""

    year: int
    month: int
    tz: str

    @classmethod
    def parse(cls, text: str, tz: str) -> Month:
        try:
            year, month = (int(p) for p in str(text).split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"month: expected YYYY-MM like 2026-11, got {text!r}") from None
        return cls(year, month, tz)

    @classmethod
    def before(cls, instant: datetime, tz: str) -> Month:
        """The month before the one ``instant`` falls in (locally): what a run on the 1st reports."""
        local = instant.astimezone(ZoneInfo(tz))
        y, m = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        return cls(y, m, tz)

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Month:
        local = instant.astimezone(ZoneInfo(tz))
        return cls(local.year, local.month, tz)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1, self.tz)

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=ZoneInfo(self.tz)).astimezone(ZoneInfo("UTC"))

    @property
    def end(self) -> datetime:
        return self.shift(1).start


@dataclass
class SlaFigures:
    scope: str  # customer id, or ALL
    month: Month
    as_of: datetime
    by_clock: pd.DataFrame  # per (clock, urgency) and per clock ("all"): counts, compliance, median, p90
    breaches: pd.DataFrame  # one row per clock missed or met late in the month
    by_system: pd.DataFrame
    by_source: pd.DataFrame
    trend: pd.DataFrame  # month label x clock -> compliance (NaN: nothing decided)
    mttr_seconds: float | None
    recoveries: int
    reopened: int
    resolved: int
    tickets_opened: int
    extras: dict = field(default_factory=dict)

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None


def month_index(series: pd.Series, tz: str) -> pd.Series:
    """``year * 12 + month - 1`` of each instant, in ``tz`` (NaT → -1)."""
    local = series.dt.tz_convert(tz)
    out = local.dt.year * 12 + local.dt.month - 1
    return out.fillna(-1).astype("int64")


NAMES = list(CLOCK_NAMES)
URGS = list(URGENCY_ORDER)
N_NAME, N_URG, N_STATUS = len(NAMES), len(URGS), len(STATUSES)
QS = (0.5, 0.9)


_ROW_NAMES = np.repeat(np.array(NAMES, dtype=object), N_URG + 1)
_ROW_URGENCIES = np.array(["all", *URGS] * N_NAME, dtype=object)
_JUDGED_AT = [STATUSES.index(s) for s in JUDGED]


def clock_table(
    status_counts: np.ndarray,
    tickets: np.ndarray,
    quantiles: np.ndarray,
    total_counts: np.ndarray,
    total_tickets: np.ndarray,
    total_quantiles: np.ndarray,
) -> pd.DataFrame:
    """The scopes' tables, one after another: per clock, an "all" row then a row per urgency.

    Shapes: ``status_counts`` (scope, clock, urgency, status), ``tickets`` (scope, clock,
    urgency), ``quantiles`` (scope, clock, urgency, 2); the ``total_*`` ones without the
    urgency axis. The scope axis may be left out (one scope's table).
    """
    if status_counts.ndim == 3:
        return clock_table(
            *(
                a[None]
                for a in (status_counts, tickets, quantiles, total_counts, total_tickets, total_quantiles)
            )
        )
    n = len(status_counts)
    counts = np.concatenate([total_counts[:, :, None, :], status_counts], axis=2)  # (n, 5, 4, 6)
    tick = np.concatenate([total_tickets[:, :, None], tickets], axis=2)
    quant = np.concatenate([total_quantiles[:, :, None, :], quantiles], axis=2).reshape(-1, 2)
    flat = counts.reshape(-1, N_STATUS).astype(np.int64)
    judged = flat[:, _JUDGED_AT].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        compliance = np.where(judged > 0, flat[:, STATUSES.index("met")] / judged, np.nan)
    # One constructor call: inserting column by column costs more than the figures.
    return pd.DataFrame(
        {
            "name": np.tile(_ROW_NAMES, n),
            "urgency": np.tile(_ROW_URGENCIES, n),
            **{status: flat[:, i] for i, status in enumerate(STATUSES)},
            "clocks": flat.sum(axis=1),
            "tickets": tick.reshape(-1).astype(np.int64),
            "compliance": compliance,
            "median_seconds": quant[:, 0],
            "p90_seconds": quant[:, 1],
        }
    )


def _tally(
    name: np.ndarray,
    urg: np.ndarray,
    status: np.ndarray,
    tid: np.ndarray,
    used: np.ndarray,
    cust: np.ndarray,
    n_scopes: int,
) -> dict[str, np.ndarray]:
    """Counts, distinct tickets and percentiles of time used, per scope (the last is ALL).

    Rows of customers outside the scopes go to the last slot, which then becomes ALL: counts
    and distinct tickets of ALL are the sums over the customers (a ticket has one customer);
    its percentiles are computed over all rows.
    """
    slot = np.where(cust >= 0, cust, n_scopes - 1)
    g = (slot * N_NAME + name) * N_URG + urg
    g_total = slot * N_NAME + name
    g_size, t_size = n_scopes * N_NAME * N_URG, n_scopes * N_NAME
    done = (status == STATUSES.index("met")) | (status == STATUSES.index("met_late"))

    def with_all(per_slot: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        out = per_slot.reshape(n_scopes, *shape).copy()
        out[-1] = out.sum(axis=0)
        return out

    return {
        "counts": with_all(bincount(g * N_STATUS + status, g_size * N_STATUS), (N_NAME, N_URG, N_STATUS)),
        "tickets": with_all(distinct_count(g, tid, g_size), (N_NAME, N_URG)),
        "total_counts": with_all(
            bincount(g_total * N_STATUS + status, t_size * N_STATUS), (N_NAME, N_STATUS)
        ),
        "total_tickets": with_all(distinct_count(g_total, tid, t_size), (N_NAME,)),
        **_quantiles(slot[done], name[done], urg[done], used[done], n_scopes),
    }


def _quantiles(
    slot: np.ndarray, name: np.ndarray, urg: np.ndarray, used: np.ndarray, n_scopes: int
) -> dict[str, np.ndarray]:
    """Median and p90 of ``used`` per (scope, clock, urgency) and per (scope, clock), with ALL's
    over every row: one full sort; the three other orders are re-sorts of a few sorted runs
    each (timsort merges them in linear time)."""
    shape, total_shape = (n_scopes, N_NAME, N_URG, 2), (n_scopes, N_NAME, 2)
    if not packable(used, n_scopes * N_NAME * N_URG):
        out = {
            "quantiles": group_quantiles(
                (slot * N_NAME + name) * N_URG + urg, used, shape[0] * N_NAME * N_URG, QS
            ),
            "total_quantiles": group_quantiles(slot * N_NAME + name, used, n_scopes * N_NAME, QS),
        }
        out["quantiles"] = out["quantiles"].reshape(shape)
        out["total_quantiles"] = out["total_quantiles"].reshape(total_shape)
        out["quantiles"][-1] = group_quantiles(name * N_URG + urg, used, N_NAME * N_URG, QS).reshape(
            shape[1:]
        )
        out["total_quantiles"][-1] = group_quantiles(name, used, N_NAME, QS).reshape(total_shape[1:])
        return out
    by_scope = np.sort(pack((slot * N_NAME + name) * N_URG + urg, used))
    group, value = by_scope >> VALUE_BITS, by_scope & ((1 << VALUE_BITS) - 1)
    s_slot, rest = np.divmod(group, N_NAME * N_URG)
    s_name = rest // N_URG
    per_clock = np.sort(pack(s_slot * N_NAME + s_name, value), kind="stable")
    everyone = np.sort(pack(rest, value), kind="stable")  # n_scopes sorted runs
    e_group = everyone >> VALUE_BITS
    every_clock = np.sort(pack(e_group // N_URG, everyone & ((1 << VALUE_BITS) - 1)), kind="stable")
    quantiles = sorted_quantiles(by_scope, n_scopes * N_NAME * N_URG, QS).reshape(shape)
    totals = sorted_quantiles(per_clock, n_scopes * N_NAME, QS).reshape(total_shape)
    quantiles[-1] = sorted_quantiles(everyone, N_NAME * N_URG, QS).reshape(shape[1:])
    totals[-1] = sorted_quantiles(every_clock, N_NAME, QS).reshape(total_shape[1:])
    return {"quantiles": quantiles, "total_quantiles": totals}


def _first_per_ticket(tid: np.ndarray, t: np.ndarray, last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket, the earliest (or latest) instant: ``(ticket ids ascending, instants)``."""
    if dense(tid):
        far = np.iinfo(np.int64).min if last else np.iinfo(np.int64).max
        table = np.full(int(tid.max()) + 1 if len(tid) else 0, far, dtype=np.int64)
        (np.maximum if last else np.minimum).at(table, tid, t)
        ids = np.flatnonzero(table != far)
        return ids, table[ids]
    order = np.lexsort((t, tid))
    tid, t = tid[order], t[order]
    pick = np.ones(len(tid), dtype=bool)
    if last:
        pick[:-1] = tid[:-1] != tid[1:]
    else:
        pick[1:] = tid[1:] != tid[:-1]
    return tid[pick], t[pick]


def _mttr(
    cfg: XopConfig, tid: np.ndarray, t: np.ndarray, kind: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Recoveries in ``[lo, hi)`` (ns) with their business seconds since the cycle's start:
    ``(ticket ids, seconds)``.

    A recovery (or a resolution) pairs with the last opening or reopening of its ticket at or
    before it; a cycle counts once, at its first recovery. Events are put in (ticket, instant)
    order with a start before an end at the same instant, so "the last start before" is a
    running maximum of the starts' positions.
    """
    k = {n: i for i, n in enumerate(EVENT_KINDS)}
    is_start = (kind == k["opened"]) | (kind == k["reopened"])
    is_end = (kind == k["recovered"]) | (kind == k["resolved"])
    out_tid, out_started, out_t = [], [], []
    if len(tid) and dense(tid):
        # Most tickets have one cycle: its start, and its first recovery at or after it, are a
        # minimum per ticket (no sort). Tickets with several starts take the general path below.
        starts = np.bincount(tid[is_start], minlength=int(tid.max()) + 1)
        one = starts[tid] == 1
        s_tid, s_t = _first_per_ticket(tid[one & is_start], t[one & is_start])
        started_of = np.full(len(starts), np.iinfo(np.int64).max, dtype=np.int64)
        started_of[s_tid] = s_t
        ends = one & is_end
        ends[ends] = t[ends] >= started_of[tid[ends]]
        r_tid, r_t = _first_per_ticket(tid[ends], t[ends])
        out_tid.append(r_tid)
        out_started.append(started_of[r_tid])
        out_t.append(r_t)
        is_start, is_end = is_start & ~one, is_end & ~one
    pick = is_start | is_end
    tid, t, end = tid[pick], t[pick], is_end[pick]
    order = np.lexsort((end, t, tid))  # stable: equal keys keep the events' order
    tid, t, end = tid[order], t[order], end[order]
    position = np.arange(len(tid))
    last_start = np.maximum.accumulate(np.where(~end, position, -1)) if len(tid) else position
    ok = end & (last_start >= 0)
    ok[ok] = tid[last_start[ok]] == tid[ok]
    e_tid, e_t, started = tid[ok], t[ok], t[last_start[ok]]
    first = np.ones(len(e_tid), dtype=bool)  # the first recovery of each (ticket, start)
    first[1:] = (e_tid[1:] != e_tid[:-1]) | (started[1:] != started[:-1])
    e_tid = np.concatenate([*out_tid, e_tid[first]])
    started = np.concatenate([*out_started, started[first]])
    e_t = np.concatenate([*out_t, e_t[first]])
    keep = (e_t >= lo) & (e_t < hi)
    spent = calendar(cfg, "business").elapsed_many(
        started[keep].view("datetime64[ns]"), e_t[keep].view("datetime64[ns]")
    )
    return e_tid[keep], spent.view(np.int64) // 10**9


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``values`` at the position of each query in ``keys`` (ticket ids; -1 when absent)."""
    out = np.full(len(queries), -1, dtype=np.int64)
    if not len(keys) or not len(queries):
        return out
    top = int(keys.max())
    if int(keys.min()) >= 0 and top < 8 * (len(keys) + len(queries)) + 1024:
        table = np.full(top + 1, -1, dtype=np.int64)  # dense ids: a direct table
        table[keys] = values
        ok = (queries >= 0) & (queries <= top)
        out[ok] = table[queries[ok]]
        return out
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    pos = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    hit = keys[pos] == queries
    out[hit] = values[pos[hit]]
    return out


def _per_scope_counts(values: pd.Series, cust: np.ndarray, key: str, n_scopes: int) -> list[pd.DataFrame]:
    """Tickets per ``key`` value for each scope (customers, then ALL), most first."""
    inverse, uniq = pd.factorize(values.to_numpy(dtype=object))  # a null is -1: counted as "(none)"
    inverse = inverse.astype(np.int64)
    uniq = np.asarray(uniq, dtype=object)
    if (inverse < 0).any():
        at = np.flatnonzero(uniq == "(none)")
        if len(at):
            inverse[inverse < 0] = at[0]
        else:
            inverse[inverse < 0] = len(uniq)
            uniq = np.append(uniq, "(none)")
    k = len(uniq)
    scope = np.concatenate([cust, np.full(len(inverse), n_scopes - 1)])
    grid = bincount(scope * k + np.concatenate([inverse, inverse]), n_scopes * k).reshape(n_scopes, k)
    text_rank = np.argsort(np.argsort(uniq.astype(str), kind="stable"), kind="stable")
    sc, val = np.nonzero(grid > 0)
    count = grid[sc, val].astype(np.int64)
    order = np.lexsort((text_rank[val], -count, sc))
    sc, val, count = sc[order], val[order], count[order]
    # One frame for every scope, sliced: a frame per scope would cost more than the counting.
    every = pd.DataFrame({key: uniq[val], "tickets": count})
    bounds = np.searchsorted(sc, np.arange(n_scopes + 1))
    return [every.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True) for i in range(n_scopes)]


def _breach_order(due: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Order by due time (none last), then ticket number (as text)."""
    key = np.where(due == NAT, np.iinfo(np.int64).max, due)
    if not len(key):
        return np.zeros(0, dtype=np.int64)
    return np.lexsort((numbers.astype(str), key))


def compute(
    cfg: XopConfig, frames: Frames, month: Month, *, as_of: datetime, scopes: list[str] | None = None
) -> dict[str, SlaFigures]:
    """Figures of ``month`` for each customer in ``scopes`` (default: every configured one) and ALL."""
    scopes = list(scopes if scopes is not None else [c.id for c in cfg.customers])
    n_scopes = len(scopes) + 1  # the last one is ALL
    t_months = cfg.reports.trend_months
    clocks = frames.clocks
    o = outcome_arrays(cfg, clocks, frames.events, as_of)
    # Month of each decision (local months: their starts as UTC instants), -1 before the trend.
    first = month.shift(1 - t_months)
    bounds = np.array([pd.Timestamp(first.shift(i).start).value for i in range(t_months + 1)])
    m_all = np.searchsorted(bounds, o.decided_ns, side="right") - 1
    rows = np.nonzero((m_all >= 0) & (m_all < t_months))[0]
    m_rel = m_all[rows]
    name = o.name[rows]
    status = o.status.astype(np.int64)[rows]
    cust_of_clock = codes(o.customers, scopes)[o.customer] if len(o.customer) else o.customer
    cust_all = cust_of_clock[rows]
    this_mask = m_rel == t_months - 1
    this_rows = rows[this_mask]
    cust = cust_all[this_mask]
    tally = _tally(
        name[this_mask],
        o.urgency[this_rows],
        status[this_mask],
        clocks["ticket_id"].to_numpy(dtype=np.int64)[this_rows],
        o.used[this_rows],
        cust,
        n_scopes,
    )

    # Trend: compliance per scope, month and clock.
    scope2 = np.concatenate([cust_all, np.full(len(rows), n_scopes - 1)])
    key = ((scope2 * t_months + np.tile(m_rel, 2)) * N_NAME + np.tile(name, 2)) * N_STATUS
    grid = bincount(key + np.tile(status, 2), n_scopes * t_months * N_NAME * N_STATUS).reshape(
        n_scopes, t_months, N_NAME, N_STATUS
    )
    judged = grid[..., [STATUSES.index(s) for s in JUDGED]].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        compliance = np.where(judged > 0, grid[..., STATUSES.index("met")] / judged, np.nan)
    labels = [month.shift(-k).label for k in range(t_months - 1, -1, -1)]

    # Breaches of the month, per scope: by due time and number (each scope keeps that order).
    s_this = status[this_mask]
    late_pick = (s_this == STATUSES.index("missed")) | (s_this == STATUSES.index("met_late"))
    late_rows, late_cust = this_rows[late_pick], cust[late_pick]
    order = _breach_order(as_ns(clocks["due_at"])[late_rows], clocks["number"].to_numpy(object)[late_rows])
    late_rows, late_cust = late_rows[order], late_cust[order]
    late = clocks.iloc[late_rows][["number", "subject", "name", "cycle", "due_at", "met_at"]]
    late = late.assign(
        urgency=pd.Categorical.from_codes(o.urgency[late_rows], categories=URGS),
        status=pd.Categorical.from_codes(o.status[late_rows], categories=list(STATUSES)),
        late_seconds=o.late[late_rows],
    )[BREACH_COLUMNS].reset_index(drop=True)
    by_cust = np.argsort(late_cust, kind="stable")  # each customer's rows together, in order
    spans = slices(late_cust[by_cust], n_scopes - 1)
    late_by_cust = late.iloc[by_cust]

    # Tickets opened in the month, per system and per source.
    t = frames.tickets
    t_cust, t_uniq = factorize(t["customer"])
    t_scope = codes(t_uniq, scopes)[t_cust] if len(t_cust) else t_cust
    lo, hi = pd.Timestamp(month.start).value, pd.Timestamp(month.end).value
    opened_ns = as_ns(t["opened_at"])
    opened = np.nonzero((opened_ns >= lo) & (opened_ns < hi))[0]
    opened_cust = t_scope[opened]
    systems = _per_scope_counts(t["system"].iloc[opened], opened_cust, "system", n_scopes)
    sources = _per_scope_counts(t["source"].iloc[opened], opened_cust, "source", n_scopes)
    n_opened = bincount(opened_cust, n_scopes)
    n_opened[-1] = len(opened)

    # MTTR and reopen rate from the events; a ticket's scope from its clocks or its row.
    ids = np.concatenate([clocks["ticket_id"].to_numpy(dtype=np.int64), t["id"].to_numpy(dtype=np.int64)])
    id_scope = np.concatenate([cust_of_clock, t_scope])
    ev = frames.events
    ev_tid, ev_t = ev["ticket_id"].to_numpy(dtype=np.int64), as_ns(ev["at"])
    kind = codes(ev["kind"], EVENT_KINDS)
    rec_tid, rec_seconds = _mttr(cfg, ev_tid, ev_t, kind, lo, hi)
    rec_c = _lookup(ids, id_scope, rec_tid)
    rec_n, rec_sum = bincount(rec_c, n_scopes), bincount(rec_c, n_scopes, rec_seconds.astype(float))
    rec_n[-1], rec_sum[-1] = len(rec_tid), float(rec_seconds.sum())
    closing = ((kind == EVENT_KINDS.index("resolved")) | (kind == EVENT_KINDS.index("closed"))) & (
        (ev_t >= lo) & (ev_t < hi)
    )
    close_tid, first_close = _first_per_ticket(ev_tid[closing], ev_t[closing])
    reopens = kind == EVENT_KINDS.index("reopened")
    r_tid, last_reopen = _first_per_ticket(ev_tid[reopens], ev_t[reopens], last=True)
    at = _lookup(r_tid, np.arange(len(r_tid)), close_tid)
    was_reopened = (at >= 0) & (last_reopen[np.maximum(at, 0)] > first_close) if len(r_tid) else at > 0
    close_c = _lookup(ids, id_scope, close_tid)
    n_closed, n_reopened = (
        bincount(close_c, n_scopes),
        bincount(close_c, n_scopes, was_reopened.astype(float)),
    )
    n_closed[-1], n_reopened[-1] = len(close_tid), float(was_reopened.sum())

    tables = clock_table(*(tally[k] for k in TALLY_KEYS))  # every scope's, one after another
    rows_per = len(tables) // n_scopes
    result: dict[str, SlaFigures] = {}
    for i, scope in enumerate([*scopes, ALL]):
        result[scope] = SlaFigures(
            scope=scope,
            month=month,
            as_of=as_of,
            by_clock=tables.iloc[i * rows_per : (i + 1) * rows_per].reset_index(drop=True),
            breaches=late if scope == ALL else late_by_cust.iloc[spans[i]].reset_index(drop=True),
            by_system=systems[i],
            by_source=sources[i],
            trend=pd.DataFrame(compliance[i], index=pd.Index(labels, name="label"), columns=NAMES),
            mttr_seconds=float(rec_sum[i] / rec_n[i]) if rec_n[i] else None,
            recoveries=int(rec_n[i]),
            reopened=int(n_reopened[i]),
            resolved=int(n_closed[i]),
            tickets_opened=int(n_opened[i]),
        )
    return result


TALLY_KEYS = ("counts", "tickets", "quantiles", "total_counts", "total_tickets", "total_quantiles")
BREACH_COLUMNS = [
    "number",
    "subject",
    "name",
    "urgency",
    "cycle",
    "status",
    "due_at",
    "met_at",
    "late_seconds",
]

__all__ = ["ALL", "Month", "SlaFigures", "clock_table", "compute", "month_index"]

"""The figures of the monthly SLA report, for every customer and XOP as a whole, set-based.

Input: the frames of :mod:`xop.reports.frames`; output: one :class:`SlaFigures` per scope
(a customer id, or ``"*"`` for XOP). Every figure is a pandas group-by over all clocks at once;
nothing loops over tickets.

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
from xop.reports.outcomes import JUDGED, STATUSES, business_seconds, clock_outcomes
from xop.reports.tally import bincount, codes, distinct_count, group_quantiles, slices

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


def clock_table(
    status_counts: np.ndarray,
    tickets: np.ndarray,
    quantiles: np.ndarray,
    total_counts: np.ndarray,
    total_tickets: np.ndarray,
    total_quantiles: np.ndarray,
) -> pd.DataFrame:
    """One scope's table: per clock, an "all" row then a row per urgency.

    Shapes: ``status_counts`` (clock, urgency, status), ``tickets`` (clock, urgency),
    ``quantiles`` (clock, urgency, 2); the ``total_*`` ones without the urgency axis.
    """
    counts = np.concatenate([total_counts[:, None, :], status_counts], axis=1)  # (5, 4, 6)
    tick = np.concatenate([total_tickets[:, None], tickets], axis=1)
    quant = np.concatenate([total_quantiles[:, None, :], quantiles], axis=1)
    flat = counts.reshape(-1, N_STATUS)
    table = pd.DataFrame(flat.astype(np.int64), columns=list(STATUSES))
    table.insert(0, "urgency", ["all", *URGS] * N_NAME)
    table.insert(0, "name", np.repeat(NAMES, N_URG + 1))
    table["clocks"] = flat.sum(axis=1).astype(np.int64)
    table["tickets"] = tick.reshape(-1).astype(np.int64)
    judged = flat[:, [STATUSES.index(s) for s in JUDGED]].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["compliance"] = np.where(judged > 0, flat[:, STATUSES.index("met")] / judged, np.nan)
    table["median_seconds"] = quant.reshape(-1, 2)[:, 0]
    table["p90_seconds"] = quant.reshape(-1, 2)[:, 1]
    return table


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

    def quantiles(key: np.ndarray, size: int, all_key: np.ndarray, all_size: int, shape: tuple) -> np.ndarray:
        out = group_quantiles(np.where(done, key, -1), used, size, QS).reshape(n_scopes, *shape, 2)
        out[-1] = group_quantiles(np.where(done, all_key, -1), used, all_size, QS).reshape(*shape, 2)
        return out

    return {
        "counts": with_all(bincount(g * N_STATUS + status, g_size * N_STATUS), (N_NAME, N_URG, N_STATUS)),
        "tickets": with_all(distinct_count(g, tid, g_size), (N_NAME, N_URG)),
        "quantiles": quantiles(g, g_size, name * N_URG + urg, N_NAME * N_URG, (N_NAME, N_URG)),
        "total_counts": with_all(
            bincount(g_total * N_STATUS + status, t_size * N_STATUS), (N_NAME, N_STATUS)
        ),
        "total_tickets": with_all(distinct_count(g_total, tid, t_size), (N_NAME,)),
        "total_quantiles": quantiles(g_total, t_size, name, N_NAME, (N_NAME,)),
    }


def _mttr(cfg: XopConfig, events: pd.DataFrame, kind: np.ndarray, month: Month) -> pd.DataFrame:
    """Recoveries of the month with their business duration since the cycle's start (all tickets)."""
    k = {n: i for i, n in enumerate(EVENT_KINDS)}
    starts = events.loc[(kind == k["opened"]) | (kind == k["reopened"]), ["ticket_id", "at"]]
    ends = events.loc[(kind == k["recovered"]) | (kind == k["resolved"]), ["ticket_id", "at"]]
    if starts.empty or ends.empty:
        return pd.DataFrame({"ticket_id": pd.Series(dtype="int64"), "seconds": pd.Series(dtype="int64")})
    starts = starts.rename(columns={"at": "started"}).sort_values("started", kind="stable")
    ends = ends.sort_values("at", kind="stable")
    paired = pd.merge_asof(
        ends, starts, left_on="at", right_on="started", by="ticket_id", direction="backward"
    )
    paired = paired.dropna(subset=["started"]).drop_duplicates(["ticket_id", "started"], keep="first")
    paired = paired[(paired["at"] >= pd.Timestamp(month.start)) & (paired["at"] < pd.Timestamp(month.end))]
    seconds = business_seconds(
        cfg, pd.Series("business", index=paired.index), paired["started"], paired["at"]
    )
    return pd.DataFrame({"ticket_id": paired["ticket_id"].to_numpy(), "seconds": seconds})


def _per_scope_counts(frame: pd.DataFrame, cust: np.ndarray, key: str, n_scopes: int) -> list[pd.DataFrame]:
    """Tickets per ``key`` value for each scope (customers, then ALL), most first."""
    inverse, uniq = pd.factorize(frame[key].fillna("(none)"))
    inverse = inverse.astype(np.int64)
    uniq = np.asarray(uniq, dtype=object)
    k = len(uniq)
    scope = np.concatenate([cust, np.full(len(inverse), n_scopes - 1)])
    grid = bincount(scope * k + np.concatenate([inverse, inverse]), n_scopes * k).reshape(n_scopes, k)
    out = []
    for row in grid:
        keep = np.nonzero(row > 0)[0]
        keep = keep[np.lexsort((uniq[keep].astype(str), -row[keep]))]
        out.append(pd.DataFrame({key: uniq[keep], "tickets": row[keep].astype(np.int64)}))
    return out


def compute(
    cfg: XopConfig, frames: Frames, month: Month, *, as_of: datetime, scopes: list[str] | None = None
) -> dict[str, SlaFigures]:
    """Figures of ``month`` for each customer in ``scopes`` (default: every configured one) and ALL."""
    tz = month.tz
    scopes = list(scopes if scopes is not None else [c.id for c in cfg.customers])
    n_scopes = len(scopes) + 1  # the last one is ALL
    t_months = cfg.reports.trend_months
    out = clock_outcomes(cfg, frames.clocks, frames.events, as_of)
    m_all = month_index(out["decided_at"], tz).to_numpy()
    first = month.shift(1 - t_months).index
    rows = np.nonzero((m_all >= first) & (m_all <= month.index))[0]
    m_index = m_all[rows]
    name = codes(out["name"], NAMES)[rows]
    status = out["status_code"].to_numpy(dtype=np.int64)[rows]
    cust_all = codes(out["customer"], scopes)[rows]
    this_mask = m_index == month.index
    this_rows = rows[this_mask]
    cust = cust_all[this_mask]
    tally = _tally(
        name[this_mask],
        np.asarray(out["urgency"].cat.codes, dtype=np.int64)[this_rows],
        status[this_mask],
        out["ticket_id"].to_numpy(dtype=np.int64)[this_rows],
        out["used_seconds"].to_numpy(dtype=np.int64)[this_rows],
        cust,
        n_scopes,
    )

    # Trend: compliance per scope, month and clock.
    scope2 = np.concatenate([cust_all, np.full(len(rows), n_scopes - 1)])
    key = ((scope2 * t_months + np.tile(m_index - first, 2)) * N_NAME + np.tile(name, 2)) * N_STATUS
    grid = bincount(key + np.tile(status, 2), n_scopes * t_months * N_NAME * N_STATUS).reshape(
        n_scopes, t_months, N_NAME, N_STATUS
    )
    judged = grid[..., [STATUSES.index(s) for s in JUDGED]].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        compliance = np.where(judged > 0, grid[..., STATUSES.index("met")] / judged, np.nan)
    labels = [month.shift(-k).label for k in range(t_months - 1, -1, -1)]

    # Breaches of the month, per scope: sorted by customer code, then due time and number.
    s_this = status[this_mask]
    late_pick = (s_this == STATUSES.index("missed")) | (s_this == STATUSES.index("met_late"))
    late = out.iloc[this_rows[late_pick]][BREACH_COLUMNS].assign(_c=cust[late_pick])
    late = late.sort_values(["due_at", "number"], kind="stable")
    by_cust = late.sort_values("_c", kind="stable")
    spans = slices(by_cust["_c"].to_numpy(), n_scopes - 1)
    late, by_cust = late.drop(columns="_c"), by_cust.drop(columns="_c")

    # Tickets opened in the month, per system and per source.
    t = frames.tickets
    opened = t[(t["opened_at"] >= pd.Timestamp(month.start)) & (t["opened_at"] < pd.Timestamp(month.end))]
    opened_cust = codes(opened["customer"], scopes)
    systems = _per_scope_counts(opened, opened_cust, "system", n_scopes)
    sources = _per_scope_counts(opened, opened_cust, "source", n_scopes)
    n_opened = bincount(opened_cust, n_scopes)
    n_opened[-1] = len(opened)

    # MTTR and reopen rate from the events.
    ids = np.concatenate([frames.clocks["ticket_id"].to_numpy(), t["id"].to_numpy()]).astype(np.int64)
    custs = np.concatenate([frames.clocks["customer"].to_numpy(object), t["customer"].to_numpy(object)])
    _, first_of = np.unique(ids, return_index=True)
    customer_of = pd.Series(custs[first_of], index=ids[first_of])
    ev = frames.events
    kind = codes(ev["kind"], EVENT_KINDS)
    rec = _mttr(cfg, ev, kind, month)
    rec_c = codes(rec["ticket_id"].map(customer_of), scopes)
    rec_n, rec_sum = bincount(rec_c, n_scopes), bincount(rec_c, n_scopes, rec["seconds"].to_numpy(float))
    rec_n[-1], rec_sum[-1] = len(rec), float(rec["seconds"].sum())
    closing = ev[(kind == EVENT_KINDS.index("resolved")) | (kind == EVENT_KINDS.index("closed"))]
    closing = closing[
        (closing["at"] >= pd.Timestamp(month.start)) & (closing["at"] < pd.Timestamp(month.end))
    ]
    first_close = closing.groupby("ticket_id")["at"].min()
    last_reopen = ev[kind == EVENT_KINDS.index("reopened")].groupby("ticket_id")["at"].max()
    was_reopened = (last_reopen.reindex(first_close.index) > first_close).to_numpy()
    close_c = codes(first_close.index.to_series().map(customer_of), scopes)
    n_closed, n_reopened = (
        bincount(close_c, n_scopes),
        bincount(close_c, n_scopes, was_reopened.astype(float)),
    )
    n_closed[-1], n_reopened[-1] = len(first_close), float(was_reopened.sum())

    result: dict[str, SlaFigures] = {}
    for i, scope in enumerate([*scopes, ALL]):
        result[scope] = SlaFigures(
            scope=scope,
            month=month,
            as_of=as_of,
            by_clock=clock_table(*(tally[k][i] for k in TALLY_KEYS)),
            breaches=(late if scope == ALL else by_cust.iloc[spans[i]])
            .drop(columns=[])
            .reset_index(drop=True),
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

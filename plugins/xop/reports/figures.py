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
from xop.reports.frames import Frames
from xop.reports.outcomes import JUDGED, STATUSES, business_seconds, clock_outcomes

ALL = "*"
COUNT_COLUMNS = ("clocks", "tickets", *STATUSES)


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


def _counts(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Clocks per status, tickets, compliance, median/p90 of time used (met clocks) per group."""
    if df.empty:
        return pd.DataFrame(columns=[*keys, *COUNT_COLUMNS, "compliance", "median_seconds", "p90_seconds"])
    status = pd.crosstab([df[k] for k in keys], df["status"])
    status = status.reindex(columns=list(STATUSES), fill_value=0)
    grouped = df.groupby(keys, sort=False)
    out = status.join(grouped.size().rename("clocks")).join(grouped["ticket_id"].nunique().rename("tickets"))
    judged = out[list(JUDGED)].sum(axis=1)
    out["compliance"] = (out["met"] / judged).where(judged > 0)
    done = df[df["status"].isin(("met", "met_late"))]
    if not done.empty:
        q = done.groupby(keys)["used_seconds"].quantile([0.5, 0.9]).unstack()
        out = out.join(q.rename(columns={0.5: "median_seconds", 0.9: "p90_seconds"}))
    else:
        out["median_seconds"] = np.nan
        out["p90_seconds"] = np.nan
    return out.reset_index()


def _full_clock_table(counts: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Every clock × urgency row (zeros where nothing happened), then one "all" row per clock."""
    grid = pd.MultiIndex.from_product([CLOCK_NAMES, URGENCY_ORDER], names=["name", "urgency"]).to_frame(
        index=False
    )
    table = grid.merge(counts, on=["name", "urgency"], how="left")
    all_rows = pd.DataFrame({"name": list(CLOCK_NAMES), "urgency": "all"}).merge(
        totals, on="name", how="left"
    )
    table = pd.concat([table, all_rows], ignore_index=True)
    for col in COUNT_COLUMNS:
        table[col] = table[col].fillna(0).astype("int64")
    order = {n: i for i, n in enumerate(CLOCK_NAMES)}
    urg = {u: i for i, u in enumerate((*URGENCY_ORDER, "all"))}
    table = table.sort_values(["name", "urgency"], key=lambda s: s.map(order if s.name == "name" else urg))
    return table.reset_index(drop=True)


def _mttr(cfg: XopConfig, events: pd.DataFrame, month: Month) -> pd.DataFrame:
    """Recoveries of the month with their business duration since the cycle's start (all tickets)."""
    starts = events[events["kind"].isin(("opened", "reopened"))][["ticket_id", "at"]]
    ends = events[events["kind"].isin(("recovered", "resolved"))][["ticket_id", "at"]]
    if starts.empty or ends.empty:
        return pd.DataFrame(columns=["ticket_id", "at", "started", "seconds"])
    starts = starts.rename(columns={"at": "started"}).sort_values("started", kind="stable")
    ends = ends.sort_values("at", kind="stable")
    paired = pd.merge_asof(
        ends, starts, left_on="at", right_on="started", by="ticket_id", direction="backward"
    )
    paired = paired.dropna(subset=["started"]).drop_duplicates(["ticket_id", "started"], keep="first")
    mask = (paired["at"] >= pd.Timestamp(month.start)) & (paired["at"] < pd.Timestamp(month.end))
    paired = paired[mask]
    paired = paired.assign(
        seconds=business_seconds(
            cfg, pd.Series("business", index=paired.index), paired["started"], paired["at"]
        )
    )
    return paired


def compute(
    cfg: XopConfig, frames: Frames, month: Month, *, as_of: datetime, scopes: list[str] | None = None
) -> dict[str, SlaFigures]:
    """Figures of ``month`` for each customer in ``scopes`` (default: every configured one) and ALL."""
    tz = month.tz
    scopes = list(scopes if scopes is not None else [c.id for c in cfg.customers])
    out = clock_outcomes(cfg, frames.clocks, frames.events, as_of)
    out["month"] = month_index(out["decided_at"], tz)
    first = month.shift(1 - cfg.reports.trend_months).index
    trend_rows = out[(out["month"] >= first) & (out["month"] <= month.index)]
    this = trend_rows[trend_rows["month"] == month.index]

    both = pd.concat([this, this.assign(customer=ALL)], ignore_index=True)
    counts = _counts(both, ["customer", "name", "urgency"])
    totals = _counts(both, ["customer", "name"])
    trend_all = pd.concat([trend_rows, trend_rows.assign(customer=ALL)], ignore_index=True)
    trend = _counts(trend_all, ["customer", "month", "name"])

    late = both[both["status"].isin(("missed", "met_late"))]
    breaches = late[
        [
            "customer",
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
    ].sort_values(["customer", "due_at", "number"])

    t = frames.tickets
    opened = t[(t["opened_at"] >= pd.Timestamp(month.start)) & (t["opened_at"] < pd.Timestamp(month.end))]
    opened = pd.concat([opened, opened.assign(customer=ALL)], ignore_index=True)
    by_system = opened.assign(system=opened["system"].fillna("(none)")).groupby(["customer", "system"]).size()
    by_source = opened.groupby(["customer", "source"]).size()

    ev = frames.events
    customer_of = pd.concat(
        [
            frames.clocks[["ticket_id", "customer"]],
            t.rename(columns={"id": "ticket_id"})[["ticket_id", "customer"]],
        ]
    )
    customer_of = customer_of.drop_duplicates("ticket_id").set_index("ticket_id")["customer"]
    ev = ev.assign(customer=ev["ticket_id"].map(customer_of))
    rec = _mttr(cfg, ev, month)
    rec = rec.assign(customer=rec["ticket_id"].map(customer_of))
    rec = pd.concat([rec, rec.assign(customer=ALL)], ignore_index=True)
    mttr = rec.groupby("customer")["seconds"].agg(["mean", "size"])

    closing = ev[ev["kind"].isin(("resolved", "closed"))]
    in_month = closing[
        (closing["at"] >= pd.Timestamp(month.start)) & (closing["at"] < pd.Timestamp(month.end))
    ]
    first_close = in_month.groupby("ticket_id")["at"].min()
    reopens = ev[ev["kind"] == "reopened"].groupby("ticket_id")["at"].max()
    reopened_after = reopens.reindex(first_close.index) > first_close
    closed_frame = pd.DataFrame(
        {"customer": customer_of.reindex(first_close.index).to_numpy(), "reopened": reopened_after.to_numpy()}
    )
    closed_frame = pd.concat([closed_frame, closed_frame.assign(customer=ALL)], ignore_index=True)
    reopen = closed_frame.groupby("customer")["reopened"].agg(["sum", "size"])

    labels = [month.shift(-k).label for k in range(cfg.reports.trend_months - 1, -1, -1)]
    result: dict[str, SlaFigures] = {}
    for scope in [*scopes, ALL]:
        c = counts[counts["customer"] == scope].drop(columns="customer")
        tot = totals[totals["customer"] == scope].drop(columns="customer")
        tr = trend[trend["customer"] == scope]
        tr = tr.assign(label=tr["month"].map(lambda i: Month(i // 12, i % 12 + 1, tz).label))
        grid = (
            tr.pivot(index="label", columns="name", values="compliance") if not tr.empty else pd.DataFrame()
        )
        grid = grid.reindex(index=labels, columns=list(CLOCK_NAMES))
        m = mttr.loc[scope] if scope in mttr.index else None
        r = reopen.loc[scope] if scope in reopen.index else None
        result[scope] = SlaFigures(
            scope=scope,
            month=month,
            as_of=as_of,
            by_clock=_full_clock_table(c, tot),
            breaches=breaches[breaches["customer"] == scope].drop(columns="customer").reset_index(drop=True),
            by_system=_series_frame(by_system, scope, "system"),
            by_source=_series_frame(by_source, scope, "source"),
            trend=grid,
            mttr_seconds=float(m["mean"]) if m is not None else None,
            recoveries=int(m["size"]) if m is not None else 0,
            reopened=int(r["sum"]) if r is not None else 0,
            resolved=int(r["size"]) if r is not None else 0,
            tickets_opened=int((opened["customer"] == scope).sum()),
        )
    return result


def _series_frame(series: pd.Series, scope: str, key: str) -> pd.DataFrame:
    if series.empty or scope not in series.index.get_level_values(0):
        return pd.DataFrame({key: pd.Series(dtype=object), "tickets": pd.Series(dtype="int64")})
    part = series.xs(scope, level=0)
    return (
        part.rename("tickets")
        .rename_axis(key)
        .reset_index()
        .sort_values(["tickets", key], ascending=[False, True])
    )


__all__ = ["ALL", "Month", "SlaFigures", "compute", "month_index"]

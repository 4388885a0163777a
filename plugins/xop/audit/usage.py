"""Usage of one system on one audited day, from its call detail records.

Sums and counts run in the database (``include/sql/audit_usage_*.sql``, portable between
PostgreSQL and SQLite); peak concurrency is a sort-and-sweep in numpy over the fetched start and
end epochs, which beats the window-function query it replaces (``bench/bench_usage.py``).

Counting rules:

* attempts, answers, failures, calls per hour: legs that *started* in the day;
* minutes (total, per conference): answered time inside the day only, so a call crossing
  midnight is split between the two days' reports;
* ACD: mean answered duration of the day's answered legs (whole calls: a duration is a
  property of the call, not of the day);
* peak ports: legs occupy a port from start to hang-up, whatever their disposition;
  peak participants: answered legs of a conference, from answer to hang-up. Intervals are
  half-open, so a call ending at the second another starts does not overlap it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from xop.audit.cdr_sql import render_usage_sql, usage_params
from xop.audit.csvsafe import safe_frame
from xop.audit.days import AuditDay, epoch_to_utc
from xop.core.specs.audit import CdrMapping

WORK_MEM = "64MB"


# --------------------------------------------------------------------------------------------
# The sweeps


def peak_concurrency(starts: np.ndarray, ends: np.ndarray) -> tuple[int, float | None]:
    """Most intervals ``[start, end)`` open at once, and the first instant it happened.

    Sort starts and ends separately; just after the i-th start, ``i + 1`` intervals have begun
    and ``searchsorted(ends, start, 'right')`` have ended (ends at that very instant included,
    so touching intervals do not overlap). Two sorts and a binary search: O(n log n).
    """
    if len(starts) == 0:
        return 0, None
    s = np.sort(np.asarray(starts, dtype=np.float64))
    e = np.sort(np.asarray(ends, dtype=np.float64))
    active = np.arange(1, len(s) + 1) - np.searchsorted(e, s, side="right")
    i = int(np.argmax(active))
    peak = int(active[i])
    return (peak, float(s[i])) if peak > 0 else (0, None)


def peak_concurrency_by_group(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """:func:`peak_concurrency` per group code (e.g. per conference), in one vectorised pass.

    Each event gets the key ``code * span + (time - origin)``: groups occupy disjoint key ranges,
    so the two-sorts-and-a-binary-search sweep of :func:`peak_concurrency` runs on all groups at
    once; counts are taken relative to the first start / end key of the event's group. Returns
    columns ``code``, ``peak``, ``peak_s`` (one row per group with a non-empty interval).
    """
    keep = ends > starts
    codes = np.asarray(codes, dtype=np.int64)[keep]
    starts, ends = np.asarray(starts, np.float64)[keep], np.asarray(ends, np.float64)[keep]
    if len(starts) == 0:
        return pd.DataFrame({"code": [], "peak": [], "peak_s": []})
    origin = float(starts.min())
    span = float(ends.max() - origin) + 1.0
    base = codes.astype(np.float64) * span
    order = np.argsort(base + (starts - origin), kind="stable")
    start_keys = (base + (starts - origin))[order]
    end_keys = np.sort(base + (ends - origin))
    groups, first = np.unique(codes[order], return_index=True)  # sorted by key = sorted by code
    group_base = groups.astype(np.float64) * span
    lengths = np.diff(np.append(first, len(order)))
    first_end = np.repeat(np.searchsorted(end_keys, group_base, side="left"), lengths)
    started = np.arange(1, len(order) + 1) - np.repeat(first, lengths)
    ended = np.searchsorted(end_keys, start_keys, side="right") - first_end
    active = started - ended
    peak = np.maximum.reduceat(active, first)
    position = np.where(active == np.repeat(peak, lengths), np.arange(len(order)), len(order))
    at = np.minimum.reduceat(position, first)
    return pd.DataFrame({"code": groups, "peak": peak, "peak_s": starts[order][at]})


def clip(starts: np.ndarray, ends: np.ndarray, day: AuditDay) -> tuple[np.ndarray, np.ndarray]:
    """Intervals cut to the day (the part of a call across midnight that falls inside)."""
    return np.maximum(starts, day.start_epoch), np.minimum(ends, day.end_epoch)


# --------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class UsageReport:
    """One system's usage on one day. DataFrames are what the CSV attachments hold."""

    system: str
    day: AuditDay
    attempts: int
    answered: int
    answered_seconds: float
    acd_seconds: float | None
    peak_ports: int
    peak_ports_at: datetime | None
    failures: pd.DataFrame = field(repr=False)  # disposition, calls
    hourly: pd.DataFrame = field(repr=False)  # hour, hour_start_utc, attempts, answered
    conferences: pd.DataFrame = field(repr=False)  # conference, legs, answered_legs, minutes, peak...

    @property
    def asr(self) -> float | None:
        """Answer-seizure ratio, 0..1 (None without attempts)."""
        return self.answered / self.attempts if self.attempts else None

    @property
    def total_minutes(self) -> float:
        return self.answered_seconds / 60

    @property
    def acd_minutes(self) -> float | None:
        return None if self.acd_seconds is None else self.acd_seconds / 60

    def local(self, instant: datetime | None) -> datetime | None:
        return None if instant is None else instant.astimezone(ZoneInfo(self.day.tz))

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (stored in ``audit_runs.summary``)."""
        return {
            "system": self.system,
            "day": self.day.day.isoformat(),
            "hours": self.day.hours,
            "attempts": self.attempts,
            "answered": self.answered,
            "asr": None if self.asr is None else round(self.asr, 4),
            "total_minutes": round(self.total_minutes, 2),
            "acd_minutes": None if self.acd_minutes is None else round(self.acd_minutes, 2),
            "peak_ports": self.peak_ports,
            "peak_ports_at": None if self.peak_ports_at is None else self.peak_ports_at.isoformat(),
            "failures": {str(r.disposition): int(r.calls) for r in self.failures.itertuples()},
            "conferences": len(self.conferences),
        }

    def csv_files(self) -> dict[str, bytes]:
        """CSV attachments: ``<system>-<day>-<part>.csv`` -> bytes."""
        stem = f"{self.system}-{self.day.day.isoformat()}"
        totals = pd.DataFrame([{k: v for k, v in self.summary().items() if k != "failures"}])
        parts = {
            "summary": totals,
            "hourly": self.hourly,
            "failures": self.failures,
            "conferences": self.conferences,
        }
        files = {}
        for part, frame in parts.items():
            buffer = io.StringIO()
            safe_frame(frame).to_csv(buffer, index=False)  # no spreadsheet formulas from CDRs
            files[f"{stem}-{part}.csv"] = buffer.getvalue().encode()
        return files


# --------------------------------------------------------------------------------------------
# The computation


def _fetch_rows(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """Column names and plain row tuples, read from the DB-API cursor in ``conn``'s transaction.

    Hand-written because this is the hot path: SQLAlchemy ``Row`` objects cost more per row
    than the query itself at a million rows, and numpy builds arrays fastest from plain tuples.
    """
    compiled = text(sql).compile(dialect=conn.dialect)
    positional = compiled.positiontup
    bound = [params[name] for name in positional] if positional else {k: params[k] for k in compiled.params}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, bound)
        keys = [column[0] for column in cursor.description]
        return keys, cursor.fetchall()
    finally:
        cursor.close()


def _fetch_frame(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    keys, rows = _fetch_rows(conn, sql, params)
    return pd.DataFrame.from_records(rows, columns=keys)


def _fetch_arrays(conn: Connection, sql: str, params: dict[str, Any], columns: list[str]) -> list[np.ndarray]:
    """One numpy array per column of a query whose ``columns`` hold no NULLs.

    On PostgreSQL (psycopg 3) each column comes back as one ``array_agg`` in binary format:
    one value per column instead of a Python tuple per row, which at a million rows costs more
    than the query itself (the arrays aggregate the same rows in the same order). Elsewhere
    (SQLite) plain tuples, transposed.
    """
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        aggregates = ", ".join(f"array_agg({name})" for name in columns)
        compiled = text(f"SELECT {aggregates} FROM ({sql}) AS intervals").compile(dialect=conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor(binary=True)  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.string, {k: params[k] for k in compiled.params})
            arrays = cursor.fetchone()
        finally:
            cursor.close()
        if arrays is None or arrays[0] is None:  # array_agg of no rows is NULL
            return [np.empty(0) for _ in columns]
        return [np.asarray(values) for values in arrays]
    _, rows = _fetch_rows(conn, sql, params)
    if not rows:
        return [np.empty(0) for _ in columns]
    return [np.asarray(values) for values in zip(*rows, strict=True)]


def fetch_port_intervals(
    conn: Connection, mapping: CdrMapping, day: AuditDay, params: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end epochs of every leg overlapping the day (only these two columns)."""
    params = params or usage_params(day, mapping, conn.dialect.name)
    sql = render_usage_sql("audit_usage_port_intervals.sql", mapping, conn)
    starts, ends = _fetch_arrays(conn, sql, params, ["start_s", "end_s"])
    return starts.astype(np.float64), ends.astype(np.float64)


def compute_usage(engine: Engine, mapping: CdrMapping, day: AuditDay, *, system: str) -> UsageReport:
    """Usage of ``system`` on ``day`` from its CDR database (one read-only transaction)."""
    with engine.connect() as conn:
        params = usage_params(day, mapping, conn.dialect.name)
        if conn.dialect.name == "postgresql":
            # Tens of thousands of (hour, disposition, conference) groups: keep the hash
            # aggregate in memory (the 4 MB default spills to disk). This transaction only.
            conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        counts = _fetch_frame(conn, render_usage_sql("audit_usage_counts.sql", mapping, conn), params)
        starts, ends = fetch_port_intervals(conn, mapping, day, params)
        participants = _participant_intervals(conn, mapping, params) if mapping.conference else None
    peak_ports, peak_s = peak_concurrency(*clip(starts, ends, day))

    for column in ("attempts", "answered", "answered_duration_s", "answered_seconds"):
        counts[column] = pd.to_numeric(counts.get(column, pd.Series(dtype="float64"))).fillna(0)
    attempts = int(counts["attempts"].sum())
    answered = int(counts["answered"].sum())
    return UsageReport(
        system=system,
        day=day,
        attempts=attempts,
        answered=answered,
        answered_seconds=float(counts["answered_seconds"].sum()),
        acd_seconds=float(counts["answered_duration_s"].sum()) / answered if answered else None,
        peak_ports=peak_ports,
        peak_ports_at=None if peak_s is None else epoch_to_utc(peak_s),
        failures=_failures(counts, mapping),
        hourly=_hourly(counts, day),
        conferences=_conferences(counts, participants, day) if mapping.conference else _empty_conferences(),
    )


def _failures(counts: pd.DataFrame, mapping: CdrMapping) -> pd.DataFrame:
    failed = counts[(counts["disposition"] != mapping.answered_value) & (counts["attempts"] > 0)]
    if failed.empty:
        return pd.DataFrame({"disposition": pd.Series(dtype="str"), "calls": pd.Series(dtype="int64")})
    calls = failed.groupby("disposition")["attempts"].sum().astype("int64").rename("calls").reset_index()
    return calls.sort_values(["calls", "disposition"], ascending=[False, True]).reset_index(drop=True)


def _hourly(counts: pd.DataFrame, day: AuditDay) -> pd.DataFrame:
    started = counts[counts["hour_index"].notna()] if len(counts) else counts
    counted = started.groupby(started["hour_index"].astype("int64"))[["attempts", "answered"]].sum()
    counted = counted.reindex(range(day.hours), fill_value=0).astype("int64")
    return pd.DataFrame(
        {
            "hour": day.hour_labels(),
            "hour_start_utc": [h.isoformat() for h in day.hour_starts()],
            "attempts": counted["attempts"].to_numpy(),
            "answered": counted["answered"].to_numpy(),
        }
    )


def _empty_conferences() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conference": pd.Series(dtype="str"),
            "legs": pd.Series(dtype="int64"),
            "answered_legs": pd.Series(dtype="int64"),
            "minutes": pd.Series(dtype="float64"),
            "peak_participants": pd.Series(dtype="int64"),
            "peak_at_utc": pd.Series(dtype="str"),
        }
    )


def _participant_intervals(conn: Connection, mapping: CdrMapping, params: dict[str, Any]) -> list[np.ndarray]:
    sql = render_usage_sql("audit_usage_participant_intervals.sql", mapping, conn)
    return _fetch_arrays(conn, sql, params, ["conference", "answer_s", "end_s"])


def _conferences(counts: pd.DataFrame, participants: list[np.ndarray] | None, day: AuditDay) -> pd.DataFrame:
    """Per conference: legs, answered legs, minutes (sums of the SQL counts), peak participants."""
    with_conference = counts[counts["conference"].notna()] if len(counts) else counts
    if with_conference.empty:
        return _empty_conferences()
    sums = with_conference.groupby(with_conference["conference"].astype(str), sort=True)[
        ["attempts", "answered", "answered_seconds"]
    ].sum()
    out = pd.DataFrame(
        {
            "conference": sums.index.to_numpy(),
            "legs": sums["attempts"].astype("int64").to_numpy(),
            "answered_legs": sums["answered"].astype("int64").to_numpy(),
            "minutes": (sums["answered_seconds"].astype("float64") / 60).round(3).to_numpy(),
        }
    )
    peak = np.zeros(len(out), np.int64)
    peak_at: list[str | None] = [None] * len(out)
    conference, answer_s, end_s = participants or [np.empty(0)] * 3
    if len(conference):
        index_of = {name: i for i, name in enumerate(out["conference"])}
        codes, names = pd.factorize(pd.Series(conference).astype(str))
        row_of_code = np.array([index_of[name] for name in names], dtype=np.int64)
        starts, ends = clip(answer_s.astype(np.float64), end_s.astype(np.float64), day)
        for row in peak_concurrency_by_group(codes, starts, ends).itertuples():
            peak[row_of_code[int(row.code)]] = int(row.peak)
            peak_at[row_of_code[int(row.code)]] = epoch_to_utc(float(row.peak_s)).isoformat()
    out["peak_participants"] = peak
    out["peak_at_utc"] = peak_at
    return out


__all__ = [
    "UsageReport",
    "clip",
    "compute_usage",
    "fetch_port_intervals",
    "peak_concurrency",
    "peak_concurrency_by_group",
]

"""CDR columns in local wall time (Asterisk's default back end) read in the mapping's zone.

The same calls are stored twice: in a ``timestamptz`` column (UTC instants) and in a naive
``timestamp`` column holding America/Chicago wall time. Read with ``timezone`` set, the naive
table gives the same figures as the zoned one, on both DST days and on a plain day; read as UTC
(the old behaviour), every figure moves by the offset.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine

from xop.audit.cdr_sql import zone_stretches
from xop.audit.days import AuditDay
from xop.audit.usage import compute_usage
from xop.core.specs.audit import CdrMapping
from xop.demo.sample_cdr import cdr_row

CHI = ZoneInfo("America/Chicago")


def local(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=CHI)


def calls_on(day: date) -> list[dict]:
    """Calls spread over the local day, one of them crossing local midnight into it."""
    y, m, d = day.year, day.month, day.day
    return [
        cdr_row(local(y, m, d, 0, 20), 600, answered_after_s=5, dst="7001"),
        cdr_row(local(y, m, d, 3, 10), 1200, answered_after_s=0, dst="7001"),  # after the change
        cdr_row(local(y, m, d, 9, 0), 610, answered_after_s=10, dst="7002"),
        cdr_row(local(y, m, d, 9, 5), 300, answered_after_s=0, dst="7002"),
        cdr_row(local(y, m, d, 12, 0), 30, answered_after_s=None, dst="7003"),
        cdr_row(local(y, m, d, 23, 50), 1200, answered_after_s=0, dst="7003"),  # into the next day
    ]


def _table(meta: MetaData, name: str, *, zoned: bool) -> Table:
    return Table(
        name,
        meta,
        Column("calldate", DateTime(timezone=zoned), nullable=False),
        Column("dst", String(80), nullable=False),
        Column("disposition", String(45), nullable=False),
        Column("duration", Integer, nullable=False),
        Column("billsec", Integer, nullable=False),
    )


def load(engine: Engine, rows: list[dict], *, wall_clock: bool) -> CdrMapping:
    name = f"cdr_{uuid.uuid4().hex[:8]}"
    meta = MetaData()
    table = _table(meta, name, zoned=not wall_clock)
    meta.create_all(engine)
    keep = ("calldate", "dst", "disposition", "duration", "billsec")
    out = []
    for row in rows:
        row = {k: row[k] for k in keep}
        if wall_clock:  # what Asterisk writes: local wall time, no zone
            row["calldate"] = row["calldate"].astimezone(CHI).replace(tzinfo=None)
        out.append(row)
    with engine.begin() as conn:
        conn.execute(table.insert(), out)
    return CdrMapping(table=name, conference="dst", timezone="America/Chicago" if wall_clock else None)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, cdr_pg_engine: Engine, tmp_path) -> Engine:
    if request.param == "postgresql":
        return cdr_pg_engine
    return create_engine(f"sqlite:///{tmp_path / 'system.db'}")


def _figures(usage) -> tuple:
    hourly = tuple(zip(usage.hourly.attempts, usage.hourly.answered, strict=True))
    return (
        usage.attempts,
        usage.answered,
        round(usage.total_minutes, 6),
        usage.peak_ports,
        usage.peak_ports_at,
        hourly,
    )


@pytest.mark.parametrize(
    "day", [date(2026, 3, 8), date(2026, 11, 1), date(2026, 6, 15)], ids=["spring", "fall", "summer"]
)
def test_wall_clock_column_in_the_named_zone_matches_the_zoned_column(engine: Engine, day: date) -> None:
    rows = calls_on(day)
    audit_day = AuditDay.of(day)
    zoned = compute_usage(engine, load(engine, rows, wall_clock=False), audit_day, system="s")
    wall = compute_usage(engine, load(engine, rows, wall_clock=True), audit_day, system="s")

    assert zoned.attempts == 6  # all six start inside the local day
    assert _figures(wall) == _figures(zoned)
    assert len(wall.hourly) == {date(2026, 3, 8): 23, date(2026, 11, 1): 25}.get(day, 24)


def test_wall_clock_column_read_as_utc_is_shifted(engine: Engine) -> None:
    """Without the zone the old reading puts the 23:50 call (05:50 UTC next day) out of the day."""
    day = date(2026, 6, 15)
    rows = calls_on(day)
    mapping = load(engine, rows, wall_clock=True)
    as_utc = compute_usage(
        engine, mapping.model_copy(update={"timezone": None}), AuditDay.of(day), system="s"
    )
    right = compute_usage(engine, mapping, AuditDay.of(day), system="s")
    assert right.peak_ports_at == local(2026, 6, 15, 9, 5)
    assert as_utc.peak_ports_at != right.peak_ports_at


def test_zone_stretches_start_at_wall_time_of_the_old_offset() -> None:
    # 2026-11-01 07:00 UTC: CDT (-5 h) -> CST (-6 h); wall time 02:00 CDT = epoch 07:00 - 5 h.
    change = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    stretches = zone_stretches(
        "America/Chicago", datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    )
    assert stretches[0] == (change.timestamp() - 5 * 3600, -5 * 3600)
    assert stretches[-1] == (float("inf"), -6 * 3600)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        CdrMapping(timezone="Mars/Olympus")

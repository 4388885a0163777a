"""Usage figures from generated CDRs whose answers are worked out by hand in the comments."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine

from xop.audit.days import AuditDay, previous_local_day
from xop.audit.usage import compute_usage, peak_concurrency, peak_concurrency_by_group
from xop.core.specs.audit import CdrMapping
from xop.demo.sample_cdr import asterisk_cdr_table, cdr_row

CHI = ZoneInfo("America/Chicago")


def local(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0, fold: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=CHI, fold=fold)


def load(engine: Engine, rows: list[dict]) -> CdrMapping:
    """Rows into a fresh Asterisk-style table; the mapping that reads it."""
    name = f"cdr_{uuid.uuid4().hex[:8]}"
    meta = MetaData()
    table = asterisk_cdr_table(meta, name)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    return CdrMapping(table=name)


def busy(start: datetime, duration: int, dst: str) -> dict:
    return cdr_row(start, duration, answered_after_s=None, dst=dst) | {"disposition": "BUSY"}


# 2026-06-15 (CDT, a 24-hour day). Hand-checked figures:
#   attempts  = legs 1, 2, 3, 4, 6 = 5 (leg 5 started the evening before, leg 7 the day after)
#   answered  = 1, 2, 6 = 3 -> ASR 0.6
#   minutes   = 10 (1) + 5 (2) + 10 (5: 00:00-00:10) + 4 (6: 23:56-24:00) = 29
#   ACD       = (600 + 300 + 900) / 3 s = 10 min (whole calls started in the day)
#   failures  = NO ANSWER 1, BUSY 1
#   peak ports= 3 at 09:08 (legs 1, 2, 3); leg 4 starts when leg 1 hangs up: no overlap
SMALL_DAY = [
    cdr_row(local(2026, 6, 15, 9, 0), 610, answered_after_s=10, dst="7001"),  # 1: 09:00:10-09:10:10
    cdr_row(local(2026, 6, 15, 9, 5), 300, answered_after_s=0, dst="7001"),  # 2: 09:05-09:10
    cdr_row(local(2026, 6, 15, 9, 8), 30, answered_after_s=None, dst="7002"),  # 3: no answer
    busy(local(2026, 6, 15, 9, 10, 10), 5, dst="7002"),  # 4: busy, starts as 1 ends
    cdr_row(local(2026, 6, 14, 23, 50), 1200, answered_after_s=0, dst="7003"),  # 5: 23:50-00:10
    cdr_row(local(2026, 6, 15, 23, 55), 960, answered_after_s=60, dst="7003"),  # 6: 23:56-00:11
    cdr_row(local(2026, 6, 16, 0, 30), 100, answered_after_s=0, dst="7001"),  # 7: next day
]


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, cdr_pg_engine: Engine, tmp_path) -> Engine:
    if request.param == "postgresql":
        return cdr_pg_engine
    return create_engine(f"sqlite:///{tmp_path / 'system.db'}")


def test_small_day_by_hand(engine: Engine) -> None:
    usage = compute_usage(
        engine, load(engine, SMALL_DAY), AuditDay.of(date(2026, 6, 15)), system="acme-conf1"
    )

    assert (usage.attempts, usage.answered) == (5, 3)
    assert usage.asr == pytest.approx(0.6)
    assert usage.total_minutes == pytest.approx(29.0)
    assert usage.acd_minutes == pytest.approx(10.0)
    assert dict(zip(usage.failures.disposition, usage.failures.calls, strict=True)) == {
        "NO ANSWER": 1,
        "BUSY": 1,
    }
    assert usage.peak_ports == 3
    assert usage.peak_ports_at == local(2026, 6, 15, 9, 8)

    hourly = usage.hourly.set_index("hour")
    assert len(hourly) == 24
    assert (hourly.loc["09:00", "attempts"], hourly.loc["09:00", "answered"]) == (4, 2)
    assert (hourly.loc["23:00", "attempts"], hourly.loc["23:00", "answered"]) == (1, 1)
    assert hourly["attempts"].sum() == 5

    conf = usage.conferences.set_index("conference")
    # 7001: legs 1 and 2, 10 + 5 minutes, both on the bridge 09:05-09:10.
    assert conf.loc["7001", ["legs", "answered_legs", "peak_participants"]].tolist() == [2, 2, 2]
    assert conf.loc["7001", "minutes"] == pytest.approx(15.0)
    assert conf.loc["7001", "peak_at_utc"] == local(2026, 6, 15, 9, 5).astimezone(ZoneInfo("UTC")).isoformat()
    # 7002: two unanswered legs: no minutes, nobody on the bridge.
    assert conf.loc["7002", ["legs", "answered_legs", "peak_participants"]].tolist() == [2, 0, 0]
    # 7003: only leg 6 started today; minutes 10 (leg 5 after midnight) + 4 (leg 6 before).
    assert conf.loc["7003", ["legs", "answered_legs", "peak_participants"]].tolist() == [1, 1, 1]
    assert conf.loc["7003", "minutes"] == pytest.approx(14.0)
    assert "7001" in conf.index and len(conf) == 3

    files = usage.csv_files()
    assert set(files) == {
        f"acme-conf1-2026-06-15-{p}.csv" for p in ("summary", "hourly", "failures", "conferences")
    }
    assert files["acme-conf1-2026-06-15-failures.csv"].decode().splitlines()[0] == "disposition,calls"


def test_the_next_day_gets_the_rest_of_the_midnight_call(engine: Engine) -> None:
    usage = compute_usage(engine, load(engine, SMALL_DAY), AuditDay.of(date(2026, 6, 16)), system="s")
    # Leg 6's last 11 minutes (00:00-00:11) and leg 7 (100 s): 11 + 100/60 minutes; 1 attempt.
    assert (usage.attempts, usage.answered) == (1, 1)
    assert usage.total_minutes == pytest.approx(11 + 100 / 60)
    # At 00:30 only leg 7 is up; at 00:00 leg 6 was: peak 1, first at midnight.
    assert usage.peak_ports == 1
    assert usage.peak_ports_at == local(2026, 6, 16, 0, 0)


def test_dst_start_day_has_23_hours(engine: Engine) -> None:
    rows = [
        cdr_row(local(2026, 3, 8, 1, 30), 60, answered_after_s=0),  # 01:30 CST, hour 1
        cdr_row(local(2026, 3, 8, 3, 30), 60, answered_after_s=0),  # 03:30 CDT, hour 2 (02:xx never was)
        cdr_row(local(2026, 3, 8, 23, 30), 60, answered_after_s=None),  # last hour (22)
        cdr_row(local(2026, 3, 9, 0, 30), 60, answered_after_s=0),  # next day
    ]
    day = AuditDay.of(date(2026, 3, 8))
    assert (day.hours, day.start.hour, day.end.hour) == (23, 6, 5)  # 06:00 UTC .. 05:00 UTC
    usage = compute_usage(engine, load(engine, rows), day, system="s")
    assert len(usage.hourly) == 23
    counts = dict(zip(usage.hourly.hour, usage.hourly.attempts, strict=True))
    assert counts["01:00 CST"] == 1 and counts["03:00 CDT"] == 1 and counts["23:00 CDT"] == 1
    assert "02:00 CST" not in counts and "02:00 CDT" not in counts
    assert (usage.attempts, usage.answered, usage.total_minutes) == (3, 2, pytest.approx(2.0))


def test_dst_end_day_has_25_hours_and_two_one_oclocks(engine: Engine) -> None:
    rows = [
        cdr_row(local(2026, 11, 1, 1, 30, fold=0), 120, answered_after_s=0),  # 01:30 CDT
        cdr_row(local(2026, 11, 1, 1, 30, fold=1), 120, answered_after_s=0),  # 01:30 CST, an hour later
        cdr_row(local(2026, 11, 1, 1, 31, fold=1), 120, answered_after_s=0),
        cdr_row(local(2026, 11, 1, 23, 59), 120, answered_after_s=0),  # crosses midnight: 1 min today
    ]
    day = AuditDay.of(date(2026, 11, 1))
    assert day.hours == 25
    usage = compute_usage(engine, load(engine, rows), day, system="s")
    counts = dict(zip(usage.hourly.hour, usage.hourly.attempts, strict=True))
    assert len(usage.hourly) == 25
    assert (counts["01:00 CDT"], counts["01:00 CST"], counts["23:00 CST"]) == (1, 2, 1)
    # The two CST legs overlap (01:31-01:32); the CDT one an hour earlier does not.
    assert usage.peak_ports == 2 and usage.peak_ports_at == local(2026, 11, 1, 1, 31, fold=1).astimezone(
        ZoneInfo("UTC")
    )
    assert usage.total_minutes == pytest.approx(2 + 2 + 2 + 1)


def test_empty_day(engine: Engine) -> None:
    usage = compute_usage(engine, load(engine, SMALL_DAY), AuditDay.of(date(2026, 1, 1)), system="s")
    assert (usage.attempts, usage.answered, usage.asr, usage.acd_seconds, usage.peak_ports) == (
        0,
        0,
        None,
        None,
        0,
    )
    assert usage.failures.empty and usage.conferences.empty and usage.hourly["attempts"].sum() == 0


def test_explicit_end_and_answer_columns(cdr_pg_engine: Engine) -> None:
    """A cdr_adaptive_odbc-style table (start/answer/end timestamps) maps without second counts."""
    name = f"cdr_{uuid.uuid4().hex[:8]}"
    with cdr_pg_engine.begin() as conn:
        conn.exec_driver_sql(
            f'CREATE TABLE {name} (start timestamptz, answer timestamptz, "end" timestamptz, '
            "disposition text, conf text)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {name} VALUES "
            "('2026-06-15 14:00:00+00', '2026-06-15 14:00:30+00', '2026-06-15 14:10:30+00',"
            " 'ANSWERED', 'c1'),"
            "('2026-06-15 14:05:00+00', NULL, '2026-06-15 14:05:20+00', 'FAILED', 'c1')"
        )
    mapping = CdrMapping(
        table=name, start="start", answer="answer", end="end", duration=None, billsec=None, conference="conf"
    )
    usage = compute_usage(cdr_pg_engine, mapping, AuditDay.of(date(2026, 6, 15)), system="s")
    assert (usage.attempts, usage.answered, usage.total_minutes, usage.peak_ports) == (2, 1, 10.0, 2)


def test_previous_local_day_around_midnight_utc() -> None:
    # 04:00 CST on 2026-11-02 is 10:00 UTC; 04:00 CDT on 2026-03-09 is 09:00 UTC.
    assert previous_local_day(datetime.fromisoformat("2026-11-02T10:00:00+00:00")) == date(2026, 11, 1)
    assert previous_local_day(datetime.fromisoformat("2026-03-09T09:00:00+00:00")) == date(2026, 3, 8)
    # 23:30 local on the 1st is already the 2nd in UTC: still audits the 31st of the month before.
    assert previous_local_day(local(2026, 11, 1, 23, 30).astimezone(ZoneInfo("UTC"))) == date(2026, 10, 31)


def test_sweeps_agree_with_brute_force() -> None:
    rng = np.random.default_rng(1)
    starts = rng.integers(0, 500, 400).astype(float)
    ends = starts + rng.integers(0, 60, 400)
    grid = np.arange(0, 600)
    brute = ((starts[None, :] <= grid[:, None]) & (ends[None, :] > grid[:, None])).sum(axis=1)
    peak, at = peak_concurrency(starts, ends)
    assert peak == brute.max() and at == grid[np.argmax(brute)]
    codes = rng.integers(0, 5, 400)
    grouped = peak_concurrency_by_group(codes, starts, ends).set_index("code")
    for code in range(5):
        mask = codes == code
        b = ((starts[mask][None, :] <= grid[:, None]) & (ends[mask][None, :] > grid[:, None])).sum(axis=1)
        assert grouped.loc[code, "peak"] == b.max() and grouped.loc[code, "peak_s"] == grid[np.argmax(b)]


def test_day_bounds() -> None:
    day = AuditDay.of(date(2026, 6, 15))
    assert day.end - day.start == timedelta(hours=24) and day.start.hour == 5

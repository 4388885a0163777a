"""Fixed cases of the support calendar (Mon-Fri 08:00-18:00 America/Chicago, US holidays).

Expected values are written out by hand: DST weekends of 2026 and 2027, both sides of every
boundary, holidays, the closing-time rule and the array API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from xop.core.errors import ConfigError, XopError
from xop.sla.calendar import (
    BusinessCalendar,
    CalendarError,
    CalendarRangeError,
    NaiveDatetimeError,
    TwentyFourSeven,
    calendar_named,
)

CHICAGO = ZoneInfo("America/Chicago")
H = timedelta(hours=1)
S = timedelta(seconds=1)


def ct(*args: int) -> datetime:
    """Wall-clock time in Chicago."""
    return datetime(*args, tzinfo=CHICAGO)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar.from_country("US")


# ------------------------------------------------------------------- DST weekends


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # Spring forward 2026-03-08: Friday in CST (UTC-6), Monday in CDT (UTC-5).
        (ct(2026, 3, 6, 17), 2 * H, utc(2026, 3, 9, 14)),
        (ct(2026, 3, 6, 18), timedelta(0), utc(2026, 3, 9, 13)),
        (ct(2026, 3, 8, 2, 30), timedelta(0), utc(2026, 3, 9, 13)),  # 02:30 does not exist
        (utc(2026, 3, 8, 8), 10 * H, utc(2026, 3, 9, 23)),
        # Fall back 2026-11-01: Friday in CDT, Monday in CST.
        (ct(2026, 10, 30, 17, 30), H, utc(2026, 11, 2, 14, 30)),
        (utc(2026, 11, 1, 6, 30), 30 * H, utc(2026, 11, 5, 0)),  # Wed 18:00 CST
        # 2027: spring forward 03-14, fall back 11-07.
        (ct(2027, 3, 12, 9), 10 * H, utc(2027, 3, 15, 14)),
        (ct(2027, 11, 5, 12), 6 * H, utc(2027, 11, 5, 23)),  # Friday 18:00 CDT
        (ct(2027, 11, 5, 12), 7 * H, utc(2027, 11, 8, 15)),  # Monday 09:00 CST
    ],
)
def test_add_across_dst_weekends(
    cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    assert cal.add(start, duration) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (ct(2026, 3, 6, 17), ct(2026, 3, 9, 9), 2 * H),
        (ct(2026, 3, 6, 0), ct(2026, 3, 10, 0), 20 * H),
        (ct(2026, 10, 30, 0), ct(2026, 11, 3, 0), 20 * H),
        (ct(2027, 3, 12, 0), ct(2027, 3, 16, 0), 20 * H),
        (ct(2027, 11, 5, 0), ct(2027, 11, 9, 0), 20 * H),
    ],
)
def test_business_day_stays_ten_hours_across_dst(
    cal: BusinessCalendar, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert cal.elapsed(start, end) == expected


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 8), 5), (date(2026, 11, 1), 7), (date(2027, 3, 14), 5), (date(2027, 11, 7), 7)],
)
def test_hours_spanning_the_change_count_real_time(day: date, hours: int) -> None:
    """00:00-06:00 on a DST Sunday lasts 5 h (spring) or 7 h (fall): real elapsed time."""
    night = BusinessCalendar(opens="00:00", closes="06:00", weekdays=range(7))
    midnight = ct(day.year, day.month, day.day)
    assert night.elapsed(midnight, midnight + timedelta(days=1)) == timedelta(hours=hours)
    assert night.add(midnight, timedelta(hours=hours)) == ct(day.year, day.month, day.day, 6)


def test_skipped_and_repeated_opening_times() -> None:
    """Opening at a skipped wall time opens at the jump; a repeated one at its first occurrence."""
    skipped = BusinessCalendar(opens="02:30", closes="04:00", weekdays=range(7))
    assert skipped.add(ct(2026, 3, 8), timedelta(0)) == utc(2026, 3, 8, 8)  # 03:00 CDT
    assert skipped.elapsed(ct(2026, 3, 8), ct(2026, 3, 9)) == H
    repeated = BusinessCalendar(opens="01:30", closes="03:00", weekdays=range(7))
    assert repeated.add(ct(2026, 11, 1), timedelta(0)) == utc(2026, 11, 1, 6, 30)  # 01:30 CDT
    assert repeated.elapsed(ct(2026, 11, 1), ct(2026, 11, 2)) == timedelta(hours=2, minutes=30)


# --------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (ct(2026, 11, 18, 17, 59, 59), S, ct(2026, 11, 18, 18)),  # ends at closing: stays
        (ct(2026, 11, 18, 17, 59, 59), 2 * S, ct(2026, 11, 19, 8, 0, 1)),
        (ct(2026, 11, 18, 17, 59, 59), timedelta(0), ct(2026, 11, 18, 17, 59, 59)),
        (ct(2026, 11, 18, 18), timedelta(0), ct(2026, 11, 19, 8)),  # closed: next opening
        (ct(2026, 11, 18, 18), S, ct(2026, 11, 19, 8, 0, 1)),
        (ct(2026, 11, 18, 8), timedelta(0), ct(2026, 11, 18, 8)),
        (ct(2026, 11, 18, 7, 59, 59), timedelta(0), ct(2026, 11, 18, 8)),
        (ct(2026, 11, 18, 7, 59, 59), S, ct(2026, 11, 18, 8, 0, 1)),
        (ct(2026, 11, 18, 8), 10 * H, ct(2026, 11, 18, 18)),  # a whole day ends at its closing
        (ct(2026, 11, 18, 8), 10 * H + S, ct(2026, 11, 19, 8, 0, 1)),
        (ct(2026, 11, 18, 12), 2 * H, ct(2026, 11, 18, 14)),
    ],
)
def test_boundaries(cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime) -> None:
    assert cal.add(start, duration) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (ct(2026, 11, 20, 19), H, ct(2026, 11, 23, 9)),  # Friday evening -> Monday
        (ct(2026, 11, 20, 17), 2 * H, ct(2026, 11, 23, 9)),
        (ct(2026, 11, 21, 10), timedelta(0), ct(2026, 11, 23, 8)),  # Saturday
        (ct(2026, 11, 20, 17), H, ct(2026, 11, 20, 18)),  # Friday closing stays on Friday
    ],
)
def test_weekends(cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime) -> None:
    assert cal.add(start, duration) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (ct(2026, 11, 25, 17), 2 * H, ct(2026, 11, 27, 9)),  # Thanksgiving Thu 2026-11-26
        (ct(2026, 11, 26, 12), timedelta(0), ct(2026, 11, 27, 8)),
        (ct(2026, 12, 24, 17), 2 * H, ct(2026, 12, 28, 9)),  # Christmas Fri 2026-12-25
        (ct(2026, 7, 2, 17), 2 * H, ct(2026, 7, 6, 9)),  # July 4 (Sat) observed Fri 07-03
        (ct(2027, 7, 2, 17), 2 * H, ct(2027, 7, 6, 9)),  # July 4 (Sun) observed Mon 07-05
        (ct(2027, 12, 23, 17), 2 * H, ct(2027, 12, 27, 9)),  # Christmas (Sat) observed Fri 12-24
        (ct(2027, 12, 30, 17), 2 * H, ct(2028, 1, 3, 9)),  # New Year 2028 (Sat) observed Fri 12-31
        (ct(2026, 12, 31, 17), 2 * H, ct(2027, 1, 4, 9)),  # New Year 2027 on Friday
    ],
)
def test_us_holidays(cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime) -> None:
    assert cal.add(start, duration) == expected


def test_whole_weeks(cal: BusinessCalendar) -> None:
    assert cal.elapsed(ct(2026, 11, 16), ct(2026, 11, 23)) == 50 * H
    assert cal.elapsed(ct(2026, 11, 23), ct(2026, 11, 30)) == 40 * H  # Thanksgiving week
    assert cal.elapsed(ct(2026, 12, 21), ct(2027, 1, 4)) == 80 * H  # Christmas and New Year
    assert cal.elapsed(ct(2026, 11, 23), ct(2026, 11, 20)) == timedelta(0)


def test_holiday_sources_agree() -> None:
    lazy = BusinessCalendar.from_country("US")
    fixed = BusinessCalendar.from_country("US", years=[2026])
    keyword = BusinessCalendar(holidays_country="US")
    explicit = BusinessCalendar(holidays=[date(2026, 11, 26)])
    from_text = BusinessCalendar(holidays=["2026-11-26"])
    start = ct(2026, 11, 25, 17)
    for calendar in (lazy, fixed, keyword, explicit, from_text):
        assert calendar.add(start, 2 * H) == ct(2026, 11, 27, 9)
    assert BusinessCalendar().add(start, 2 * H) == ct(2026, 11, 26, 9)
    assert fixed.add(ct(2027, 11, 24, 17), 2 * H) == ct(2027, 11, 25, 9)  # 2027 not loaded
    assert lazy.fingerprint == keyword.fingerprint != explicit.fingerprint == from_text.fingerprint


# ----------------------------------------------------------------- inputs, outputs


def test_result_is_utc_whatever_the_input_zone(cal: BusinessCalendar) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    start = ct(2026, 11, 18, 10).astimezone(india)
    result = cal.add(start, H)
    assert result.tzinfo is UTC and result == ct(2026, 11, 18, 11)
    assert cal.elapsed(start, result) == H


def test_nanosecond_timestamps(cal: BusinessCalendar) -> None:
    start = pd.Timestamp("2026-11-18 17:59:59.999999999", tz="America/Chicago")
    assert cal.add(start, pd.Timedelta(1, unit="ns")) == pd.Timestamp("2026-11-19 00:00", tz="UTC")
    assert cal.add(start, pd.Timedelta(2, unit="ns")) == pd.Timestamp(
        "2026-11-19 14:00:00.000000001", tz="UTC"
    )


def test_naive_input_is_refused(cal: BusinessCalendar) -> None:
    naive = datetime(2026, 11, 18, 9)
    with pytest.raises(NaiveDatetimeError, match="naive"):
        cal.add(naive, H)
    with pytest.raises(NaiveDatetimeError, match="naive"):
        cal.elapsed(ct(2026, 11, 18, 9), naive)
    with pytest.raises(NaiveDatetimeError, match="timezone-aware"):
        cal.add_many(pd.Series(pd.to_datetime(["2026-11-18 09:00"])), H)
    with pytest.raises(NaiveDatetimeError, match="timezone-aware"):
        cal.elapsed_many(pd.DatetimeIndex(["2026-11-18 09:00"]), pd.DatetimeIndex(["2026-11-18 10:00"]))
    with pytest.raises(NaiveDatetimeError):
        TwentyFourSeven().add(naive, H)
    assert issubclass(NaiveDatetimeError, XopError) and issubclass(NaiveDatetimeError, TypeError)


def test_bad_arguments(cal: BusinessCalendar) -> None:
    with pytest.raises(CalendarError, match="negative"):
        cal.add(ct(2026, 11, 18, 9), -H)
    with pytest.raises(CalendarError, match="negative"):
        cal.add_many(np.array(["2026-11-18T15:00"], dtype="datetime64[ns]"), np.array([-1], dtype="m8[s]"))
    with pytest.raises(CalendarError, match="3 values for 2 starts"):
        cal.add_many(np.array(["2026-11-18", "2026-11-19"], dtype="M8[ns]"), np.zeros(3, dtype="m8[ns]"))
    with pytest.raises(ConfigError, match="timezone"):
        BusinessCalendar(timezone="America/Chicgo")
    with pytest.raises(ConfigError, match="opens/closes"):
        BusinessCalendar(opens="18:00", closes="08:00")
    with pytest.raises(ConfigError, match="closes"):
        BusinessCalendar(closes="25:00")
    with pytest.raises(ConfigError, match="weekdays"):
        BusinessCalendar(weekdays=(0, 7))
    with pytest.raises(ConfigError, match="holidays"):
        BusinessCalendar(holidays=["26/11/2026"])
    with pytest.raises(ConfigError, match="calendar"):
        calendar_named("weekends")


def test_calendar_without_business_time_says_so() -> None:
    with pytest.raises(CalendarRangeError, match="no business time"):
        BusinessCalendar(weekdays=()).add(ct(2026, 1, 5), H)


def test_table_grows_lazily_both_ways(cal: BusinessCalendar) -> None:
    fresh = BusinessCalendar.from_country("US")
    assert fresh.add(ct(2026, 11, 18, 8), 2600 * H * 10) > ct(2036, 1, 1)
    assert fresh.add(ct(1990, 11, 19, 8), 10 * H) == ct(1990, 11, 19, 18)
    assert fresh.elapsed(ct(1990, 1, 1), ct(2040, 1, 1)) == cal.elapsed(ct(1990, 1, 1), ct(2040, 1, 1))


def test_add_many_numpy_and_series(cal: BusinessCalendar) -> None:
    starts = [ct(2026, 11, 20, 19), ct(2026, 11, 25, 17), ct(2026, 3, 6, 17)]
    durations = [H, 2 * H, 2 * H]
    expected = [cal.add(s, d) for s, d in zip(starts, durations, strict=True)]

    as_numpy = np.array([s.astimezone(UTC).replace(tzinfo=None) for s in starts], dtype="datetime64[ns]")
    out = cal.add_many(as_numpy, np.array(durations, dtype="timedelta64[ns]"))
    assert out.dtype == np.dtype("datetime64[ns]")
    assert list(pd.DatetimeIndex(out).tz_localize("UTC")) == expected

    series = pd.Series(starts, index=["a", "b", "c"], name="opened_at").dt.tz_convert("America/Chicago")
    out_series = cal.add_many(series, pd.Series(durations, index=series.index))
    assert str(out_series.dtype) == "datetime64[ns, UTC]"
    assert out_series.name == "opened_at" and list(out_series.index) == ["a", "b", "c"]
    assert list(out_series) == expected

    index_out = cal.add_many(pd.DatetimeIndex(series), 2 * H)  # one scalar duration for all
    assert list(index_out) == [cal.add(s, 2 * H) for s in starts]

    used = cal.elapsed_many(series, out_series)
    assert list(used) == [pd.Timedelta(d) for d in durations]
    assert cal.elapsed_many(as_numpy, out).dtype == np.dtype("timedelta64[ns]")


def test_add_many_propagates_nat(cal: BusinessCalendar) -> None:
    starts = np.array(["2026-11-18T15:00", "NaT", "2026-11-18T15:00"], dtype="datetime64[ns]")
    durations = np.array([3600, 3600, "NaT"], dtype="timedelta64[s]")
    out = cal.add_many(starts, durations)
    assert out[0] == np.datetime64("2026-11-18T16:00", "ns")
    assert np.isnat(out[1]) and np.isnat(out[2])
    assert np.isnat(cal.elapsed_many(starts, starts)[1])
    assert len(cal.add_many(starts[:0], H)) == 0


def test_twenty_four_seven() -> None:
    always = BusinessCalendar.always()
    assert isinstance(always, TwentyFourSeven) and calendar_named("24x7").name == "24x7"
    assert always.add(ct(2026, 11, 26, 23), 2 * H) == utc(2026, 11, 27, 7)
    assert always.add(ct(2026, 3, 8, 1), 2 * H) == ct(2026, 3, 8, 4)  # the DST jump is real time
    assert always.elapsed(ct(2026, 11, 1, 0), ct(2026, 11, 2, 0)) == timedelta(hours=25)
    assert always.elapsed(ct(2026, 11, 2), ct(2026, 11, 1)) == timedelta(0)
    starts = pd.Series([ct(2026, 11, 26, 23)]).dt.tz_convert("UTC")
    assert list(always.add_many(starts, 2 * H)) == [utc(2026, 11, 27, 7)]
    assert list(always.elapsed_many(starts, starts + H)) == [pd.Timedelta(H)]


def test_calendar_named_business_defaults_to_us_holidays() -> None:
    business = calendar_named("business")
    assert isinstance(business, BusinessCalendar)
    assert business.is_holiday(date(2026, 11, 26))
    assert business.is_open(ct(2026, 11, 27, 8)) and not business.is_open(ct(2026, 11, 26, 12))
    assert not business.is_open(ct(2026, 11, 27, 18))

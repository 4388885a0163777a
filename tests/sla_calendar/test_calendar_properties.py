"""Property tests: BusinessCalendar against a deliberately simple reference.

The reference finds each day's opening and closing instant by stepping UTC minute by minute
until the local wall clock (zoneinfo) reads the opening/closing time, then walks day by day.
Slow but obviously right; timezones, hours and instants are drawn to hit DST gaps and folds.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xop.sla.calendar import BusinessCalendar

# Zones with 1 h, 30 min and midnight transitions, fractional offsets and none at all.
ZONES = [
    "America/Chicago",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]
SPAN_START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400


# ----------------------------------------------------------------------------- reference


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


@cache
def utc_offsets(zone: str) -> list[tuple[datetime, timedelta]]:
    """(instant, offset) of ``zone`` every hour through 2025-2028 (offsets last months)."""
    tz = ZoneInfo(zone)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    instants = (first + timedelta(hours=k) for k in range(24 * 366 * 4))
    return [(t, t.astimezone(tz).utcoffset()) for t in instants]


def max_utc_offset(zone: str) -> timedelta:
    return max(offset for _, offset in utc_offsets(zone))


@cache
def clock_changes(zone: str) -> list[tuple[date, int, int]]:
    """Wall-clock windows skipped or repeated in 2026-2027: (local date, first minute, minutes)."""
    tz = ZoneInfo(zone)
    samples = utc_offsets(zone)
    windows = []
    for (t0, before), (_, after) in itertools.pairwise(samples):
        if before == after or not (2026 <= t0.year <= 2027):
            continue
        change = t0
        while change.astimezone(tz).utcoffset() == before:
            change += timedelta(minutes=1)
        first_wall = (change + min(before, after)).replace(tzinfo=None)
        first_minute = first_wall.hour * 60 + first_wall.minute
        windows.append((first_wall.date(), first_minute, abs(after - before) // timedelta(minutes=1)))
    return windows


@cache
def ref_first_instant(zone: str, day: date, clock_minutes: int) -> datetime:
    """First UTC minute at which the wall clock in ``zone`` reads ``day`` + clock or later."""
    tz = ZoneInfo(zone)
    target = datetime.combine(day, time()) + timedelta(minutes=clock_minutes)
    # Before target - max offset, every wall clock reading is < target: start scanning there.
    instant = target.replace(tzinfo=UTC) - max_utc_offset(zone)
    assert _wall(instant, tz) <= target
    while _wall(instant, tz) < target:
        instant += timedelta(minutes=1)
    return instant


def ref_interval(params: tuple, day: date) -> tuple[datetime, datetime] | None:
    zone, opens, closes, weekdays, holidays = params
    if day.weekday() not in weekdays or day in holidays:
        return None
    return ref_first_instant(zone, day, opens), ref_first_instant(zone, day, closes)


def ref_add(params: tuple, start: datetime, duration: timedelta) -> datetime:
    day = start.astimezone(ZoneInfo(params[0])).date() - timedelta(days=2)
    remaining = duration
    while True:
        interval = ref_interval(params, day)
        if interval is not None and interval[1] > start and interval[1] > interval[0]:
            begin = max(start, interval[0])
            if remaining == timedelta(0):
                return begin
            if remaining <= interval[1] - begin:
                return begin + remaining
            remaining -= interval[1] - begin
        day += timedelta(days=1)


def ref_elapsed(params: tuple, start: datetime, end: datetime) -> timedelta:
    tz = ZoneInfo(params[0])
    day = start.astimezone(tz).date() - timedelta(days=2)
    last = end.astimezone(tz).date() + timedelta(days=2)
    total = timedelta(0)
    while day <= last:
        interval = ref_interval(params, day)
        if interval is not None:
            total += max(min(end, interval[1]) - max(start, interval[0]), timedelta(0))
        day += timedelta(days=1)
    return total


def ref_is_business_minute(params: tuple, instant: datetime) -> bool:
    local_day = instant.astimezone(ZoneInfo(params[0])).date()
    for offset in (-1, 0, 1):
        interval = ref_interval(params, local_day + timedelta(days=offset))
        if interval is not None and interval[0] <= instant < interval[1]:
            return True
    return False


# ---------------------------------------------------------------------------- strategies


@cache
def calendar_for(params: tuple) -> BusinessCalendar:
    zone, opens, closes, weekdays, holidays = params
    clock = "{:02d}:{:02d}".format
    return BusinessCalendar(
        timezone=zone,
        opens=clock(*divmod(opens, 60)),
        closes=clock(*divmod(closes, 60)),
        weekdays=weekdays,
        holidays=holidays,
    )


minute_of_day = st.one_of(st.integers(0, 4 * 60), st.sampled_from([0, 480, 1080, 1440]), st.integers(0, 1440))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[tuple, date]:
    """A calendar and the local date to draw instants around.

    Half the time the calendar opens or closes inside (or at the edge of) a wall-clock window
    that a DST change skips or repeats, on a business day, and instants are drawn around it.
    """
    zone = draw(st.sampled_from(ZONES))
    changes = clock_changes(zone)
    holiday_list = draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=6))
    if changes and draw(st.booleans()):
        anchor, first_minute, length = draw(st.sampled_from(changes))
        edge = min(max(first_minute + draw(st.integers(-1, length + 1)), 0), 1440)
        other = draw(minute_of_day | st.integers(max(edge - 90, 0), min(edge + 90, 1440)))
        weekdays = frozenset({anchor.weekday()} | draw(st.sets(st.integers(0, 6))))
        holiday_list = [d for d in holiday_list if d != anchor]
    else:
        anchor = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
        edge, other = draw(minute_of_day), draw(minute_of_day)
        weekdays = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    if edge == other:
        other = edge + 1 if edge < 1440 else edge - 1
    params = (zone, min(edge, other), max(edge, other), weekdays, frozenset(holiday_list))
    return params, anchor


@st.composite
def instants(draw: st.DrawFn, anchor: date, minute_aligned: bool = False) -> datetime:
    if draw(st.integers(0, 3)) > 0:
        midnight = datetime.combine(anchor, time(), tzinfo=UTC)
        instant = midnight + timedelta(seconds=draw(st.integers(-3 * 86_400, 3 * 86_400)))
    else:
        instant = SPAN_START + timedelta(seconds=draw(st.integers(0, SPAN_SECONDS)))
    if minute_aligned:
        instant = instant.replace(second=0)
    return instant


durations = st.one_of(
    st.just(timedelta(0)),
    st.integers(1, 3 * 86_400).map(lambda s: timedelta(seconds=s)),
    st.integers(1, 12 * 24).map(lambda h: timedelta(hours=h)),
    st.integers(1, 60).map(lambda m: timedelta(minutes=m)),
)


def business_per_week(params: tuple) -> timedelta:
    _, opens, closes, weekdays, _ = params
    return timedelta(minutes=(closes - opens) * len(weekdays))


def fits(params: tuple, *spans: timedelta) -> bool:
    """Keep the reference walk short: at most ~8 weeks of this calendar's business time."""
    return sum(spans, timedelta(0)) <= 8 * business_per_week(params)


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------- tests


def test_the_strategy_sees_the_dst_windows() -> None:
    """The windows the scenarios aim at are the real ones (guards the helper itself)."""
    assert (date(2026, 3, 8), 120, 60) in clock_changes("America/Chicago")
    assert (date(2026, 11, 1), 60, 60) in clock_changes("America/Chicago")
    assert (date(2027, 3, 14), 120, 60) in clock_changes("America/Chicago")
    assert (date(2027, 11, 7), 60, 60) in clock_changes("America/Chicago")
    assert (date(2026, 10, 4), 120, 30) in clock_changes("Australia/Lord_Howe")
    assert clock_changes("Asia/Kolkata") == []


@FAST
@given(st.data())
def test_add_matches_reference(data: st.DataObject) -> None:
    params, anchor = data.draw(scenarios())
    start, duration = data.draw(instants(anchor)), data.draw(durations)
    assume(fits(params, duration))
    got = calendar_for(params).add(start, duration)
    assert got == ref_add(params, start, duration)
    assert got.tzinfo is UTC


@FAST
@given(st.data())
def test_elapsed_matches_reference(data: st.DataObject) -> None:
    params, anchor = data.draw(scenarios())
    start = data.draw(instants(anchor))
    end = start + timedelta(seconds=data.draw(st.integers(0, 20 * 86_400)))
    cal = calendar_for(params)
    assert cal.elapsed(start, end) == ref_elapsed(params, start, end)
    assert cal.elapsed(end, start) == timedelta(0)


@FEWER
@given(st.data())
def test_elapsed_counts_business_minutes(data: st.DataObject) -> None:
    """Independent of interval walking: count, minute by minute, the instants that are open."""
    params, anchor = data.draw(scenarios())
    start = data.draw(instants(anchor, minute_aligned=True))
    minutes = data.draw(st.integers(0, 3 * 24 * 60))
    end = start + timedelta(minutes=minutes)
    open_minutes = sum(ref_is_business_minute(params, start + timedelta(minutes=m)) for m in range(minutes))
    assert calendar_for(params).elapsed(start, end) == timedelta(minutes=open_minutes)


@FAST
@given(st.data())
def test_elapsed_inverts_add(data: st.DataObject) -> None:
    params, anchor = data.draw(scenarios())
    start, duration = data.draw(instants(anchor)), data.draw(durations)
    assume(fits(params, duration))
    cal = calendar_for(params)
    due = cal.add(start, duration)
    assert due >= start
    assert cal.elapsed(start, due) == duration
    assert cal.add(due, timedelta(0)) >= due


@FEWER
@given(st.data())
def test_add_many_equals_add_elementwise(data: st.DataObject) -> None:
    params, anchor = data.draw(scenarios())
    cases = data.draw(st.lists(st.tuples(instants(anchor), durations), min_size=1, max_size=40))
    assume(fits(params, *(d for _, d in cases)))
    cal = calendar_for(params)
    starts = [s for s, _ in cases]
    deltas = [d for _, d in cases]
    expected = [cal.add(s, d) for s, d in cases]

    as_numpy = cal.add_many(
        np.array([s.replace(tzinfo=None) for s in starts], dtype="datetime64[ns]"),
        np.array(deltas, dtype="timedelta64[ns]"),
    )
    assert as_numpy.dtype == np.dtype("datetime64[ns]")
    assert [pd.Timestamp(x, tz="UTC") for x in as_numpy] == expected

    local = pd.Series(pd.DatetimeIndex(starts).tz_convert(params[0]), index=range(10, 10 + len(starts)))
    as_series = cal.add_many(local, pd.Series(pd.to_timedelta(deltas), index=local.index))
    assert str(as_series.dtype) == "datetime64[ns, UTC]"
    assert list(as_series.index) == list(local.index)
    assert list(as_series) == expected

    assert list(cal.elapsed_many(local, as_series)) == [pd.Timedelta(d) for d in deltas]


@FAST
@given(st.data())
def test_add_is_monotone_and_additive(data: st.DataObject) -> None:
    params, anchor = data.draw(scenarios())
    start, d1, d2 = data.draw(instants(anchor)), data.draw(durations), data.draw(durations)
    assume(fits(params, d1, d2))
    cal = calendar_for(params)
    short, long = sorted((d1, d2))
    assert cal.add(start, short) <= cal.add(start, long)
    if short > timedelta(0):
        # Adding in two steps lands on the same instant (the first step may stop at closing time).
        assert cal.add(cal.add(start, short), long) == cal.add(start, short + long)

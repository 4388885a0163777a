"""Exact business-time arithmetic: "when is 8 business hours after this instant?".

A :class:`BusinessCalendar` is a sorted table of the UTC instants at which every business
interval opens and closes, plus the business time accumulated before each interval. Any
instant maps to a *business position* (ns of business time since the table start) with one
sorted-array lookup (``searchsorted``, sped up by a bucket index); adding a duration is then
integer addition, and mapping back is one more lookup. So ``add_many``/``elapsed_many``
handle a million rows with no Python loop per row, and the answers are exact to the
nanosecond across DST changes. The table covers a span of years and grows lazily when inputs
fall outside it.

Hand-written on purpose: ``businesstimedelta`` walks period by period in Python for each
addition (milliseconds each), and pandas' ``CustomBusinessHour`` loops per row, adds whole
hours only, computes in wall-clock time and rolls a result at closing time to the next
opening. Neither is vectorised (figures in ``bench/bench_calendar.py``).

Semantics
    Business time of a business date ``d`` (a weekday in ``weekdays`` and not a holiday) is the
    interval ``[first(d, opens), first(d, closes))`` where ``first(d, t)`` is the first instant
    at which the local wall clock reads ``d t`` or later. So a wall time skipped by a DST gap
    opens/closes at the transition itself, an ambiguous one at its first occurrence, and the
    interval holds the real elapsed time (e.g. 00:00–06:00 is 5 h on the spring-forward Sunday
    and 7 h on the fall-back Sunday). ``closes="24:00"`` means the next local midnight.
    ``add(t, 0)`` is the first business instant at or after ``t``; a positive addition that ends
    exactly at closing time returns the closing instant (it does not roll to the next opening).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from xop.core.errors import ConfigError, XopError

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "CalendarRangeError",
    "NaiveDatetimeError",
    "TwentyFourSeven",
    "calendar_named",
]

_NS_PER_US = 1_000
_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
# datetime64[ns] covers 1677-09-21 .. 2262-04-11; keep whole years strictly inside.
_MIN_YEAR, _MAX_YEAR = 1678, 2261
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Keeps every int64 sum below overflow; SLA targets are days, not decades.
_MAX_DURATION_NS = 50 * 365 * _NS_PER_DAY


class CalendarError(XopError, ValueError):
    """A business-time computation was asked something it cannot answer."""


class NaiveDatetimeError(CalendarError, TypeError):
    """A datetime without a timezone was given; business time needs real instants."""


class CalendarRangeError(CalendarError):
    """The answer lies outside what datetime64[ns] can hold, or the calendar has no business time."""


# --------------------------------------------------------------------------- conversions


def _instant_ns(value: Any, what: str) -> int:
    """An aware datetime (or pandas Timestamp) as int ns since the epoch, UTC."""
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise NaiveDatetimeError(f"{what}: naive Timestamp {value!r}; give a timezone-aware one")
        return int(value.as_unit("ns").value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(
                f"{what}: naive datetime {value!r}; give an aware one, e.g. value.replace(tzinfo=UTC)"
            )
        return ((value - _EPOCH) // timedelta(microseconds=1)) * _NS_PER_US
    raise TypeError(f"{what}: expected an aware datetime, got {type(value).__name__}")


def _duration_ns(value: Any, what: str = "duration") -> int:
    if isinstance(value, pd.Timedelta):
        ns = int(value.as_unit("ns").value)
    elif isinstance(value, timedelta):
        ns = (value // timedelta(microseconds=1)) * _NS_PER_US
    elif isinstance(value, np.timedelta64):
        ns = int(value.astype("timedelta64[ns]").astype(np.int64))
    else:
        raise TypeError(f"{what}: expected a timedelta, got {type(value).__name__}")
    if ns < 0:
        raise CalendarError(f"{what}: must not be negative, got {value!r}")
    return ns


def _ns_to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // _NS_PER_US)


def _parse_clock(value: str | time, field: str) -> int:
    """``"HH:MM"``/``"HH:MM:SS"``/``time`` → seconds after midnight; ``"24:00"`` is 86400."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ConfigError(f"{field}: give a wall-clock time without tzinfo, got {value!r}")
        return value.hour * 3600 + value.minute * 60 + value.second
    try:
        parts = [int(p) for p in str(value).split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        h, m, s = (*parts, 0) if len(parts) == 2 else parts
    except ValueError:
        raise ConfigError(f"{field}: expected 'HH:MM' or 'HH:MM:SS', got {value!r}") from None
    if (h, m, s) == (24, 0, 0):
        return 86_400
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
        raise ConfigError(f"{field}: not a time of day: {value!r}")
    return h * 3600 + m * 60 + s


# ------------------------------------------------------------------------- wall → instant


def _first_instant_at_or_after(wall: datetime, tz: ZoneInfo) -> int:
    """First UTC instant (ns) at which the local clock in ``tz`` reads ``wall`` or later."""
    early = wall.replace(tzinfo=tz, fold=0)
    late = wall.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return _instant_ns(early, "wall")
    a, b = sorted((_instant_ns(early, "wall"), _instant_ns(late, "wall")))
    if datetime.fromtimestamp(a / 1e9, UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return a  # ambiguous (clocks went back): first occurrence
    # Skipped by a gap: the answer is the transition itself, between a (before) and b (after).
    # Bisect on whole seconds; tzdata transitions are whole seconds.
    lo, hi = a // 10**9, -(-b // 10**9)
    offset_before = early.utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset_before:
            lo = mid
        else:
            hi = mid
    return hi * 10**9


class _SortedIndex:
    """``np.searchsorted(values, q, side="right") - 1`` in O(1) per query.

    ``values`` is strictly increasing. Queries fall into buckets of width ``2**shift`` no wider
    than the smallest gap between values, so a bucket holds at most one value: the answer is
    the bucket's precomputed index, plus one if the query reaches that value. A shift and two
    gathers instead of a ~10-step binary search per row (several times faster on 1M rows).
    Falls back to ``searchsorted`` when the gaps are too uneven for a small bucket table.
    """

    _MAX_BUCKETS = 1 << 22

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.fast = False
        if len(values) < 2 or int(values[-1]) - int(values[0]) > 1 << 61:
            return  # (the second case: keep query - base far from int64 overflow)
        shift = int(np.diff(values).min()).bit_length() - 1
        base = int(values[0]) - (1 << shift)  # bucket 0 lies wholly before values[0]
        buckets = ((int(values[-1]) - base) >> shift) + 2
        if shift < 0 or buckets > self._MAX_BUCKETS:
            return
        edges = base + (np.arange(buckets, dtype=np.int64) << shift)
        index = np.searchsorted(values, edges, side="right") - 1
        following = np.append(values, np.iinfo(np.int64).max)[index + 1]
        self.fast, self.shift, self.base, self.last = True, shift, base, buckets - 1
        self.index, self.following = index, following

    def __call__(self, queries: np.ndarray) -> np.ndarray:
        if not self.fast:
            return np.searchsorted(self.values, queries, side="right") - 1
        bucket = queries - self.base
        bucket >>= self.shift
        np.maximum(bucket, 0, out=bucket)
        np.minimum(bucket, self.last, out=bucket)
        found = self.index[bucket]
        found += queries >= self.following[bucket]
        return found


@dataclass(frozen=True)
class _Table:
    """Business intervals [opens[i], closes[i]) in UTC ns, sorted; cum[i] = business ns before i."""

    first_year: int
    last_year: int
    start_ns: int  # the table is valid for instants >= start_ns ...
    end_ns: int  # ... and < end_ns
    opens: np.ndarray
    closes: np.ndarray
    cum: np.ndarray
    total: int
    interval_at: _SortedIndex  # instant -> index of the last interval opening at or before it
    interval_of: _SortedIndex  # business position -> index of the last interval starting at or before it
    lead_ext: np.ndarray  # opens - cum, then a sentinel (start_ns - 1) for "before the first interval"
    cum_end_ext: np.ndarray  # cum + length, then a sentinel 0
    # The same as Python lists, for the one-instant path (bisect beats numpy call overhead).
    opens_list: list[int]
    cum_list: list[int]
    lead_list: list[int]
    cum_end_list: list[int]


class BusinessCalendar:
    """Business hours on given weekdays in a timezone, minus holidays.

    ``holidays`` is an iterable of dates (or ISO date strings), or a ``holidays`` package
    object (which expands lazily to any year); see :meth:`from_country`.
    Weekdays are 0 = Monday .. 6 = Sunday.
    """

    name = "business"

    def __init__(
        self,
        timezone: str = "America/Chicago",
        opens: str | time = "08:00",
        closes: str | time = "18:00",
        weekdays: Iterable[int] = (0, 1, 2, 3, 4),
        holidays: Iterable[date] | Any = (),
        *,
        holidays_country: str | None = None,
        holidays_subdiv: str | None = None,
    ) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone: unknown IANA timezone {timezone!r}") from None
        self.timezone = timezone
        self._opens_s = _parse_clock(opens, "opens")
        self._closes_s = _parse_clock(closes, "closes")
        if self._opens_s == 86_400 or self._opens_s >= self._closes_s:
            raise ConfigError(f"opens/closes: opening {opens!r} must be before closing {closes!r}")
        self.weekdays = frozenset(int(w) for w in weekdays)
        if not self.weekdays <= set(range(7)):
            raise ConfigError(f"weekdays: expected numbers 0 (Monday) .. 6 (Sunday), got {sorted(weekdays)}")
        self._holiday_source: str | None = None
        if holidays_country is not None:
            import holidays as holidays_pkg

            try:
                holidays = holidays_pkg.country_holidays(holidays_country, subdiv=holidays_subdiv)
            except NotImplementedError as exc:
                raise ConfigError(f"holidays_country: {holidays_country!r} is not known: {exc}") from exc
            self._holiday_source = f"{holidays_country}/{holidays_subdiv}"
        if hasattr(holidays, "country") and hasattr(holidays, "expand"):
            self._holidays: Any = holidays  # lazy `holidays` object: `d in h` fills the year
            self._holiday_source = self._holiday_source or f"{holidays.country}/{holidays.subdiv}"
        else:
            self._holidays = frozenset(_as_date(d) for d in holidays)
        self._table: _Table | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- constructors

    @classmethod
    def from_country(
        cls, country: str = "US", years: Iterable[int] | None = None, subdiv: str | None = None, **kw: Any
    ) -> BusinessCalendar:
        """Calendar whose holidays are ``country``'s public holidays (``holidays`` package).

        With ``years`` the dates are fixed to those years; without, any year is filled lazily.
        """
        if years is None:
            return cls(holidays_country=country, holidays_subdiv=subdiv, **kw)
        import holidays as holidays_pkg

        try:
            dates = holidays_pkg.country_holidays(country, subdiv=subdiv, years=list(years))
        except NotImplementedError as exc:
            raise ConfigError(f"country: {country!r} is not known: {exc}") from exc
        return cls(holidays=list(dates), **kw)

    @staticmethod
    def always() -> TwentyFourSeven:
        """The 24x7 calendar: business time is real time."""
        return TwentyFourSeven()

    # ----------------------------------------------------------------- description

    @property
    def opens(self) -> str:
        return _format_clock(self._opens_s)

    @property
    def closes(self) -> str:
        return _format_clock(self._closes_s)

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    @property
    def fingerprint(self) -> str:
        """Short hash of the settings; store it with a due date to know when to recompute."""
        if isinstance(self._holidays, frozenset):
            hol = ",".join(sorted(d.isoformat() for d in self._holidays))
        else:
            import holidays as holidays_pkg

            hol = f"country:{self._holiday_source}@holidays-{holidays_pkg.__version__}"
        text = f"{self.timezone}|{self.opens}|{self.closes}|{sorted(self.weekdays)}|{hol}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        hol = self._holiday_source or f"{len(self._holidays)} dates"
        return (
            f"BusinessCalendar(timezone={self.timezone!r}, opens={self.opens!r}, closes={self.closes!r}, "
            f"weekdays={tuple(sorted(self.weekdays))}, holidays={hol})"
        )

    # ----------------------------------------------------------------- scalar API

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Instant at which ``duration`` of business time has elapsed after ``start`` (UTC).

        A ``pd.Timestamp`` start gives a ``pd.Timestamp`` (ns precision) back.
        """
        out = self._add_one(_instant_ns(start, "start"), _duration_ns(duration))
        if isinstance(start, pd.Timestamp):
            return pd.Timestamp(out, unit="ns", tz="UTC")
        return _ns_to_datetime(out)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero if ``end <= start``."""
        t0, t1 = _instant_ns(start, "start"), _instant_ns(end, "end")
        table = self._covering(min(t0, t1), max(t0, t1))
        ns = max(self._position_one(table, t1) - self._position_one(table, t0), 0)
        if isinstance(start, pd.Timestamp) or isinstance(end, pd.Timestamp):
            return pd.Timedelta(ns, unit="ns")
        return timedelta(microseconds=ns // _NS_PER_US)

    def is_open(self, instant: datetime) -> bool:
        """Whether ``instant`` is business time."""
        t = _instant_ns(instant, "instant")
        table = self._covering(t, t)
        i = int(np.searchsorted(table.opens, t, side="right")) - 1
        return i >= 0 and t < int(table.closes[i])

    # ----------------------------------------------------------------- vector API

    def add_many(self, starts: Any, durations: Any) -> Any:
        """``add`` for whole arrays, vectorised. Same kind out as in.

        ``starts``: numpy ``datetime64`` (read as UTC), a tz-aware pandas Series or
        DatetimeIndex. ``durations``: a timedelta64 array/Series/TimedeltaIndex of the same
        length, or one scalar timedelta. NaT in either gives NaT.
        """
        t, wrap = _instants_in(starts, "starts")
        d = _durations_in(durations, len(t))
        bad = (t == _NAT) | (d == _NAT)
        if bad.any():
            out = np.full(len(t), _NAT, dtype=np.int64)
            good = ~bad
            out[good] = self._add_ns(t[good], d[good])
        else:
            out = self._add_ns(t, d)
        return wrap(out)

    def elapsed_many(self, starts: Any, ends: Any) -> Any:
        """``elapsed`` for whole arrays: timedelta64[ns] array (or Series/TimedeltaIndex)."""
        t0, wrap = _instants_in(starts, "starts")
        t1, _ = _instants_in(ends, "ends")
        if len(t0) != len(t1):
            raise CalendarError(f"elapsed_many: {len(t0)} starts but {len(t1)} ends")
        bad = (t0 == _NAT) | (t1 == _NAT)
        if bad.any():
            out = np.full(len(t0), _NAT, dtype=np.int64)
            good = ~bad
            out[good] = self._elapsed_ns(t0[good], t1[good])
        else:
            out = self._elapsed_ns(t0, t1)
        return wrap(out, timedelta_out=True)

    # ----------------------------------------------------------------- core (int64 ns)

    def _position(self, table: _Table, t: np.ndarray) -> np.ndarray:
        """Business ns from the table start to each instant.

        With i the last interval opening at or before t: min(cum[i] + t - opens[i], cum_end[i]),
        i.e. ``min(t - lead[i], cum_end[i])``. i = -1 (before the first opening) reads the
        sentinel at the end of both arrays, which yields 0.
        """
        i = table.interval_at(t)
        pos = table.lead_ext[i]
        np.subtract(t, pos, out=pos)
        np.minimum(pos, table.cum_end_ext[i], out=pos)
        return pos

    @staticmethod
    def _position_one(table: _Table, t: int) -> int:
        """``_position`` for one instant, on Python ints."""
        i = bisect.bisect_right(table.opens_list, t) - 1
        return min(t - table.lead_list[i], table.cum_end_list[i])

    def _add_one(self, t: int, d: int) -> int:
        """``_add_ns`` for one row, on Python ints (same steps, no array overhead)."""
        if d > _MAX_DURATION_NS:
            raise CalendarRangeError(f"duration: more than {_MAX_DURATION_NS // _NS_PER_DAY} days")
        table = self._covering(t, t)
        p = self._position_one(table, t) + d
        if p >= table.total:  # beyond the table: let the array path grow it
            return int(self._add_ns(np.array([t]), np.array([d]))[0])
        j = bisect.bisect_right(table.cum_list, p - (d > 0)) - 1
        return table.lead_list[j] + p

    def _add_ns(self, t: np.ndarray, d: np.ndarray) -> np.ndarray:
        if len(t) == 0:
            return t.copy()
        if int(d.max()) > _MAX_DURATION_NS:
            raise CalendarRangeError(f"duration: more than {_MAX_DURATION_NS // _NS_PER_DAY} days")
        lo, hi = int(t.min()), int(t.max())
        table = self._covering(lo, hi)
        while True:
            p = self._position(table, t) + d
            if int(p.max()) < table.total:
                break
            if table.last_year >= _MAX_YEAR:
                raise CalendarRangeError(
                    f"the answer lies after {_MAX_YEAR} (datetime64[ns] limit) "
                    f"or {self!r} has no business time"
                )
            grow = max(2, table.last_year - table.first_year + 1)
            table = self._covering(lo, hi, last_year=table.last_year + grow)
        # j = last interval whose cumulative start is < p (positive durations end at closing time)
        # or <= p (zero durations: first business instant at or after start).
        j = table.interval_of(p - (d > 0))
        out = table.lead_ext[j]
        out += p
        return out

    def _elapsed_ns(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        if len(t0) == 0:
            return t0.copy()
        table = self._covering(int(min(t0.min(), t1.min())), int(max(t0.max(), t1.max())))
        return np.maximum(self._position(table, t1) - self._position(table, t0), 0)

    # ----------------------------------------------------------------- the table

    def _covering(self, lo: int, hi: int, last_year: int = 0) -> _Table:
        """A table valid for instants in [lo, hi] and reaching at least ``last_year``."""
        table = self._table
        if table is not None and table.start_ns <= lo and hi < table.end_ns and last_year <= table.last_year:
            return table
        if not (_utc_year(lo) > _MIN_YEAR and _utc_year(hi) < _MAX_YEAR):
            raise CalendarRangeError(f"instants must lie between {_MIN_YEAR + 1} and {_MAX_YEAR - 1}")
        with self._lock:  # one build at a time; readers keep using the table they hold
            first = _utc_year(lo) - 1
            last = min(max(_utc_year(hi) + 1, last_year), _MAX_YEAR)
            table = self._table
            if table is not None:
                if table.first_year <= first and last <= table.last_year:
                    return table
                first, last = min(first, table.first_year), max(last, table.last_year)
            table = self._build(first, last)
            self._table = table
            return table

    def _build(self, first_year: int, last_year: int) -> _Table:
        opens: list[int] = []
        closes: list[int] = []
        one_day = timedelta(days=1)
        day = date(first_year, 1, 1)
        end = date(last_year + 1, 1, 1)
        o_h, o_rem = divmod(self._opens_s, 3600)
        open_clock = time(o_h, o_rem // 60, o_rem % 60)
        c_h, c_rem = divmod(self._closes_s, 3600)
        # Python loop per *date* (a few thousand), never per input row.
        while day < end:
            if day.weekday() in self.weekdays and day not in self._holidays:
                o = _first_instant_at_or_after(datetime.combine(day, open_clock), self.tz)
                if self._closes_s == 86_400:
                    c = _first_instant_at_or_after(datetime.combine(day + one_day, time(0)), self.tz)
                else:
                    close_clock = time(c_h, c_rem // 60, c_rem % 60)
                    c = _first_instant_at_or_after(datetime.combine(day, close_clock), self.tz)
                if c > o:  # both inside one DST gap: no business time that day
                    opens.append(o)
                    closes.append(c)
            day += one_day
        o_arr = np.array(opens, dtype=np.int64)
        c_arr = np.array(closes, dtype=np.int64)
        lengths = c_arr - o_arr
        cum = np.zeros(len(o_arr), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=cum[1:])
        total = int(lengths.sum()) if len(lengths) else 0
        start_ns = _first_instant_at_or_after(datetime(first_year, 1, 1), self.tz)
        end_ns = _first_instant_at_or_after(datetime(last_year, 12, 31), self.tz)
        if not len(o_arr):
            # Keep searchsorted valid on an empty calendar; total 0 makes every add extend.
            o_arr = c_arr = np.array([end_ns], dtype=np.int64)
            cum = np.zeros(1, dtype=np.int64)
        lead_ext = np.append(o_arr - cum, start_ns - 1)
        cum_end_ext = np.append(cum + (c_arr - o_arr), 0)
        return _Table(
            first_year,
            last_year,
            start_ns,
            end_ns,
            o_arr,
            c_arr,
            cum,
            total,
            _SortedIndex(o_arr),
            _SortedIndex(cum),
            lead_ext,
            cum_end_ext,
            o_arr.tolist(),
            cum.tolist(),
            lead_ext.tolist(),
            cum_end_ext.tolist(),
        )


class TwentyFourSeven:
    """The 24x7 calendar, with :class:`BusinessCalendar`'s methods: business time is real time."""

    name = "24x7"
    timezone = "UTC"
    fingerprint = "24x7"

    def __repr__(self) -> str:
        return "TwentyFourSeven()"

    def add(self, start: datetime, duration: timedelta) -> datetime:
        t = _instant_ns(start, "start") + _duration_ns(duration)
        if isinstance(start, pd.Timestamp):
            return pd.Timestamp(t, unit="ns", tz="UTC")
        return _ns_to_datetime(t)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        ns = max(_instant_ns(end, "end") - _instant_ns(start, "start"), 0)
        if isinstance(start, pd.Timestamp) or isinstance(end, pd.Timestamp):
            return pd.Timedelta(ns, unit="ns")
        return timedelta(microseconds=ns // _NS_PER_US)

    def is_open(self, instant: datetime) -> bool:
        _instant_ns(instant, "instant")
        return True

    def add_many(self, starts: Any, durations: Any) -> Any:
        t, wrap = _instants_in(starts, "starts")
        d = _durations_in(durations, len(t))
        out = np.where((t == _NAT) | (d == _NAT), _NAT, t + d)
        return wrap(out)

    def elapsed_many(self, starts: Any, ends: Any) -> Any:
        t0, wrap = _instants_in(starts, "starts")
        t1, _ = _instants_in(ends, "ends")
        if len(t0) != len(t1):
            raise CalendarError(f"elapsed_many: {len(t0)} starts but {len(t1)} ends")
        out = np.where((t0 == _NAT) | (t1 == _NAT), _NAT, np.maximum(t1 - t0, 0))
        return wrap(out, timedelta_out=True)


def calendar_named(name: str, business: BusinessCalendar | None = None) -> BusinessCalendar | TwentyFourSeven:
    """The calendar an SLA clock names: ``"business"`` (``business`` or the US default) or ``"24x7"``."""
    if name == "24x7":
        return TwentyFourSeven()
    if name == "business":
        return business if business is not None else _default_business()
    raise ConfigError(f"calendar: expected 'business' or '24x7', got {name!r}")


@functools.cache
def _default_business() -> BusinessCalendar:
    """One shared default calendar per process, so its interval table is built once."""
    return BusinessCalendar.from_country("US")


# --------------------------------------------------------------------------- array I/O


def _as_date(value: Any) -> date:
    """A holiday given as a date, a datetime or an ISO string ("2026-11-26")."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"holidays: expected dates like 2026-11-26, got {value!r}")


def _format_clock(seconds: int) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _utc_year(ns: int) -> int:
    return 1970 + int(np.datetime64(ns, "ns").astype("datetime64[Y]").astype(np.int64))


def _instants_in(values: Any, what: str) -> tuple[np.ndarray, Any]:
    """int64 ns UTC view of ``values`` and a function wrapping int64 ns back into the same kind."""
    if isinstance(values, pd.Series):
        if not isinstance(values.dtype, pd.DatetimeTZDtype):
            raise NaiveDatetimeError(
                f"{what}: Series of dtype {values.dtype} is not timezone-aware; use .dt.tz_localize(...)"
            )
        idx = pd.DatetimeIndex(values.array).tz_convert("UTC").as_unit("ns")
        index, name = values.index, values.name

        def wrap_series(ns: np.ndarray, timedelta_out: bool = False) -> pd.Series:
            if timedelta_out:
                return pd.Series(ns.view("timedelta64[ns]"), index=index, name=name, copy=False)
            utc = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
            return pd.Series(utc, index=index, name=name, copy=False)

        return idx.asi8, wrap_series
    if isinstance(values, pd.DatetimeIndex):
        if values.tz is None:
            raise NaiveDatetimeError(f"{what}: DatetimeIndex is not timezone-aware; use .tz_localize(...)")
        name = values.name

        def wrap_index(ns: np.ndarray, timedelta_out: bool = False) -> Any:
            if timedelta_out:
                return pd.TimedeltaIndex(ns.view("timedelta64[ns]"), name=name)
            return pd.DatetimeIndex(ns.view("datetime64[ns]"), name=name).tz_localize("UTC")

        return values.tz_convert("UTC").as_unit("ns").asi8, wrap_index
    if isinstance(values, np.ndarray):
        if values.dtype.kind != "M":
            raise TypeError(f"{what}: expected a datetime64 array, got dtype {values.dtype}")
        ns = values.astype("datetime64[ns]", copy=False).view(np.int64).ravel()

        def wrap_numpy(out: np.ndarray, timedelta_out: bool = False) -> np.ndarray:
            kind = "timedelta64[ns]" if timedelta_out else "datetime64[ns]"
            return out.view(kind).reshape(values.shape)

        return ns, wrap_numpy
    raise TypeError(
        f"{what}: expected a numpy datetime64 array (UTC), a tz-aware pandas Series or DatetimeIndex, "
        f"got {type(values).__name__}"
    )


def _durations_in(values: Any, n: int) -> np.ndarray:
    if isinstance(values, pd.Series | pd.TimedeltaIndex):
        values = np.asarray(values.array if isinstance(values, pd.Series) else values)
    if isinstance(values, np.ndarray):
        if values.dtype.kind != "m":
            raise TypeError(f"durations: expected a timedelta64 array, got dtype {values.dtype}")
        d = values.astype("timedelta64[ns]", copy=False).view(np.int64).ravel()
        if len(d) != n:
            raise CalendarError(f"durations: {len(d)} values for {n} starts")
    else:
        d = np.full(n, _duration_ns(values), dtype=np.int64)
    if ((d < 0) & (d != _NAT)).any():
        raise CalendarError("durations: must not be negative")
    return d

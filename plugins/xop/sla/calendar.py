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

Split by responsibility: :mod:`xop.sla.timebase` (instants, durations, errors, the wall-clock
rule), :mod:`xop.sla.intervals` (the interval table and its lookup), and here the calendars.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import threading
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg
import numpy as np
import pandas as pd

from xop.core.errors import ConfigError
from xop.sla.always import TwentyFourSeven
from xop.sla.intervals import IntervalTable as _Table
from xop.sla.intervals import SortedIndex as _SortedIndex
from xop.sla.timebase import (
    _MAX_DURATION_NS,
    _MAX_YEAR,
    _MIN_YEAR,
    _NAT,
    _NS_PER_DAY,
    _NS_PER_US,
    CalendarError,
    CalendarRangeError,
    NaiveDatetimeError,
    _as_date,
    _duration_ns,
    _durations_in,
    _first_instant_at_or_after,
    _format_clock,
    _instant_ns,
    _instants_in,
    _ns_to_datetime,
    _parse_clock,
    _utc_year,
)

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "CalendarRangeError",
    "NaiveDatetimeError",
    "TwentyFourSeven",
    "calendar_named",
]


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

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The business intervals overlapping ``[start, end)``, clipped to it (aware UTC), in
        order: what counts, so everything between them is what does not (nights, weekends,
        holidays, exactly as :meth:`elapsed` counts them, DST rules included)."""
        t0, t1 = _instant_ns(start, "start"), _instant_ns(end, "end")
        if t1 <= t0:
            return []
        table = self._covering(t0, t1)
        first = max(int(np.searchsorted(table.opens, t0, side="right")) - 1, 0)
        last = int(np.searchsorted(table.opens, t1, side="left"))
        return [
            (_ns_to_datetime(max(int(o), t0)), _ns_to_datetime(min(int(c), t1)))
            for o, c in zip(table.opens[first:last], table.closes[first:last], strict=True)
            if c > t0 and o < c
        ]

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

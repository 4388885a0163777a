"""Exact business-time arithmetic: "when is 8 business hours after this instant?".

A :class:`BusinessCalendar` is a sorted table of the UTC instants at which every business
interval opens and closes, plus the business time accumulated before each interval. Any
instant maps to a *business position* (ns of business time since the table start) with one
``numpy.searchsorted``; adding a duration is then integer addition, and mapping back is one
more ``searchsorted``. So ``add_many``/``elapsed_many`` handle a million rows with no Python
loop per row, and the answers are exact to the nanosecond across DST changes. The table
covers a span of years and grows lazily when inputs fall outside it.

Hand-written on purpose: ``businesstimedelta`` walks day by day in Python per addition and
pandas' ``CustomBusinessHour`` works in wall-clock time with whole-hour steps only; neither is
vectorised nor exact across DST (see ``bench/bench_calendar.py``).

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

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from xop.errors import ConfigError, XopError

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
    return a


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


_Arr = TypeVar("_Arr")


class BusinessCalendar:
    """Business hours on given weekdays in a timezone, minus holidays.

    ``holidays`` is an iterable of dates, or a ``holidays`` package object (which expands
    lazily to any year); see :meth:`from_country`. Weekdays are 0 = Monday .. 6 = Sunday.
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
            self._holidays = frozenset(d.date() if isinstance(d, datetime) else d for d in holidays)
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
            hol = f"country:{self._holiday_source}"
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
        t = np.array([_instant_ns(start, "start")], dtype=np.int64)
        d = np.array([_duration_ns(duration)], dtype=np.int64)
        out = int(self._add_ns(t, d)[0])
        if isinstance(start, pd.Timestamp):
            return pd.Timestamp(out, unit="ns", tz="UTC")
        return _ns_to_datetime(out)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero if ``end <= start``."""
        t0 = np.array([_instant_ns(start, "start")], dtype=np.int64)
        t1 = np.array([_instant_ns(end, "end")], dtype=np.int64)
        ns = int(self._elapsed_ns(t0, t1)[0])
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
        """Business ns from the table start to each instant."""
        i = np.searchsorted(table.opens, t, side="right") - 1
        ic = np.maximum(i, 0)
        opens = table.opens[ic]
        inside = np.minimum(t, table.closes[ic]) - opens
        pos = table.cum[ic] + np.maximum(inside, 0)
        return np.where(i >= 0, pos, 0)

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
                    f"the answer lies after {_MAX_YEAR} (datetime64[ns] limit) or {self!r} has no business time"
                )
            grow = max(2, table.last_year - table.first_year + 1)
            table = self._covering(lo, hi, last_year=table.last_year + grow)
        # j = last interval whose cumulative start is < p (positive durations end at closing time)
        # or <= p (zero durations: first business instant at or after start).
        j = np.searchsorted(table.cum, p - (d > 0), side="right") - 1
        return table.opens[j] + (p - table.cum[j])

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
        if not (_MIN_YEAR < _utc_year(lo) and _utc_year(hi) < _MAX_YEAR):
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
        return _Table(first_year, last_year, start_ns, end_ns, o_arr, c_arr, cum, total)


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
        return business if business is not None else BusinessCalendar.from_country("US")
    raise ConfigError(f"calendar: expected 'business' or '24x7', got {name!r}")


# --------------------------------------------------------------------------- array I/O


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
            arr = pd.arrays.DatetimeArray._from_sequence(ns.view("datetime64[ns]")).tz_localize("UTC")
            return pd.Series(arr, index=index, name=name, copy=False)

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

"""Instants and durations as int64 nanoseconds: the conversions and checks of the business
calendar (:mod:`xop.sla.calendar`), its errors, and the wall-clock → instant rule across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from xop.core.errors import ConfigError, XopError

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

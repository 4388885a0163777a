"""The 24x7 calendar: business time is real time (a customer's round-the-clock clocks)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from xop.sla.timebase import (
    _NAT,
    _NS_PER_US,
    CalendarError,
    _duration_ns,
    _durations_in,
    _instant_ns,
    _instants_in,
    _ns_to_datetime,
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

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """``[start, end)`` itself: every instant counts."""
        t0, t1 = _instant_ns(start, "start"), _instant_ns(end, "end")
        return [(_ns_to_datetime(t0), _ns_to_datetime(t1))] if t1 > t0 else []

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

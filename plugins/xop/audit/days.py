"""The audited day: a local calendar day and its exact UTC bounds.

A day in America/Chicago lasts 23 hours when DST starts (2026-03-08) and 25 when it ends
(2026-11-01). Bounds are computed from local midnights, never as ``start + 24 h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "America/Chicago"


def local_midnight(day: date, tz: str = DEFAULT_TZ) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz``.

    A zone that skips midnight on a DST change (none in the Americas' current rules) gets the
    first instant after the gap, which is what ``fold=0`` plus normalisation yields.
    """
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True)
class AuditDay:
    """One local calendar day: ``start`` inclusive, ``end`` exclusive, both aware UTC."""

    day: date
    tz: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date, tz: str = DEFAULT_TZ) -> AuditDay:
        return cls(
            day=day, tz=tz, start=local_midnight(day, tz), end=local_midnight(day + timedelta(days=1), tz)
        )

    @property
    def hours(self) -> int:
        """Elapsed hours: 23, 24 or 25 in a zone with whole-hour DST shifts."""
        return round((self.end - self.start).total_seconds() / 3600)

    @property
    def start_epoch(self) -> float:
        return self.start.timestamp()

    @property
    def end_epoch(self) -> float:
        return self.end.timestamp()

    def hour_starts(self) -> list[datetime]:
        """UTC start of each elapsed hour of the day (the calls-per-hour buckets)."""
        return [self.start + timedelta(hours=h) for h in range(self.hours)]

    def hour_labels(self) -> list[str]:
        """Local wall-clock label of each bucket, with the zone abbreviation on DST days
        (``01:00 CDT`` and ``01:00 CST`` are different hours on 2026-11-01)."""
        zone = ZoneInfo(self.tz)
        with_zone = self.hours != 24
        labels = []
        for start in self.hour_starts():
            local = start.astimezone(zone)
            labels.append(local.strftime("%H:%M %Z") if with_zone else local.strftime("%H:%M"))
        return labels

    def __str__(self) -> str:
        return f"{self.day.isoformat()} ({self.tz}, {self.hours} h)"


def previous_local_day(instant: datetime, tz: str = DEFAULT_TZ) -> date:
    """The local calendar day before the one ``instant`` falls in (the 4 am run audits yesterday)."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: pass an aware datetime")
    return instant.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


def epoch_to_utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)

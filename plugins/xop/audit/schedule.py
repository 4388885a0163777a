"""When the daily audit runs: 04:00 America/Chicago as an Airflow cron *trigger* timetable.

With a trigger timetable the run's logical date is the moment it was scheduled for (04:00 local
on day D), so the audited day, D - 1, follows from it directly. Import-cheap: the DAG file calls
:func:`daily_audit_timetable` at parse time, where no config may be read; a deployment that
moves ``schedules.daily_audit`` sets the same ``HH:MM`` in ``XOP_DAILY_AUDIT_TIME`` for the DAG
processor.
"""

from __future__ import annotations

import os
import re

DEFAULT_TIME = "04:00"
TIMEZONE = "America/Chicago"
ENV_VAR = "XOP_DAILY_AUDIT_TIME"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def cron_for(hhmm: str) -> str:
    match = _HHMM.match(hhmm.strip())
    if not match:
        raise ValueError(f"{ENV_VAR} / schedules.daily_audit: time must be HH:MM, got {hhmm!r}")
    return f"{int(match.group(2))} {int(match.group(1))} * * *"


def daily_audit_timetable():
    from airflow.timetables.trigger import CronTriggerTimetable

    return CronTriggerTimetable(
        cron_for(os.environ.get(ENV_VAR, "").strip() or DEFAULT_TIME), timezone=TIMEZONE
    )


__all__ = ["DEFAULT_TIME", "ENV_VAR", "TIMEZONE", "cron_for", "daily_audit_timetable"]

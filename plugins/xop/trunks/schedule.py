"""When the trunk check runs: local America/Chicago times turned into an Airflow timetable.

Import-cheap on purpose: the DAG file calls :func:`trunk_check_timetable` at parse time, where no
config file may be read. The default is the config's default (``schedules.trunk_check``:
09:00 and 15:00); a deployment that changes those times sets the same list in the environment
variable ``XOP_TRUNK_CHECK_TIMES`` (e.g. ``"08:30,14:30"``) for the DAG processor. The probe task
warns in its log when the config and the DAG's schedule disagree.
"""

from __future__ import annotations

import os
import re

DEFAULT_TIMES = ("09:00", "15:00")
TIMEZONE = "America/Chicago"
ENV_VAR = "XOP_TRUNK_CHECK_TIMES"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def crons_for(times: tuple[str, ...] | list[str]) -> list[str]:
    """``["09:00", "15:00"]`` → ``["0 9,15 * * *"]``; times with other minutes get their own cron."""
    by_minute: dict[int, list[int]] = {}
    for text in times:
        match = _HHMM.match(text.strip())
        if not match:
            raise ValueError(f"{ENV_VAR} / schedules.trunk_check: times must be HH:MM, got {text!r}")
        by_minute.setdefault(int(match.group(2)), []).append(int(match.group(1)))
    if not by_minute:
        raise ValueError(f"{ENV_VAR} / schedules.trunk_check: give at least one time")
    return [
        f"{minute} {','.join(str(h) for h in sorted(set(hours)))} * * *"
        for minute, hours in sorted(by_minute.items())
    ]


def configured_times() -> tuple[str, ...]:
    raw = os.environ.get(ENV_VAR, "").strip()
    return tuple(part.strip() for part in raw.split(",") if part.strip()) if raw else DEFAULT_TIMES


def trunk_check_timetable():
    """A cron trigger timetable in America/Chicago (so 09:00 stays 09:00 across DST)."""
    from airflow.timetables.trigger import CronTriggerTimetable, MultipleCronTriggerTimetable

    crons = crons_for(configured_times())
    if len(crons) == 1:
        return CronTriggerTimetable(crons[0], timezone=TIMEZONE)
    return MultipleCronTriggerTimetable(*crons, timezone=TIMEZONE)


__all__ = ["DEFAULT_TIMES", "ENV_VAR", "configured_times", "crons_for", "trunk_check_timetable"]

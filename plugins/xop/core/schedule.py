"""When the monitoring DAGs run: local America/Chicago times turned into Airflow timetables.

Import-cheap on purpose: DAG files build their timetable at parse time, where no config may be
read. Each DAG has a default (the config's default) and an environment variable a deployment
sets, for the DAG processor, to the same times as its config (``schedules.*``); the tasks warn
when the two disagree. Cron *trigger* timetables in the local zone keep 09:00 at 09:00 across
DST, and a run's logical date is the instant it was scheduled for.
"""

from __future__ import annotations

import os
import re

TIMEZONE = "America/Chicago"
#: DAG -> (environment variable, default local times). Defaults match include/config/xop.yaml.
TIMES = {
    "xop_trunk_check": ("XOP_TRUNK_CHECK_TIMES", ("09:00", "15:00")),
    "xop_daily_audit": ("XOP_DAILY_AUDIT_TIME", ("04:00",)),
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def crons_for(times: tuple[str, ...] | list[str], *, what: str = "times") -> list[str]:
    """``["09:00", "15:00"]`` → ``["0 9,15 * * *"]``; times with other minutes get their own cron."""
    by_minute: dict[int, list[int]] = {}
    for text in times:
        match = _HHMM.match(text.strip())
        if not match:
            raise ValueError(f"{what}: times must be HH:MM, got {text!r}")
        by_minute.setdefault(int(match.group(2)), []).append(int(match.group(1)))
    if not by_minute:
        raise ValueError(f"{what}: give at least one time")
    return [
        f"{minute} {','.join(str(h) for h in sorted(set(hours)))} * * *"
        for minute, hours in sorted(by_minute.items())
    ]


def configured_times(dag_id: str) -> tuple[str, ...]:
    """The DAG's local run times: its environment variable (comma-separated) or the default."""
    env_var, default = TIMES[dag_id]
    raw = os.environ.get(env_var, "").strip()
    return tuple(part.strip() for part in raw.split(",") if part.strip()) if raw else default


def schedule_mismatch(dag_id: str, configured: tuple[str, ...] | list[str] | str) -> str | None:
    """A warning when the config's times for ``dag_id`` differ from the times its DAG runs at.

    The DAG processor reads the environment variable, the tasks read the config: a deployment
    that changes one must change the other, and the tasks say so in their log.
    """
    wanted = (configured,) if isinstance(configured, str) else tuple(configured)
    actual = configured_times(dag_id)
    if wanted == actual:
        return None
    env_var = TIMES[dag_id][0]
    return (
        f"config schedules for {dag_id} say {','.join(wanted)} but the DAG runs at {','.join(actual)}: "
        f"set {env_var}={','.join(wanted)} for the DAG processor"
    )


def timetable(dag_id: str):
    """The DAG's cron trigger timetable in America/Chicago."""
    from airflow.timetables.trigger import CronTriggerTimetable, MultipleCronTriggerTimetable

    crons = crons_for(configured_times(dag_id), what=f"{TIMES[dag_id][0]} ({dag_id})")
    if len(crons) == 1:
        return CronTriggerTimetable(crons[0], timezone=TIMEZONE)
    return MultipleCronTriggerTimetable(*crons, timezone=TIMEZONE)

"""Deadlines where lateness is itself an incident (Airflow's ``DeadlineAlert``).

Import-light on purpose: DAG files build these at parse time. The scheduler checks them; when
one is missed it runs :func:`xop.tasks.deadline_alerts.deadline_missed` on an executor, which
emails operations through the outbox (once per missed run) and opens one monitoring ticket for
the pipeline (per DAG, noted again while it stays open).

=====================  ==========================================================================
DAG                    deadline
=====================  ==========================================================================
``xop_daily_audit``    the report out by 05:30 in the support calendar's zone (the run's logical
                       date is the scheduled 04:00 local, so: logical date + 90 minutes)
``xop_trunk_check``    a run finished within 30 minutes of being queued
``xop_sla_sweep``      a run finished no more than 15 minutes after the time it was due
=====================  ==========================================================================

``XOP_DEADLINES=off`` in the environment of the DAG processor leaves them out. The test harness
sets it: Airflow 3.3.2's ``dag.test()`` cannot finish a run of a DAG with deadlines (the run's
state update looks the alerts up by the ids only a DAG processor assigns); the distributed test
runs them on the real processes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from xop.core.schedule import configured_times

AUDIT_REPORT_BY = "05:30"
TRUNK_CHECK_WITHIN = timedelta(minutes=30)
SWEEP_BEHIND_AT_MOST = timedelta(minutes=15)
CALLBACK = "xop.tasks.deadline_alerts.deadline_missed"


def enabled() -> bool:
    return os.environ.get("XOP_DEADLINES", "on").strip().lower() not in ("off", "0", "false", "no")


def _callback(what: str) -> SyncCallback:
    return SyncCallback(CALLBACK, kwargs={"what": what})


def minutes_between(start: str, end: str) -> timedelta:
    """``"04:00"``, ``"05:30"`` → 90 minutes (the same local day)."""
    a, b = (datetime.strptime(t, "%H:%M") for t in (start, end))
    if b <= a:
        raise ValueError(f"the audit runs at {start}: its report cannot be due by {end} the same day")
    return b - a


def audit_deadline() -> list[DeadlineAlert]:
    if not enabled():
        return []
    start = configured_times("xop_daily_audit")[0]
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=minutes_between(start, AUDIT_REPORT_BY),
        callback=_callback(f"the daily audit's report was not out by {AUDIT_REPORT_BY} (US Central)"),
        name="audit_report_by_0530",
    )
    return [alert]


def trunk_check_deadline() -> list[DeadlineAlert]:
    if not enabled():
        return []
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=TRUNK_CHECK_WITHIN,
        callback=_callback("the trunk check did not finish within 30 minutes"),
        name="trunk_check_30_min",
    )
    return [alert]


def sweep_deadline() -> list[DeadlineAlert]:
    if not enabled():
        return []
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=SWEEP_BEHIND_AT_MOST,
        callback=_callback("the SLA sweep is more than 15 minutes behind"),
        name="sweep_15_min_behind",
    )
    return [alert]


__all__ = ["audit_deadline", "minutes_between", "sweep_deadline", "trunk_check_deadline"]

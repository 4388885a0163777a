"""
### XOP trunk dial check

Twice a day (09:00 and 15:00 America/Chicago) dials into every monitored system to verify that
its voice network works (seed: "Dialing into the system two times every day"):

* each SIP trunk: an OPTIONS probe (up when a code of the trunk's `accepted_codes` comes back in
  time; RTT measured), then a real test call to the system's dial-in number — INVITE with digest
  auth on 401/407, ringing, answer, ACK, a few seconds of a known tone sweep echoed back, BYE —
  recording post-dial delay, setup time, final code and the call's quality: RTP sent, lost,
  duplicated, reordered, RFC 3550 jitter, round trip, G.107 R-factor and MOS, and whether the
  echoed audio is ours (level, correlation); UDP, TCP or TLS, IPv4 or IPv6;
* each T1/PRI span: read through the system's Asterisk Manager Interface (`PRIShowSpans`); a span
  that is not up and active fails.

All trunks are checked concurrently: a dead trunk costs only its own timeout. Results go to the
`trunk_checks` table and to the task log as a table. A failed trunk (no answer, no audio back,
silence or foreign audio, MOS below `quality.failed_mos`) opens one **critical** monitoring
ticket for its system; a degraded one (MOS below `quality.degraded_mos`, loss or jitter over
their thresholds) a **major** one; while it is open, later problems add notes with the figures
and the trend of the last test calls (a major ticket becomes critical when the trunk fails); the
first healthy check afterwards adds a recovery note (a person closes the ticket). See
`docs/trunk-quality.md`.

Only systems whose customer gave monitoring consent are checked. Trunks, numbers, timeouts and
accepted codes are config (`customers[].systems[].trunks`, `.ami`); credentials are Airflow
connections named by `conn_id`.

**Schedule.** Defaults to the config's default `schedules.trunk_check` (09:00, 15:00). The
schedule is not read from the config when this file is parsed: to change the times, set the same
list in the environment variable `XOP_TRUNK_CHECK_TIMES` (e.g. `08:30,14:30`) for the DAG
processor; the probe task warns when the config and this schedule disagree.

**Manual run.** Trigger with `system` and/or `trunk` to check only those: both are drop-downs of
the monitored systems and their trunks (the ids are read cheaply from the config's YAML when this
file is parsed). A system or trunk the check does not cover fails the probe task at once, without
retry, naming the valid ids. `now` (ISO 8601 with offset) replays a moment for the records and
tickets.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.core.formchoices import system_choices, trunk_choices
from xop.core.schedule import timetable
from xop.tasks.dag_defaults import DEFAULT_ARGS
from xop.tasks.deadlines import trunk_check_deadline
from xop.tasks.forms import id_param


@dag(
    dag_id="xop_trunk_check",
    schedule=timetable("xop_trunk_check"),
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    deadline=trunk_check_deadline(),
    tags=["xop", "monitoring", "trunks"],
    doc_md=__doc__,
    params={
        "system": id_param(
            system_choices("trunk_check"),
            title="System",
            description="check only this system (monitored systems with trunks)",
            optional="every monitored system",
        ),
        "trunk": id_param(
            trunk_choices(),
            title="Trunk",
            description="check only this trunk",
            optional="every trunk",
        ),
        "now": Param(None, type=["null", "string"], description="record at this instant (ISO 8601)"),
    },
)
def xop_trunk_check():
    @task
    def probe_trunks(params: dict | None = None) -> list[dict]:
        from xop.tasks.trunks import probe_trunks

        p = params or {}
        return probe_trunks(system=p.get("system"), trunk=p.get("trunk"), now=p.get("now"))

    @task
    def record_and_ticket(results: list[dict], params: dict | None = None) -> dict:
        from xop.tasks.trunks import record_and_ticket_task

        return record_and_ticket_task(results, now=(params or {}).get("now"))

    record_and_ticket(probe_trunks())


xop_trunk_check()

"""
### XOP daily audit

Every morning at 04:00 America/Chicago (seed §2: "an automated audit every morning at 4 am"),
for each system whose customer gave monitoring consent, in parallel (one mapped task each):

* **usage** of the previous local calendar day (23 or 25 hours on DST days) from the system's
  call detail records: attempts, answered, ASR, minutes, ACD, failures by disposition, peak
  concurrent ports and when, per conference legs / minutes / peak participants, calls per hour;
* **health**: the system's configured probes (TCP/HTTP services, disk, database and
  replication, clock, failed logins, listening ports, file integrity, ClamAV), run from here or
  over SSH. Problems open monitoring tickets (critical / major / minor by the seed's rules), one
  per (system, probe) while it is active; a probe that is clean again notes recovery on it;
* **backup** of the system database (verified), with retention.

Then one HTML report for all systems (traffic lights, usage, chart, findings with tickets,
backups; usage CSVs attached) is saved, recorded in `audit_runs`, and emailed through the outbox
to `audit.recipients` (default: the support team).

**Manual run.** `date` (YYYY-MM-DD) audits that day instead of yesterday; `now` (ISO 8601 with
offset) stamps records and tickets for a replay. The time of day comes from
`XOP_DAILY_AUDIT_TIME` (default 04:00): nothing is read from the config when this file is parsed.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from xop.backup.assets import BACKUPS
from xop.core.schedule import timetable
from xop.tasks.dag_defaults import DEFAULT_ARGS
from xop.tasks.deadlines import audit_deadline


@dag(
    dag_id="xop_daily_audit",
    schedule=timetable("xop_daily_audit"),
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=DEFAULT_ARGS,
    deadline=audit_deadline(),
    tags=["xop", "monitoring", "audit"],
    doc_md=__doc__,
    params={
        "date": Param(None, type=["null", "string"], description="audit this local day (YYYY-MM-DD)"),
        "now": Param(None, type=["null", "string"], description="record at this instant (ISO 8601)"),
    },
)
def xop_daily_audit():
    @task
    def plan(params: dict | None = None) -> dict:
        from xop.tasks.audit import plan_audit

        context = get_current_context()
        p = params or {}
        return plan_audit(
            run_id=context["run_id"],
            date_param=p.get("date"),
            now_param=p.get("now"),
            logical_date=context.get("logical_date"),
        )

    @task
    def systems_of(audit_plan: dict) -> list[str]:
        return audit_plan["systems"]

    @task(max_active_tis_per_dagrun=8, outlets=[BACKUPS])
    def audit_system(audit_plan: dict, system_id: str) -> dict:
        from xop.tasks.audit import audit_system

        return audit_system(audit_plan, system_id)

    @task(trigger_rule="all_done")
    def send_report(audit_plan: dict, results: list) -> dict:
        from xop.tasks.audit import send_report

        return send_report(audit_plan, results)

    @task(trigger_rule="all_done")
    def deliver_outbox(params: dict | None = None) -> dict:
        from xop.tasks.notify import deliver_outbox

        return deliver_outbox((params or {}).get("now"))

    audit_plan = plan()
    results = audit_system.partial(audit_plan=audit_plan).expand(system_id=systems_of(audit_plan))
    send_report(audit_plan, results) >> deliver_outbox()


xop_daily_audit()

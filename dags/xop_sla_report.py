"""
### XOP SLA compliance report

Monthly, on the **first business day of the month at 07:00 America/Chicago** (the support
calendar's zone): for every customer and for XOP as a whole, per SLA clock and urgency, how
many clocks were met, met late and missed, compliance, median and 90th-percentile business
time to respond, recover, deliver the RCA and resolve, MTTR, reopen rate, tickets per system
and per source, the breaches of the month, and a 12-month compliance trend chart.

Each customer's report goes to its management contacts (its own tickets only; no internal
notes or staff names), XOP's to the management (emergency) contact, as an HTML email with the
chart and CSV attachments and a PDF of the same page, all saved under `reports.report_dir`.

**Schedule, honestly.** Airflow cron cannot say "first business day" (holidays), so the DAG is
triggered at 07:00 on days 1-10 of each month and its first task, `first_business_day`,
short-circuits the run on every other day: those runs show as *skipped* in the grid, the one
that reports as *success*. Manual runs always report.

**Manual run.** `month` (YYYY-MM; default: the month before the run), `customer` (a customer
id, or `all` for every customer plus XOP's report), `now` (ISO 8601 with offset) to stamp a replay.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from xop.core.schedule import TIMEZONE
from xop.tasks.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="xop_sla_report",
    schedule=CronTriggerTimetable("0 7 1-10 * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["xop", "sla", "reports"],
    doc_md=__doc__,
    params={
        "month": Param(None, type=["null", "string"], description="report this month (YYYY-MM)"),
        "customer": Param("all", type="string", description="a customer id, or all (+ XOP's report)"),
        "now": Param(None, type=["null", "string"], description="stamp the run at this instant (ISO 8601)"),
    },
)
def xop_sla_report():
    @task.short_circuit
    def first_business_day() -> bool:
        from xop.tasks.reports import is_report_day

        context = get_current_context()
        run_type = getattr(context["dag_run"], "run_type", None)
        return is_report_day(
            run_type=str(getattr(run_type, "value", run_type)), logical_date=context.get("logical_date")
        )

    @task
    def plan(params: dict | None = None) -> dict:
        from xop.tasks.reports import plan_report

        p = params or {}
        context = get_current_context()
        return plan_report(
            run_id=context["run_id"],
            month=p.get("month"),
            customer=p.get("customer"),
            now=p.get("now"),
            logical_date=context.get("logical_date"),
        )

    @task
    def send_reports(report_plan: dict) -> dict:
        from xop.tasks.reports import send_reports

        return send_reports(report_plan)

    @task
    def deliver_outbox(params: dict | None = None) -> dict:
        from xop.tasks.notify import deliver_outbox

        return deliver_outbox((params or {}).get("now"))

    report_plan = plan()
    first_business_day() >> report_plan
    send_reports(report_plan) >> deliver_outbox()


xop_sla_report()

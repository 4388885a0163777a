"""
### XOP SLA sweep

Every five minutes: finds the tickets whose next SLA check has come (through the
`next_due_at` index), sends threshold warnings once per clock and threshold, applies breach
actions from the policy (escalate to the next level and tell the customer who takes over, or
notify the owning level and the emergency contact), then delivers the email outbox over the
Airflow connection `smtp_default`.

One run at a time. Trigger by hand with a `now` (ISO 8601 with offset) to replay a moment.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.tasks.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="xop_sla_sweep",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    tags=["xop", "sla", "tickets"],
    doc_md=__doc__,
    params={"now": Param(None, type=["null", "string"], description="replay at this instant (ISO 8601)")},
)
def xop_sla_sweep():
    @task
    def sweep_due_tickets(params: dict | None = None) -> dict:
        from xop.tasks.sla import run_sweep

        return run_sweep((params or {}).get("now"))

    @task
    def deliver_outbox(params: dict | None = None) -> dict:
        from xop.tasks.notify import deliver_outbox

        return deliver_outbox((params or {}).get("now"))

    sweep_due_tickets() >> deliver_outbox()


xop_sla_sweep()

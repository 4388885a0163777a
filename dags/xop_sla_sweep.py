"""
### XOP SLA sweep

Every five minutes: finds the tickets whose next SLA check has come (through the
`next_due_at` index), sends threshold warnings once per clock and threshold, applies breach
actions from the policy (escalate to the next level and tell the customer who takes over, or
notify the owning level and the emergency contact), then delivers the email outbox over the
Airflow connection `smtp_default`.

In parallel with the delivery, `ring_emergency_bridge` places the automatic SIP call to the
emergency bridge for each new emergency (`emergency_call:` in the config), once per emergency,
and queues a follow-up email with the outcome, which `deliver_call_outcomes` sends. It is a task
of its own so a ringing phone never delays the sweep's writes or the outbox.

One run at a time. Trigger by hand with a `now` (ISO 8601 with offset) to replay a moment.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.tasks.dag_defaults import DEFAULT_ARGS
from xop.tasks.deadlines import sweep_deadline


@dag(
    dag_id="xop_sla_sweep",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    deadline=sweep_deadline(),
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

    @task(execution_timeout=timedelta(minutes=15))
    def ring_emergency_bridge(params: dict | None = None) -> dict:
        from xop.tasks.emergency import ring_emergency_bridge

        return ring_emergency_bridge((params or {}).get("now"))

    @task
    def deliver_call_outcomes(rung: dict) -> dict:
        from xop.tasks.notify import deliver_outbox

        return deliver_outbox(rung["finished_at"])  # the follow-ups are due from the call's end

    swept = sweep_due_tickets()
    swept >> deliver_outbox()
    rung = ring_emergency_bridge()
    swept >> rung
    deliver_call_outcomes(rung)


xop_sla_sweep()

"""
### XOP mail intake

Every minute: reads the support mailbox over IMAP (Airflow connection `xop_imap`, IMAPS or
STARTTLS, certificate verified) and turns each new message into its outcome, exactly once:
replies become public customer updates on their ticket (reopening a recently closed one),
new messages from known contacts open tickets at L2, "close" / "escalate" from the reporter act
on the ticket, auto-replies and bounces never loop (a bounce is recorded on the email it is
about), unknown or unreadable mail goes to the quarantine on the ticket page. Then the outbox
is delivered (acknowledgements go out at once).

One run at a time. Trigger by hand with a `now` (ISO 8601 with offset) to replay a moment.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from xop.tasks.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="xop_mail_intake",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=DEFAULT_ARGS,
    tags=["xop", "intake", "tickets"],
    doc_md=__doc__,
    params={"now": Param(None, type=["null", "string"], description="replay at this instant (ISO 8601)")},
)
def xop_mail_intake():
    @task
    def read_mailbox(params: dict | None = None) -> dict:
        from xop.tasks.intake import read_mailbox

        return read_mailbox((params or {}).get("now"))

    @task
    def deliver_outbox(params: dict | None = None) -> dict:
        from xop.tasks.notify import deliver_outbox

        return deliver_outbox((params or {}).get("now"))

    read_mailbox() >> deliver_outbox()


xop_mail_intake()

"""``default_args`` shared by every XOP DAG: owner, retries, failure alerts by email.

Import-cheap on purpose (DAG files import it at parse time): no config, DB or network reads.
"""

from __future__ import annotations

from datetime import timedelta


def _on_failure(context) -> None:
    # Deferred: the alert reads the config and the SMTP connection only when a task failed.
    from xop.notify.alerts import dag_failure_notifier

    dag_failure_notifier()(context)


DEFAULT_ARGS = {
    "owner": "xop-ops",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "on_failure_callback": _on_failure,
}

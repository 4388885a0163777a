"""The approval step of the restore DAG: a person approves or rejects the swap in Airflow's UI.

Import-light on purpose (the DAG file imports it at parse time): only the standard provider's
human-in-the-loop operator, nothing of the backup code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

APPROVAL_TASK = "approve_swap"
SWAP_TASK = "swap_in"
DEFAULT_APPROVAL_TIMEOUT_MINUTES = 60


class RestoreApprovalOperator(ApprovalOperator):
    """Approve or reject the swap; respondents and timeout are read when the task runs.

    ``assigned_users`` come from the system's ``backup.restore_approvers`` (as prepared) and the
    wait from the ``approval_timeout_minutes`` param (default 60). No answer in time counts as
    **Reject** (the scheduler writes the default).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            subject="Restore {{ params.system }}: replace the live database?",
            body="{{ ti.xcom_pull(task_ids='prepare_restore')['approval_text'] }}",
            defaults=self.REJECT,
            response_timeout=timedelta(minutes=DEFAULT_APPROVAL_TIMEOUT_MINUTES),
            **kwargs,
        )

    def execute(self, context):
        params = context["params"]
        minutes = int(params.get("approval_timeout_minutes") or DEFAULT_APPROVAL_TIMEOUT_MINUTES)
        self.response_timeout = timedelta(minutes=minutes)
        prepared = context["ti"].xcom_pull(task_ids="prepare_restore") or {}
        approvers = prepared.get("approvers") or []
        self.assigned_users = [{"id": user, "name": user} for user in approvers] or None
        return super().execute(context)


__all__ = ["APPROVAL_TASK", "DEFAULT_APPROVAL_TIMEOUT_MINUTES", "SWAP_TASK", "RestoreApprovalOperator"]

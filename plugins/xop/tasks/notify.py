"""The sender task of the DAGs (SLA sweep, daily audit): deliver the outbox over ``smtp_default``."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from airflow.sdk import get_current_context

from xop.notify.delivery import deliver_pending
from xop.notify.smtp import MailServerUnavailable, SmtpTransport
from xop.tasks import metrics, runtime

log = logging.getLogger(__name__)

#: A run stops starting new messages after this long, before the next sweep (every 5 min) is due.
DEFAULT_BUDGET_SECONDS = 240.0


def task_claimer() -> str | None:
    """The running task instance as an outbox claimer, the same for each of its tries.

    ``dag_id/run_id/task_id/map_index``: Airflow runs one try of a task instance at a time, so
    rows leased under this name that are still pending were left by a dead earlier try (a worker
    killed mid-delivery) and this try sends them at once. None outside a task (tests, the CLI).
    """
    try:
        ti = get_current_context()["ti"]
    except RuntimeError:  # "no context was found": not running inside an Airflow task
        return None
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"


def deliver_outbox(
    now: str | datetime | None = None,
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    claimer: str | None = None,
) -> dict[str, Any]:
    """Deliver every due notification; return the :class:`DeliveryStats` as a dict (for XCom).

    Raises :class:`~xop.notify.smtp.MailServerUnavailable` when no SMTP session could be opened:
    the rows stay pending (nothing is lost) and the outage shows as a failed task in Airflow.
    Messages that failed for good are not an error of the task: they are ``failed`` rows with
    ``last_error`` (:func:`xop.notify.outbox.failed_notifications`) and are logged.
    """

    engine, at = runtime.ticket_db(), runtime.resolve_now(now)
    stats = deliver_pending(
        engine,
        smtp=SmtpTransport(),
        now=at,
        deadline=time.monotonic() + budget_seconds,
        claimer=claimer or task_claimer(),
    )
    log.info(
        "outbox: %d claimed, %d sent, %d to retry, %d failed, %d released",
        stats.claimed,
        stats.sent,
        stats.retried,
        stats.failed,
        stats.released,
    )
    metrics.after_delivery(engine, stats, now=at)
    for error in stats.errors:
        log.warning("outbox: %s", error)
    if stats.server_unavailable:
        raise MailServerUnavailable(
            f"{stats.server_unavailable} ({stats.sent} sent before that; the rest stay pending)"
        )
    out = asdict(stats)
    out["errors"] = out["errors"][:20]  # XCom stays small; failed rows keep their last_error
    return out

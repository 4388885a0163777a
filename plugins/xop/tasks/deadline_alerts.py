"""What happens when a pipeline deadline is missed: one email to operations, one pipeline ticket.

Called by Airflow's executor with the scheduler's context (``dag_run`` as the REST API shows it,
``deadline`` with its id and time) and the ``what`` of :mod:`xop.tasks.deadlines`. Both effects
are idempotent, so a retried callback changes nothing: the email is queued in the outbox under
``deadline:<dag_id>:<run_id>`` and sent with the same ``dag_failure`` template as failure alerts;
the ticket is the one monitoring ticket of ``pipeline:deadline:<dag_id>`` (opened, or noted while
it is active), under the config's ``deadlines.ticket_customer``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


def _instant(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def deadline_missed(what: str, context: dict[str, Any] | None = None, now: datetime | None = None) -> dict:
    """Email operations and open (or note) the pipeline's ticket; returns what was done."""
    # Imported here, not at the top: Airflow imports this module (to check the callback path)
    # whenever it parses a DAG file with a deadline, and parsing must stay fast.
    from sqlalchemy import select

    from xop.notify.outbox import enqueue_rendered
    from xop.notify.render import render_email
    from xop.notify.tables import notifications
    from xop.tasks import metrics, runtime

    context = context or {}
    run = context.get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id") or run.get("run_id", "?")
    due = _instant((context.get("deadline") or {}).get("deadline_time"))
    now = now or datetime.now(UTC)
    cfg = runtime.config()
    engine = runtime.ticket_db()
    text = f"deadline missed: {what}" + (f" (due {due.isoformat()})" if due else "")
    failure = {
        "dag_id": dag_id,
        "task_id": None,
        "run_id": run_id,
        "try_number": None,
        "logical_date": _instant(run.get("logical_date")),
        "exception": text,
        "log_url": None,
        "hostname": None,
    }
    recipients = list(cfg.deadlines.recipients or cfg.support.internal_recipients)
    keys = [f"deadline:{dag_id}:{run_id}:{recipient}" for recipient in recipients]
    with engine.connect() as conn:
        handled = conn.execute(select(notifications.c.id).where(notifications.c.dedup_key.in_(keys))).first()
    if handled is not None:  # a retried callback: this miss was reported already
        return {"emails_queued": 0, "ticket": None, "already_reported": True}
    ticket = None
    customer = cfg.deadlines.ticket_customer
    if customer is None:
        log.error("deadline of %s missed; no ticket: set deadlines.ticket_customer in the config", dag_id)
    else:
        service = runtime.ticket_service()
        ticket, _created = service.report_problem(
            dedup_key=f"pipeline:deadline:{dag_id}",
            customer=customer,
            system=None,
            subject=f"Pipeline late: {dag_id}",
            description=f"{text}\nrun {run_id}",
            urgency="major",
            now=now,
        )
    metrics.deadline_missed(dag_id)
    rendered = render_email("dag_failure", {"failure": failure})
    with engine.begin() as conn:
        queued = enqueue_rendered(
            conn,
            kind="dag_failure",
            audience="internal",
            recipients=list(zip(recipients, keys, strict=True)),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            now=now,
        )
    log.warning(
        "%s: %s; %d email(s) queued; ticket %s", dag_id, text, queued, getattr(ticket, "number", None)
    )
    return {"emails_queued": queued, "ticket": getattr(ticket, "number", None)}

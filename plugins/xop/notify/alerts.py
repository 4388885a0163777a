"""Failure alerts of the DAGs: the SMTP provider's notifier, addressed to XOP's internal recipients.

Use in a DAG: ``default_args={"on_failure_callback": dag_failure_notifier()}``.

These alerts go straight to SMTP, not through the outbox: a failing DAG may be failing because the
ticket database is down, and the alert must still go out. Recipients, sender and body are resolved
when a failure happens, not when the DAG file is parsed (no config reads at parse time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from xop.core.config import load_config
from xop.notify.render import render_email


def _failure_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The ``failure`` variables of the dag_failure template, from Airflow's callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    log_url = None
    if ti is not None:
        try:
            log_url = ti.log_url
        except Exception:  # log_url needs the API server's base URL; an alert must not fail on it
            log_url = None
    exception = context.get("exception") or context.get("reason") or "(no exception in the callback context)"
    return {
        "dag_id": next((x.dag_id for x in (ti, dag, dag_run) if getattr(x, "dag_id", None)), "?"),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", "?"),
        "try_number": getattr(ti, "try_number", None),
        "logical_date": logical_date if isinstance(logical_date, datetime) else None,
        "exception": f"{type(exception).__name__}: {exception}"
        if isinstance(exception, BaseException)
        else str(exception),
        "log_url": log_url,
        "hostname": getattr(ti, "hostname", None),
    }


class XopFailureNotifier(SmtpNotifier):
    """:class:`SmtpNotifier` that renders ``email/dag_failure`` and defaults to the config's recipients."""

    def notify(self, context: Any) -> None:
        # Fill the fields for this one alert and put them back afterwards: the same notifier
        # object may report several failures (DAG-level callbacks run in a long-lived process).
        saved = (self.to, self.from_email, self.subject, self.html_content)
        try:
            if not self.to or not self.from_email:
                support = load_config().support
                self.to = self.to or list(support.internal_recipients)
                self.from_email = self.from_email or support.sender
            if self.html_content is None or self.subject is None:
                rendered = render_email("dag_failure", {"failure": _failure_context(context)})
                self.subject = self.subject or rendered.subject
                self.html_content = self.html_content or rendered.html
            super().notify(context)
        finally:
            self.to, self.from_email, self.subject, self.html_content = saved


def dag_failure_notifier(
    to: str | Iterable[str] | None = None,
    *,
    from_email: str | None = None,
    smtp_conn_id: str = "smtp_default",
) -> XopFailureNotifier:
    """The ``on_failure_callback`` of XOP DAGs.

    ``to`` and ``from_email`` default to ``support.internal_recipients`` and ``support.sender``
    of the XOP config, read when a failure is reported.
    """
    recipients = [to] if isinstance(to, str) else (list(to) if to is not None else [])
    return XopFailureNotifier(to=recipients, from_email=from_email, smtp_conn_id=smtp_conn_id)

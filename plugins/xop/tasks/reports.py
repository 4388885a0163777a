"""Tasks of ``xop_sla_report``: the first-business-day gate, the plan, the reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from xop.core.schedule import TIMEZONE
from xop.reports import run
from xop.tasks import runtime

log = logging.getLogger(__name__)


def is_report_day(*, run_type: str | None, logical_date: datetime | None) -> bool:
    """Scheduled runs go ahead only on the first business day of the month; manual runs always."""
    if run_type != "scheduled" or logical_date is None:
        return True
    cfg = runtime.config()
    if cfg.calendar.timezone != TIMEZONE:
        log.warning(
            "the DAG is scheduled in %s but the support calendar is in %s; set both the same",
            TIMEZONE,
            cfg.calendar.timezone,
        )
    go = run.first_business_day(cfg, logical_date)
    log.info("%s is %sthe first business day of its month", logical_date.isoformat(), "" if go else "not ")
    return go


def plan_report(
    *, run_id: str, month: str | None, customer: str | None, now: str | None, logical_date: datetime | None
) -> dict[str, Any]:
    return run.plan_report(
        runtime.config(),
        run_id=run_id,
        month_param=month,
        customer_param=customer,
        now=runtime.resolve_now(now),
        logical_date=logical_date,
    )


def send_reports(plan: Mapping[str, Any]) -> dict[str, Any]:
    return run.send_reports(runtime.config(), runtime.ticket_db(), plan)

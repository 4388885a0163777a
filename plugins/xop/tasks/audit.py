"""Tasks of ``xop_daily_audit``: plan the run, audit each system (mapped), send the report."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from xop.audit import run
from xop.core.schedule import schedule_mismatch
from xop.tasks import runtime

log = logging.getLogger(__name__)


def plan_audit(
    *, run_id: str, date_param: str | None, now_param: str | None, logical_date: datetime | None
) -> dict[str, Any]:
    cfg = runtime.config()
    if warning := schedule_mismatch("xop_daily_audit", cfg.schedules.daily_audit):
        log.warning(warning)
    return run.plan_audit(
        cfg,
        runtime.ticket_db(),
        run_id=run_id,
        date_param=date_param,
        now=runtime.resolve_now(now_param),
        logical_date=logical_date,
    )


def audit_system(plan: Mapping[str, Any], system_id: str) -> dict[str, Any]:
    return run.audit_system(runtime.config(), runtime.ticket_db(), runtime.ticket_service(), plan, system_id)


def send_report(plan: Mapping[str, Any], results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    return run.send_report(runtime.config(), runtime.ticket_db(), plan, results)

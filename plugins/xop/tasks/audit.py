"""Tasks of ``xop_daily_audit``: plan the run, audit each system (mapped), send the report."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from xop.audit import run
from xop.audit.tables import health_findings
from xop.backup.api import latest_verified
from xop.core.schedule import schedule_mismatch
from xop.core.specs.backup import backup_root
from xop.tasks import metrics, runtime

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
    cfg, engine = runtime.config(), runtime.ticket_db()
    result = run.audit_system(cfg, engine, runtime.ticket_service(), plan, system_id)
    _, system = cfg.system(system_id)
    with engine.connect() as conn:
        severities = dict(
            conn.execute(
                select(health_findings.c.severity, func.count())
                .where(
                    health_findings.c.run_id == plan["audit_run_id"], health_findings.c.system == system_id
                )
                .group_by(health_findings.c.severity)
            ).all()
        )
    backup = latest_verified(backup_root(cfg, system), system=system_id) if system.backup else None
    metrics.after_audit(severities, system=system_id, backup=backup)
    return result


def send_report(plan: Mapping[str, Any], results: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    return run.send_report(runtime.config(), runtime.ticket_db(), plan, results)

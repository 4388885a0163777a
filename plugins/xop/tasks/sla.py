"""Task bodies of the SLA sweep DAG (the DAG file only wires them)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

from xop.api import idempotency
from xop.tasks import metrics, runtime
from xop.tickets.sweep import sweep

log = logging.getLogger(__name__)


def run_sweep(now: str | None = None) -> dict:
    engine, cfg, at = runtime.ticket_db(), runtime.config(), runtime.resolve_now(now)
    stats = sweep(engine, cfg, now=at)
    metrics.after_sweep(engine, stats, now=at)
    log.info(
        "SLA sweep: %d tickets due, %d warnings, %d breaches, %d escalated, %d emails queued in %.3f s",
        stats.tickets,
        stats.warnings,
        stats.breaches,
        stats.escalations,
        stats.emails,
        stats.seconds,
    )
    expired = idempotency.expire(engine, now=at, max_age=timedelta(hours=cfg.api.idempotency_key_hours))
    log.info("API Idempotency-Key records expired: %d", expired)
    out = asdict(stats)
    out["idempotency_keys_expired"] = expired
    out["escalated"] = out["escalated"][:100]  # XCom stays small; the full list is in the history
    return out

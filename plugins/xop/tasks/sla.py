"""Task bodies of the SLA sweep DAG (the DAG file only wires them)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from xop.tasks import runtime
from xop.tickets.sweep import sweep

log = logging.getLogger(__name__)


def run_sweep(now: str | None = None) -> dict:

    stats = sweep(runtime.ticket_db(), runtime.config(), now=runtime.resolve_now(now))
    log.info(
        "SLA sweep: %d tickets due, %d warnings, %d breaches, %d escalated, %d emails queued in %.3f s",
        stats.tickets,
        stats.warnings,
        stats.breaches,
        stats.escalations,
        stats.emails,
        stats.seconds,
    )
    out = asdict(stats)
    out["escalated"] = out["escalated"][:100]  # XCom stays small; the full list is in the history
    return out

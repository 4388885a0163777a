"""XOP Networks operations pipeline: the domain package behind the Airflow DAGs.

The names below are the documented Python API (``docs/api.md``): what an operations engineer
scripts against. They stay; the modules behind them may move. They are imported on first use
(PEP 562), so ``import xop.core.config`` stays cheap for DAG files parsed by the DAG processor.

    import xop
    cfg = xop.load_config()
    engine = xop.ticket_db()                  # the xop_db connection, migrated
    service = xop.TicketService(engine, cfg)
    stats = xop.sweep(engine, cfg, now=...)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # configuration and errors
    "XopConfig": "xop.core.config",
    "load_config": "xop.core.config",
    "XopError": "xop.core.errors",
    "ConfigError": "xop.core.errors",
    "InvalidInput": "xop.core.errors",
    "InvalidTransition": "xop.core.errors",
    "TicketNotFound": "xop.core.errors",
    # the ticket database
    "ticket_db": "xop.connections.ticket_db",
    "upgrade": "xop.db.migrate",
    "ensure_current": "xop.db.migrate",
    # tickets and the SLA sweep
    "TicketService": "xop.tickets.service",
    "Ticket": "xop.tickets.service",
    "sweep": "xop.tickets.sweep",
    "BusinessCalendar": "xop.sla.calendar",
    # email outbox
    "deliver_pending": "xop.notify.delivery",
    "SmtpTransport": "xop.notify.smtp",
    # backups, publication, restore
    "take_backup": "xop.backup.api",
    "verify_backup": "xop.backup.api",
    "list_backups": "xop.backup.api",
    "latest_verified": "xop.backup.api",
    "apply_retention": "xop.backup.api",
    "restore_backup": "xop.backup.restore",
    "publish": "xop.backup.publication",
    # trunk check
    "plan_checks": "xop.trunks.run",
    "probe": "xop.trunks.run",
    "record_and_ticket": "xop.trunks.run",
    "connection_credentials": "xop.trunks.credentials",
    "place_call": "xop.trunks.call",
    "place_call_async": "xop.trunks.call",
    "CallOutcome": "xop.trunks.call",
    # daily audit
    "plan_audit": "xop.audit.run",
    "audit_system": "xop.audit.run",
    "send_report": "xop.audit.run",
    "compute_usage": "xop.audit.usage",
    "run_health_checks": "xop.audit.health",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""What every DAG task starts from: configuration, the migrated ticket database, ``now``.

DAG files stay thin and parse fast: they import this inside their tasks, never at module level.
"""

from __future__ import annotations

from datetime import UTC, datetime

from xop.connections.ticket_db import ticket_db
from xop.core.config import XopConfig, load_config
from xop.core.errors import InvalidInput
from xop.tickets import TicketService


def config() -> XopConfig:
    return load_config()


def ticket_service() -> TicketService:
    return TicketService(ticket_db(), config())


def resolve_now(value: str | datetime | None) -> datetime:
    """``now`` of a task: the ``now`` param when given (tests, replays), else the wall clock."""
    if value in (None, ""):
        return datetime.now(UTC)
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(
                "now", f"must be an ISO 8601 instant like 2026-12-01T15:00:00Z, got {value!r}"
            ) from None
    if dt.tzinfo is None:
        raise InvalidInput("now", f"must include a UTC offset, got {value!r}")
    return dt.astimezone(UTC)


__all__ = ["config", "resolve_now", "ticket_db", "ticket_service"]

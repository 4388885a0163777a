"""What every DAG task starts from: configuration, the migrated ticket database, ``now``.

DAG files stay thin and parse fast: they import this inside their tasks, never at module level.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from xop.core.config import XopConfig, load_config
from xop.core.errors import InvalidInput
from xop.db.engine import DEFAULT_CONN_ID, get_engine
from xop.db.migrate import ensure_current


def config() -> XopConfig:
    return load_config()


_migrated: set[str] = set()


def ticket_db(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The ticket database of the Airflow connection ``conn_id``, migrated to the newest schema.

    The connection is read on every call (it may change between runs of one worker process);
    engines are cached per database URL and the schema is checked once per URL.
    """
    engine = get_engine(conn_id)
    key = engine.url.render_as_string(hide_password=False)
    if key not in _migrated:
        ensure_current(engine)
        _migrated.add(key)
    return engine


def ticket_service():
    from xop.tickets import TicketService

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

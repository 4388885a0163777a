"""The XOP ticket database, reached through the Airflow connection ``xop_db``.

PostgreSQL in production and a SQLite file as the embedded default. The connection is read on
every call (it may change between runs of one worker process); engines are cached per database
URL and the schema is checked (and migrated) once per URL and process.
"""

from __future__ import annotations

from sqlalchemy import Engine

from xop.db.engine import DEFAULT_CONN_ID, get_engine
from xop.db.migrate import ensure_current

_migrated: set[str] = set()


def ticket_db(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The ticket database of the Airflow connection ``conn_id``, migrated to the newest schema."""
    engine = get_engine(conn_id)
    key = engine.url.render_as_string(hide_password=False)
    if key not in _migrated:
        ensure_current(engine)
        _migrated.add(key)
    return engine

"""The XOP ticket database, reached through the Airflow connection ``xop_db``.

PostgreSQL in production (connection type ``postgres``: host, port, login, password, schema =
database) and a SQLite file as the embedded default (type ``sqlite``, the file path in ``host``).
The connection is read on every call (it may change between runs of one worker process);
engines are cached per database URL (:mod:`xop.db.engine`) and the schema is checked (and
migrated) once per URL and process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine

from xop.connections.read import get_connection
from xop.core.errors import ConfigError
from xop.db.engine import engine_from_url
from xop.db.migrate import ensure_current

DEFAULT_CONN_ID = "xop_db"


def url_from_connection(conn: Any) -> URL:
    """Map an Airflow ``Connection`` (sqlite, postgres or xop_sysdb) onto a SQLAlchemy URL."""
    kind = (conn.conn_type or "").lower()
    if kind == "sqlite":
        if not conn.host:
            raise ConfigError(f"connection {conn.conn_id!r}: sqlite needs the file path in 'host'")
        return URL.create("sqlite", database=conn.host)
    if kind in ("postgres", "postgresql", "xop_sysdb"):
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or "127.0.0.1",
            port=conn.port or 5432,
            database=conn.schema or "xop",
        )
    raise ConfigError(f"connection {conn.conn_id!r}: type {kind!r} is not supported (use sqlite or postgres)")


def ticket_db_url(conn_id: str = DEFAULT_CONN_ID) -> URL:
    """The URL of the ticket database named by the Airflow connection ``conn_id``."""
    return url_from_connection(get_connection(conn_id, what="the ticket database"))


def database_url(conn_id: str) -> URL:
    """The URL of any database connection (a system's CDR database, read-only use)."""
    return url_from_connection(get_connection(conn_id, what="a system database"))


_migrated: set[str] = set()


def ticket_db(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The ticket database of the Airflow connection ``conn_id``, migrated to the newest schema."""
    engine = engine_from_url(ticket_db_url(conn_id))
    key = engine.url.render_as_string(hide_password=False)
    if key not in _migrated:
        ensure_current(engine)
        _migrated.add(key)
    return engine

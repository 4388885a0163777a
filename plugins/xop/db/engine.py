"""SQLAlchemy engines for the XOP ticket database, built from the Airflow connection ``xop_db``.

The connection is PostgreSQL in production and a SQLite file as the embedded default. This is
the only module that turns that connection into an engine; everything else asks for one here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event

from xop.core.errors import ConfigError

DEFAULT_CONN_ID = "xop_db"


def url_from_connection(conn: Any) -> URL:
    """Map an Airflow ``Connection`` (sqlite or postgres) onto a SQLAlchemy URL."""
    kind = (conn.conn_type or "").lower()
    if kind == "sqlite":
        if not conn.host:
            raise ConfigError(f"connection {conn.conn_id!r}: sqlite needs the file path in 'host'")
        return URL.create("sqlite", database=conn.host)
    if kind in ("postgres", "postgresql"):
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or "127.0.0.1",
            port=conn.port or 5432,
            database=conn.schema or "xop",
        )
    raise ConfigError(f"connection {conn.conn_id!r}: type {kind!r} is not supported (use sqlite or postgres)")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN: read-then-write transactions (ticket numbers, clocks)
    # then serialise instead of failing with "database is locked" on upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@cache
def engine_from_url(url: str | URL, **kwargs: Any) -> Engine:
    """One engine per URL for the process (engines own connection pools)."""
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is turned off so that BEGIN IMMEDIATE is ours.
        event.listen(engine, "connect", lambda c, r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def get_engine(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The engine of the ticket database named by the Airflow connection ``conn_id``."""
    from airflow.sdk import BaseHook

    return engine_from_url(url_from_connection(BaseHook.get_connection(conn_id)))

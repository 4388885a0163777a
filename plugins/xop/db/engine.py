"""SQLAlchemy engines for the XOP ticket database: one per URL, SQLite tuned for concurrent writers.

The URL comes from the Airflow connection ``xop_db``, read by :mod:`xop.connections.ticket_db`
(PostgreSQL in production, a SQLite file as the embedded default); ``xop.tasks.runtime.ticket_db``
puts the two together.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event


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

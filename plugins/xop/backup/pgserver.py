"""The PostgreSQL server of a system database, as the backup and restore code reach it.

One class per external system (STYLE.md): :class:`PgServer` is the only place that reads the
Airflow connection of a system database. Client programs (``pg_dump``, ``pg_restore``) get the
credentials through libpq's environment variables (``PGPASSWORD`` and friends), never on their
command line, so they appear neither in ``ps`` nor in logs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from xop.core.errors import BackupError, ConfigError

# libpq settings a connection's extra may carry (the Postgres provider uses the same names).
_LIBPQ_EXTRAS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


@dataclass(frozen=True)
class PgServer:
    """Host, port, role and database of a PostgreSQL system database."""

    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_connection(cls, conn_id: str, *, database: str | None = None) -> PgServer:
        """Read the Airflow connection ``conn_id`` (``database`` overrides its schema)."""
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # the SDK raises its own AirflowNotFoundException
            raise ConfigError(f"Airflow connection {conn_id!r} of the system database: {exc}") from exc
        name = database or conn.schema
        if not name:
            raise ConfigError(
                f"Airflow connection {conn_id!r} names no database: set its schema or the backup's database"
            )
        extra: dict[str, Any] = conn.extra_dejson or {}
        options = {k: str(v) for k, v in extra.items() if k in _LIBPQ_EXTRAS}
        return cls(
            host=conn.host or "localhost",
            port=int(conn.port or 5432),
            user=conn.login or "postgres",
            database=name,
            password=conn.password or None,
            options=options,
        )

    def with_database(self, database: str) -> PgServer:
        return PgServer(self.host, self.port, self.user, database, self.password, dict(self.options))

    def env(self) -> dict[str, str]:
        """Environment for libpq client programs: credentials travel here, not in argv."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.database,
            PGAPPNAME="xop-backup",
        )
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, value in self.options.items():
            env[_LIBPQ_EXTRAS[key]] = value
        return env

    def connect(self, *, database: str | None = None, autocommit: bool = False):
        """A psycopg (3) connection to ``database`` (default: the system database)."""
        import psycopg

        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": database or self.database,
            "application_name": "xop-backup",
            "autocommit": autocommit,
        }
        if self.password:
            kwargs["password"] = self.password
        kwargs.update(self.options)
        try:
            return psycopg.connect(**kwargs)
        except psycopg.Error as exc:
            raise BackupError(
                f"cannot connect to PostgreSQL {self.host}:{self.port} database "
                f"{kwargs['dbname']!r} as {self.user!r}: {exc}"
            ) from exc


def pg_program(name: str) -> str:
    """Absolute path of a PostgreSQL client program (``pg_dump``, ``pg_restore``...)."""
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} not found on PATH: install postgresql-client (same major as the server)")
    return found

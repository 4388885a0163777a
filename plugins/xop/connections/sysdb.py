"""A system database's PostgreSQL server, as backup, restore and the health probes reach it.

:class:`PgServer` holds what the Airflow connection says (host, port, role, database, password
and libpq options from the extra). Client programs (``pg_dump``, ``pg_restore``) get the
credentials through libpq's environment variables (``PGPASSWORD`` and friends), never on their
command line, so they appear neither in ``ps`` nor in logs.

Connection types: ``xop_sysdb`` (the pipeline's own, with a Test button) or the Postgres
provider's ``postgres``. Extra (all optional): ``sslmode``, ``sslrootcert``, ``sslcert``,
``sslkey``, ``connect_timeout``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from xop.connections.read import extra_of, get_connection
from xop.core.errors import BackupError, ConfigError

CONN_TYPE = "xop_sysdb"

#: libpq settings a connection's extra may carry (the Postgres provider uses the same names).
LIBPQ_EXTRAS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


@dataclass(frozen=True)
class PgServer:
    """Host, port, role and database of a PostgreSQL system database (password not in repr)."""

    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)
    application_name: str = "xop-backup"

    @classmethod
    def from_connection(
        cls, conn_id: str, *, database: str | None = None, default_database: str | None = None
    ) -> PgServer:
        """Read the Airflow connection ``conn_id`` (``database`` overrides its schema; without
        either, ``default_database``)."""
        conn = get_connection(conn_id, what="a system database")
        name = database or conn.schema or default_database
        if not name:
            raise ConfigError(
                f"Airflow connection {conn_id!r} names no database: set its schema or the backup's database"
            )
        extra = extra_of(conn)
        options = {k: str(v) for k, v in extra.items() if k in LIBPQ_EXTRAS}
        return cls(
            host=conn.host or "localhost",
            port=int(conn.port or 5432),
            user=conn.login or "postgres",
            database=name,
            password=conn.password or None,
            options=options,
        )

    def with_database(self, database: str) -> PgServer:
        return PgServer(
            self.host,
            self.port,
            self.user,
            database,
            self.password,
            dict(self.options),
            self.application_name,
        )

    def env(self) -> dict[str, str]:
        """Environment for libpq client programs: credentials travel here, not in argv."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.database,
            PGAPPNAME=self.application_name,
        )
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, value in self.options.items():
            env[LIBPQ_EXTRAS[key]] = value
        return env

    def connect(self, *, database: str | None = None, autocommit: bool = False, timeout: float | None = None):
        """A psycopg (3) connection to ``database`` (default: the system database)."""
        import psycopg

        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": database or self.database,
            "application_name": self.application_name,
            "autocommit": autocommit,
        }
        if self.password:
            kwargs["password"] = self.password
        kwargs.update(self.options)
        if timeout is not None and "connect_timeout" not in self.options:
            kwargs["connect_timeout"] = max(1, int(timeout))
        try:
            return psycopg.connect(**kwargs)
        except psycopg.Error as exc:
            raise BackupError(
                f"cannot connect to PostgreSQL {self.host}:{self.port} database "
                f"{kwargs['dbname']!r} as {self.user!r}: {exc}"
            ) from exc


def select_one(server: PgServer, *, timeout: float = 10.0) -> tuple[bool, str]:
    """``SELECT 1`` on the server's database: the Test button of a system database."""
    try:
        with server.connect(timeout=timeout) as conn:
            version = conn.execute("SELECT 1, current_setting('server_version')").fetchone()
    except BackupError as exc:
        return False, str(exc)
    return (
        True,
        f"SELECT 1 answered by PostgreSQL {version[1]} at {server.host}:{server.port}/{server.database}",
    )

"""The PostgreSQL server of a system database, as the backup and restore code reach it.

:class:`~xop.connections.sysdb.PgServer` (re-exported here) reads the Airflow connection; this
module adds what the backup needs of the machine: the client programs.
"""

from __future__ import annotations

import shutil

from xop.connections.sysdb import PgServer
from xop.core.errors import ConfigError

__all__ = ["PgServer", "pg_program"]


def pg_program(name: str) -> str:
    """Absolute path of a PostgreSQL client program (``pg_dump``, ``pg_restore``...)."""
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} not found on PATH: install postgresql-client (same major as the server)")
    return found

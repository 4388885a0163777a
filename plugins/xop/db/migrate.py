"""Schema migrations with Alembic, driven from Python so DAGs, tests and the demo share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


#: Arbitrary constant: the PostgreSQL advisory lock that serialises concurrent migrations.
_LOCK_ID = 0x0_70_9D_B0


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest). Safe to call on every start,
    also from parallel tasks: on PostgreSQL an advisory lock lets one migrate at a time."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
        command.upgrade(alembic_config(conn), revision)


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def ensure_current(engine: Engine) -> None:
    """Upgrade only when the database is behind (a cheap read on every task start)."""
    if current(engine) != head():
        upgrade(engine)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

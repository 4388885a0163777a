"""Test harness shared by every test module.

- A throwaway ``AIRFLOW_HOME`` with SQLite metadata and the examples off, set before Airflow is
  imported anywhere.
- A fresh PostgreSQL database per run on 127.0.0.1:5432 (trust auth), dropped at the end.
  Unreachable PostgreSQL is a failure, never a skip.
- ``db_engine``: a migrated ticket database, parametrised over SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="xop-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "plugins")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("XOP_DEADLINES", "off")  # dag.test() cannot run DAG deadlines (xop.tasks.deadlines)

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / "tests" / "data" / "config.yaml"
PG_ADMIN_URL = os.environ.get("XOP_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_pg_database(prefix: str = "xop_test") -> str:
    """Create an empty database with a unique name; returns its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    eng = _admin()
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    eng = _admin()
    with eng.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    eng.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def xop_config():
    from xop.core.config import load_config

    os.environ["XOP_CONFIG"] = str(TEST_CONFIG)
    return load_config(TEST_CONFIG)


def _fresh_engine(kind: str, tmp_path: Path, pg_url: str) -> sa.Engine:
    from xop.db.engine import engine_from_url
    from xop.db.migrate import upgrade

    if kind == "sqlite":
        engine = engine_from_url(f"sqlite:///{tmp_path / 'xop.db'}")
    else:
        engine = engine_from_url(pg_url)
        # One database for the session: start every test from an empty schema.
        with engine.begin() as c:
            c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request, tmp_path, pg_url) -> Iterator[sa.Engine]:
    """A migrated, empty XOP database on SQLite and on PostgreSQL."""
    engine = _fresh_engine(request.param, tmp_path, pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(tmp_path, pg_url) -> Iterator[sa.Engine]:
    """A migrated, empty XOP database on PostgreSQL only (concurrency tests)."""
    engine = _fresh_engine("postgresql", tmp_path, pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's own metadata database (SQLite in the throwaway AIRFLOW_HOME), created once."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(scope="session")
def run_dag(airflow_db):
    """Run a DAG of ``dags/`` end to end in-process with ``dag.test()``; returns the DagRun.

    Usage: ``run_dag("xop_sla_sweep", now="2026-12-01T15:00:00+00:00")`` (keywords = run conf).
    Set the connections the DAG needs first (``AIRFLOW_CONN_XOP_DB`` ... via monkeypatch.setenv).
    The DAG's file is parsed again when ``XOP_CONFIG`` (or its file) changed since, as the DAG
    processor would: the manual-run forms offer the configured ids.
    """
    from airflow.dag_processing.dagbag import DagBag

    parsed: dict[tuple, object] = {}

    def run(dag_id: str, **conf):
        config = os.environ.get("XOP_CONFIG", "")
        try:
            stamp = Path(config).stat().st_mtime_ns if config else None
        except OSError:
            stamp = None
        key = (dag_id, config, stamp)
        if key not in parsed:
            bag = DagBag(str(REPO / "dags" / f"{dag_id}.py"))
            assert not bag.import_errors, bag.import_errors
            parsed[key] = bag.get_dag(dag_id)
        return parsed[key].test(run_conf=conf or None)

    return run


def outbox_rows(engine: sa.Engine, kind: str | None = None) -> list[dict]:
    """The outbox, oldest first, each row with its subject and message bytes (ticket emails are
    rendered at delivery; they are rendered here the same way to look at them)."""
    from xop.notify.delivery import rendered
    from xop.notify.tables import notifications

    q = sa.select(notifications).order_by(notifications.c.id)
    if kind:
        q = q.where(notifications.c.kind == kind)
    with engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(q)]
    for r in rows:
        r["subject"], r["mime"] = rendered(r)
    return rows


@pytest.fixture
def maildrop(tmp_path, monkeypatch):
    """A real SMTP server (aiosmtpd) on a loopback port; ``smtp_default`` points at it."""
    from xop.demo.peers import MailDrop

    with MailDrop(tmp_path / "mail") as drop:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", drop.connection_uri())
        yield drop

"""Idempotency-Key records expire: the sweep's task deletes those older than 24 hours (config)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.api.conftest import T0
from xop.api import idempotency
from xop.api.tables import idempotency_keys
from xop.core.errors import InvalidInput


def _keys(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(sa.select(idempotency_keys.c.key)).scalars())


def _claim(engine, key: str, at) -> None:
    idempotency.claim(engine, actor="alice", key=key, fp="f" * 64, now=at)


def test_keys_older_than_the_limit_go_and_younger_ones_stay(client, api_engine):
    day = timedelta(hours=24)
    _claim(api_engine, "old", T0 - day - timedelta(seconds=1))
    _claim(api_engine, "edge", T0 - day)  # exactly 24 h: kept (strictly older goes)
    _claim(api_engine, "young", T0 - timedelta(hours=1))
    idempotency.complete(api_engine, actor="alice", key="old", status_code=201, body={}, now=T0 - day)
    assert idempotency.expire(api_engine, now=T0) == 1
    assert _keys(api_engine) == {"edge", "young"}
    assert idempotency.expire(api_engine, now=T0) == 0  # idempotent itself
    assert idempotency.expire(api_engine, now=T0, max_age=timedelta(minutes=30)) == 2
    with pytest.raises(InvalidInput, match="idempotency_key_hours"):
        idempotency.expire(api_engine, now=T0, max_age=timedelta(0))


def test_an_expired_key_acts_again(client, api_engine):
    from tests.api.test_api import BASE, NEW

    key = {"Idempotency-Key": "retry-after-a-day"}
    first = client.post(f"{BASE}/tickets", json=NEW, headers=key).json()["number"]
    idempotency.expire(api_engine, now=T0 + timedelta(hours=25))
    second = client.post(f"{BASE}/tickets", json=NEW, headers=key)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert second.json()["number"] != first


def test_the_sweep_task_expires_keys(client, api_engine, api_db_url, tmp_path):
    """``xop.tasks.sla.run_sweep`` (the DAG's task body) in a process of its own, reading the
    ticket database from its Airflow connection, as a worker does."""
    _claim(api_engine, "stale", T0 - timedelta(hours=30))
    _claim(api_engine, "fresh", T0 - timedelta(hours=2))
    url = make_url(api_db_url)
    conn = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
    }
    code = (
        "import json, sys; from xop.tasks.sla import run_sweep; "
        "out = run_sweep(sys.argv[1]); print(json.dumps(out['idempotency_keys_expired'])); "
        "assert 'fastapi' not in sys.modules, 'the sweep loaded the API server'"
    )
    from tests.conftest import TEST_CONFIG

    env = {
        "AIRFLOW_CONN_XOP_DB": json.dumps(conn),
        "XOP_CONFIG": str(TEST_CONFIG),
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": ":".join(p for p in sys.path if p),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", code, T0.isoformat()], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
    assert _keys(api_engine) == {"fresh"}

"""Fixtures of the API tests: Airflow's API server app in-process, real tokens, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api import harness
from tests.conftest import create_pg_database, drop_pg_database

#: Tuesday 2026-12-01 10:00 America/Chicago: inside business hours.
T0 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


class Clock:
    """The API's ``now``, set by the tests (no sleeping)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def api_db_url() -> Iterator[str]:
    url = create_pg_database("xop_api")
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def api_engine(api_db_url):
    engine = harness.migrated_engine(api_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def airflow_app(airflow_db, tmp_path_factory):
    # airflow_db: token checks read Airflow's revoked_token table in its metadata database.
    return harness.airflow_app(Path(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def session_client(airflow_app) -> Iterator[TestClient]:
    with TestClient(airflow_app) as client:
        yield client


@pytest.fixture(scope="session")
def tokens(session_client) -> dict[str, str]:
    return {user: harness.token_for(session_client, user) for user in harness.USERS}


@pytest.fixture(scope="session")
def live_url(airflow_app) -> Iterator[str]:
    """The same Airflow app over real HTTP (uvicorn on a loopback port)."""
    with harness.serve(airflow_app) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def client(session_client, airflow_app, api_engine, xop_config, clock, tokens) -> TestClient:
    """A client authenticated as alice on an empty ticket database, ``now`` = :data:`T0`."""
    harness.empty_tables(api_engine)
    harness.attach(harness.ticket_app_of(airflow_app), api_engine, xop_config, clock)
    session_client.headers["Authorization"] = f"Bearer {tokens['alice']}"
    yield session_client
    session_client.headers.pop("Authorization", None)
    session_client.cookies.clear()

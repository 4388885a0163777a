"""A running Airflow API server (uvicorn in a thread, the real app with the XOP plugin) on a free
port, a fresh PostgreSQL ticket database, and headless Debian Chromium driven by Selenium."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.api import harness
from tests.conftest import REPO, create_pg_database, drop_pg_database

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Tuesday 2026-12-01 09:00 America/Chicago: the page's clock runs from here in real time, so
#: business time passes and countdowns tick whatever the wall clock says.
START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def browser_db(xop_config) -> Iterator:
    url = create_pg_database("xop_browser")
    engine = harness.migrated_engine(url)
    yield engine
    engine.dispose()
    drop_pg_database(url)


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: FastAPI


@pytest.fixture(scope="session")
def live_server(airflow_db, tmp_path_factory) -> Iterator[LiveServer]:
    app = harness.airflow_app(Path(tmp_path_factory.getbasetemp()))
    with harness.serve(app) as url:
        yield LiveServer(url, app)


@pytest.fixture
def server(live_server, browser_db, xop_config) -> str:
    """The live server's URL, on an empty ticket database, its clock running from :data:`START`."""
    harness.empty_tables(browser_db)
    t0 = time.monotonic()
    harness.attach(
        harness.ticket_app_of(live_server.app),
        browser_db,
        xop_config,
        clock=lambda: START + timedelta(seconds=time.monotonic() - t0),
    )
    return live_server.url


@pytest.fixture
def token(server) -> str:
    r = httpx.post(f"{server}/auth/token", json={"username": "alice", "password": harness.USERS["alice"][1]})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


@pytest.fixture
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "install Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
    )
    profile = tempfile.mkdtemp(prefix="xop-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1366,768",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)

"""Airflow's real API server app with the XOP plugin mounted, the simple auth manager with known
users, and a migrated ticket database of its own. Used by the API and the browser tests.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from tests.conftest import TEST_CONFIG
from xop.demo.peers import free_port

#: user -> (simple auth manager role, password)
USERS = {
    "alice": ("admin", "alice-secret-pw"),
    "oscar": ("op", "oscar-secret-pw"),
    "ursula": ("user", "ursula-secret-pw"),
    "victor": ("viewer", "victor-secret-pw"),
    "omar": ("user", "omar-secret-pw"),  # Level 3 by ``staff:`` in the test config
}


def configure_airflow_auth(home: Path) -> dict[str, str]:
    """Environment for the simple auth manager with :data:`USERS`; returns what it set."""
    passwords = home / "xop-api-passwords.json"
    passwords.write_text(json.dumps({u: pw for u, (_, pw) in USERS.items()}))
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, (r, _) in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "xop-api-tests-" + "0123456789abcdef" * 4,
        "XOP_CONFIG": str(TEST_CONFIG),
    }
    os.environ.update(env)
    return env


@cache
def airflow_app(home: Path) -> FastAPI:
    """``airflow.api_fastapi.app.create_app``: the API server app, plugins included, with the
    simple auth manager's users set up in ``home``. Built once per process: building Airflow's
    600-odd routes takes seconds, so the API and the browser tests share one."""
    configure_airflow_auth(home)
    from airflow.api_fastapi.app import create_app

    return create_app(apps="core")


def ticket_app_of(root: FastAPI) -> FastAPI:
    """The XOP app as Airflow mounted it (the plugin module may be imported under another name)."""
    for route in root.routes:
        if isinstance(route, Mount) and route.path == "/xop":
            return route.app  # type: ignore[return-value]
    raise AssertionError(
        f"the XOP plugin is not mounted at /xop: {[getattr(r, 'path', r) for r in root.routes]}"
    )


def attach(app: FastAPI, engine: sa.Engine, config, clock: Callable[[], datetime] | None = None) -> None:
    from xop.tickets import TicketService

    app.state.ticket_service = TicketService(engine, config)
    app.state.clock = clock


def migrated_engine(url: str) -> sa.Engine:
    """The ticket schema (Alembic) plus the API's idempotency table, which no migration has yet."""
    from xop.api.tables import idempotency_keys
    from xop.db.engine import engine_from_url
    from xop.db.migrate import upgrade

    engine = engine_from_url(url)
    upgrade(engine)
    idempotency_keys.create(engine, checkfirst=True)
    return engine


def empty_tables(engine: sa.Engine) -> None:
    with engine.begin() as c:
        c.exec_driver_sql(
            "TRUNCATE tickets, ticket_events, ticket_clocks, notifications, api_idempotency_keys CASCADE"
        )


def token_for(client, user: str) -> str:
    """A JWT from the auth manager's token endpoint, exactly as a script would get one."""
    r = client.post("/auth/token", json={"username": user, "password": USERS[user][1]})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` on uvicorn in a thread on a free loopback port (real HTTP); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="xop-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)

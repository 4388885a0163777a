"""Fixtures of the notification tests: a real SMTP server (aiosmtpd) and real databases.

The SMTP server runs in a thread on a free loopback port. Its handler records every accepted
message by Message-ID and can misbehave on purpose: answer 451 at random, refuse recipients with
550, or drop the connection in the middle of DATA (before recording, so the client never got a
250 for it). The server can be stopped and started again on the same port.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from email.parser import BytesHeaderParser

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, event, text

import xop.tickets.tables as schema
from xop.db.meta import metadata
from xop.demo.peers import free_port
from xop.notify.tables import notifications

# aiosmtpd logs every SMTP command at INFO: keep failure output readable.
logging.getLogger("mail.log").setLevel(logging.WARNING)

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OUTBOX_TABLES = [schema.tickets, schema.ticket_events, notifications]


class RecordingHandler:
    """aiosmtpd handler: records accepted messages; faults are opt-in knobs."""

    def __init__(self, seed: int = 7) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.received: Counter[str] = Counter()
        self.contents: dict[str, bytes] = {}
        self.messages: list[bytes] = []  # every accepted message, in order
        self.envelopes: list[tuple[str, list[str], str]] = []
        self.sessions = 0
        self.dropped = 0
        self.transient_replies = 0
        self._total = 0
        # knobs
        self.data_451_rate = 0.0
        self.rcpt_451_rate = 0.0
        self.drop_rate = 0.0
        self.reject: set[str] = set()  # 550 at RCPT
        self.always_451: set[str] = set()  # 451 at RCPT, every time
        self.refuse_all = False  # drop every DATA (used while being shut down)

    def _roll(self) -> float:
        with self.lock:
            return self.rng.random()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return f"550 5.1.1 <{address}>: recipient address rejected: user unknown"
        if address in self.always_451 or self._roll() < self.rcpt_451_rate:
            with self.lock:
                self.transient_replies += 1
            return "451 4.3.0 temporary recipient failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        roll = self._roll()
        if self.refuse_all or roll < self.drop_rate:
            # Gone in the middle of DATA: the client never gets a reply for this message.
            with self.lock:
                self.dropped += 1
            server.transport.abort()
            return "421 4.3.0 unreachable"  # never written: the transport is gone
        if roll < self.drop_rate + self.data_451_rate:
            with self.lock:
                self.transient_replies += 1
            return "451 4.3.0 local error in processing, try again later"
        content: bytes = envelope.content
        message_id = str(BytesHeaderParser().parsebytes(content)["Message-ID"]).strip()
        with self.lock:
            self._total += 1
            self.received[message_id] += 1
            self.contents[message_id] = content
            self.messages.append(content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), message_id))
        return "250 2.0.0 OK: queued"

    @property
    def total(self) -> int:
        """Messages accepted so far (duplicates included)."""
        return self._total


class SmtpServer:
    """A restartable aiosmtpd server on a fixed loopback port."""

    def __init__(self, handler: RecordingHandler, port: int | None = None) -> None:
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        assert self._controller is None
        # A Controller's loop cannot be restarted: a new one each time, on the same port.
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def connection_json(self, **extra: object) -> str:
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": self.host,
                "port": self.port,
                "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, **extra},
            }
        )


@pytest.fixture
def smtp_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def smtp_server(smtp_handler: RecordingHandler) -> Iterator[SmtpServer]:
    server = SmtpServer(smtp_handler)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def idle_smtp_server(smtp_handler: RecordingHandler) -> Iterator[SmtpServer]:
    """A server whose port is chosen but which is not listening yet (connections are refused)."""
    server = SmtpServer(smtp_handler)
    yield server
    server.stop()


@pytest.fixture
def smtp_connection(monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer) -> SmtpServer:
    """The Airflow connection ``smtp_default`` points at the test server (env var, no metadata DB)."""
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_server.connection_json())
    return smtp_server


# -- databases --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"xop_notify_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # These tests are about SMTP faults, not disk crashes: no WAL flush wait per commit.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = create_engine(url)
    metadata.create_all(engine, tables=OUTBOX_TABLES)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url, pool_size=10)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE notifications, ticket_events, tickets RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'xop.db'}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # WAL with synchronous=NORMAL, as an embedded deployment would run it: no fsync per commit.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    metadata.create_all(engine, tables=OUTBOX_TABLES)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The outbox database, on both dialects."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)

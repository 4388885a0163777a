"""Fixtures of the audit tests: a fresh PostgreSQL database per session, SQLite files per test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from xop.demo.peers import free_port, wait_for_port

PG_ADMIN_URL = os.environ.get("XOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def cdr_pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database created for this session and dropped after it."""
    name = f"xop_audit_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def cdr_pg_engine(cdr_pg_url: str) -> Iterator[Engine]:
    engine = create_engine(cdr_pg_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------------------------
# sshd on a loopback port (root, generated host key, one authorized key)


@dataclass(frozen=True)
class Sshd:
    port: int
    conn_id: str
    client_key: Path
    log_path: Path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """Debian's sshd on 127.0.0.1:<free port>; an Airflow connection (env var) pointing at it.

    sshd logs to stderr; a thread stamps each line with an RFC 3339 time into ``auth.log``, as
    rsyslog would (sshd's own ``-E`` file has no timestamps).
    """
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    (root / "authorized_keys").write_text((root / "client.pub").read_text())
    port = free_port()
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPermitRootLogin yes\nPasswordAuthentication yes\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel VERBOSE\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
    log_path = root / "auth.log"
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(root / "sshd_config")],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )

    def stamp_lines() -> None:
        with log_path.open("a") as log:
            for line in proc.stderr:  # type: ignore[union-attr]
                log.write(f"{datetime.now(UTC).isoformat()} localhost sshd[{proc.pid}]: {line}")
                log.flush()

    threading.Thread(target=stamp_lines, daemon=True).start()
    conn_id = "audit_test_ssh"
    host_key = (root / "host.pub").read_text().split()
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {
            "conn_type": "ssh",
            "host": "127.0.0.1",
            "port": port,
            "login": "root",
            "extra": {"key_file": str(root / "client"), "host_key": f"{host_key[0]} {host_key[1]}"},
        }
    )
    try:
        wait_for_port(port)
        yield Sshd(port=port, conn_id=conn_id, client_key=root / "client", log_path=log_path)
    finally:
        os.environ.pop(f"AIRFLOW_CONN_{conn_id.upper()}", None)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def pg_conn_id(cdr_pg_url: str) -> Iterator[str]:
    """An Airflow connection (env var) to the session's PostgreSQL database."""
    conn_id = "audit_test_pg"
    name = cdr_pg_url.rsplit("/", 1)[1]
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    yield conn_id
    os.environ.pop(f"AIRFLOW_CONN_{conn_id.upper()}", None)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP port something listens on for the test's duration."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root), unmounted after the test."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)

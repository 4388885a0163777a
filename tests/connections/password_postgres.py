"""A PostgreSQL server that checks passwords (scram-sha-256), started by the tests.

The suite's PostgreSQL on 127.0.0.1:5432 trusts local connections, so a wrong password cannot
fail there. This is a scratch cluster (``initdb`` of the machine's PostgreSQL, run as the
``postgres`` user) on a free port, removed on stop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xop.demo.peers import free_port

INITDB = shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb"
PG_CTL = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"


@dataclass
class PasswordPostgres:
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "xop_owner"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)
    database: str = "postgres"
    folder: Path | None = None

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> PasswordPostgres:
        if not Path(INITDB).exists():
            pytest.fail("initdb is missing (Debian package postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="xop-pg-scram-"))
        (self.folder / "pw").write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(self.folder / "pw", "postgres", "postgres")
        data = self.folder / "data"
        done = self._as_postgres(
            INITDB, "-D", str(data), "-U", self.user, "--auth=scram-sha-256", f"--pwfile={self.folder / 'pw'}"
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr}")
        self.port = free_port()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={self.host} -c fsync=off"
        done = self._as_postgres(
            PG_CTL, "-D", str(data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}{done.stdout}")
        return self

    def stop(self) -> None:
        if self.folder is not None:
            self._as_postgres(PG_CTL, "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

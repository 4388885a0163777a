"""Where a probe runs: the pipeline host, or a system host reached over SSH.

Host probes are written as commands (``df``, ``sha256sum``, ``clamscan``...) run through a
:class:`CommandRunner`, so one probe works the same locally and remotely. Remote hosts are
reached with the Airflow SSH provider's hook that :func:`xop.connections.ssh.ssh_hook` builds.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from xop.connections.ssh import ssh_hook
from xop.core.errors import ProbeError


class HostUnreachable(ProbeError):
    """The host to run a probe on could not be reached (SSH failed): no verdict on the probe."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    """Runs commands on one host."""

    where: str

    def run(self, argv: Sequence[str], *, timeout: float) -> CommandResult: ...

    def tcp_connect(self, host: str, port: int, *, timeout: float) -> float:
        """Open (and close) a TCP connection from this host; seconds taken. Raises ProbeError."""
        ...

    def close(self) -> None: ...


class LocalRunner:
    """The pipeline host itself."""

    where = "local"

    def run(self, argv: Sequence[str], *, timeout: float) -> CommandResult:
        try:
            done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found ({exc})")
        except subprocess.TimeoutExpired as exc:
            raise ProbeError(f"{shlex.join(argv)} did not finish within {timeout:g} s") from exc
        return CommandResult(
            tuple(argv),
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    def tcp_connect(self, host: str, port: int, *, timeout: float) -> float:
        began = time.perf_counter()
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            raise ProbeError(f"TCP {host}:{port}: {exc}") from exc
        return time.perf_counter() - began

    def close(self) -> None:
        pass


class SshRunner:
    """A host reached through an Airflow SSH connection (one SSH session for all its probes)."""

    def __init__(self, ssh_conn_id: str, *, timeout: float = 15) -> None:
        self.where = f"ssh:{ssh_conn_id}"
        self.hook = ssh_hook(ssh_conn_id, timeout=timeout)
        self._client = None
        self._failure: HostUnreachable | None = None

    @property
    def client(self):
        if self._failure is not None:  # one timeout per host and run, not one per probe
            raise self._failure
        if self._client is None:
            try:
                self._client = self.hook.get_conn()
            except Exception as exc:  # paramiko and socket errors of every kind
                self._failure = HostUnreachable(f"SSH to {self.where} failed: {exc}")
                raise self._failure from exc
        return self._client

    def run(self, argv: Sequence[str], *, timeout: float) -> CommandResult:
        command = shlex.join(argv)
        try:
            status, out, err = self.hook.exec_ssh_client_command(
                self.client, command, get_pty=False, environment=None, timeout=timeout
            )
        except ProbeError:
            raise
        except Exception as exc:  # paramiko's SSHException, socket timeouts
            raise ProbeError(f"{command} on {self.where}: {exc}") from exc
        return CommandResult(tuple(argv), status, out.decode(errors="replace"), err.decode(errors="replace"))

    def tcp_connect(self, host: str, port: int, *, timeout: float) -> float:
        """A ``direct-tcpip`` channel: the remote host opens the TCP connection (ssh -W)."""
        transport = self.client.get_transport()  # HostUnreachable propagates: not the port's fault
        began = time.perf_counter()
        try:
            channel = transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
        except Exception as exc:
            raise ProbeError(f"TCP {host}:{port} from {self.where}: {exc}") from exc
        channel.close()
        return time.perf_counter() - began

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def runner_for(ssh_conn_id: str | None, *, timeout: float = 15) -> CommandRunner:
    return LocalRunner() if ssh_conn_id is None else SshRunner(ssh_conn_id, timeout=timeout)


__all__ = ["CommandResult", "CommandRunner", "HostUnreachable", "LocalRunner", "SshRunner", "runner_for"]

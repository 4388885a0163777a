"""Start and stop the portal as a child process (``make ui``, the demo, the tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2]


def wait_until_serving(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the portal exited with status {proc.returncode} before serving on port {port}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the portal did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@contextmanager
def running_portal(
    port: int, env: Mapping[str, str] | None = None, *, log_path: Path | None = None
) -> Iterator[subprocess.Popen]:
    """``python -m xop.portal --port PORT`` on 127.0.0.1 until the block ends (then stopped)."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), child_env.get("PYTHONPATH")) if p)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xop.portal",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=child_env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log_path:
            out.close()

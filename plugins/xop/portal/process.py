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


def demo_portal(stack, var_dir: Path, port: int = 18090, say=print) -> str:
    """Start the portal for ``make demo`` / ``make ui`` inside ``stack``; returns its URL.

    The signing key is generated once into ``<var_dir>/portal.key`` (mode 600) and exported as
    ``XOP_PORTAL_KEY``, so the emails the demo's DAGs send carry links this portal accepts. Call it
    after the demo's environment (``XOP_CONFIG``, ``AIRFLOW_CONN_XOP_DB``, SMTP) is in place.
    """
    import secrets

    key_file = Path(var_dir) / "portal.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(32))
        key_file.chmod(0o600)
    os.environ["XOP_PORTAL_KEY"] = key_file.read_text().strip()
    stack.enter_context(running_portal(port, log_path=Path(var_dir) / "portal.log"))
    url = f"http://127.0.0.1:{port}"
    say(f"Customer portal: {url} (the links in var/demo/mail/ open it; its log: {var_dir}/portal.log)")
    return url

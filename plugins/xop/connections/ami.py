"""An Asterisk Manager Interface's Airflow connection (type ``xop_ami``) and its login test.

Fields: host, port (5038; 5039 is Asterisk's usual ``tlsbindport``), login (the manager user of
``manager.conf``), password (its secret). Extra (all optional)::

    {"tls": false,             # true: AMI over TLS (Asterisk's tlsenable), certificate verified
     "ca_file": "/path.pem",   # CA bundle for the AMI's certificate
     "timeout": 10}

:func:`login_probe` logs in with ``Events: off`` and logs off: the Test button. The trunk check's
own AMI client (:mod:`xop.trunks.ami`) takes the credentials from here.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field

from xop.connections.read import extra_of, flag, get_connection
from xop.core.errors import ConfigError

CONN_TYPE = "xop_ami"
EXTRA_KEYS = {"tls", "ca_file", "timeout"}


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int = 5038
    login: str = ""
    password: str = field(default="", repr=False)
    tls: bool = False
    ca_file: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_connection(cls, conn_id: str) -> AmiSettings:
        conn = get_connection(conn_id, what="an Asterisk AMI")
        extra = extra_of(conn, allowed=EXTRA_KEYS)
        if not conn.login or conn.password is None:
            raise ConfigError(f"Airflow connection {conn_id!r}: the AMI needs a login and a password")
        tls = flag(extra.get("tls", False), "tls", conn_id)
        return cls(
            host=conn.host or "127.0.0.1",
            port=int(conn.port or (5039 if tls else 5038)),
            login=conn.login,
            password=conn.password,
            tls=tls,
            ca_file=extra.get("ca_file"),
            timeout=float(extra.get("timeout", 10)),
        )


def _read_block(sock_file) -> dict[str, str]:
    block: dict[str, str] = {}
    while True:
        line = sock_file.readline()
        if not line:
            raise ConnectionError("the AMI closed the connection")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if block:
                return block
            continue
        key, _, value = text.partition(":")
        block[key.strip().lower()] = value.strip()


def login_probe(settings: AmiSettings) -> tuple[bool, str]:
    """Log in (``Events: off``) and off again: whether the AMI accepted the credentials, and why."""
    where = f"AMI {settings.host}:{settings.port}" + (" (TLS)" if settings.tls else "")
    began = time.perf_counter()
    try:
        sock = socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file)
            sock = context.wrap_socket(sock, server_hostname=settings.host)
        with sock, sock.makefile("rb") as reader:
            banner = reader.readline().decode("utf-8", "replace").strip()
            if not banner.startswith("Asterisk Call Manager"):
                return False, f"{where}: not an AMI banner: {banner[:80]!r}"
            sock.sendall(
                (
                    f"Action: Login\r\nActionID: xop-test-1\r\nUsername: {settings.login}\r\n"
                    f"Secret: {settings.password}\r\nEvents: off\r\n\r\n"
                ).encode()
            )
            while True:
                block = _read_block(reader)
                if "response" in block and block.get("actionid") == "xop-test-1":
                    break
            if block["response"].lower() != "success":
                return False, f"{where} refused the login of {settings.login!r}: {block.get('message', '')}"
            sock.sendall(b"Action: Logoff\r\nActionID: xop-test-2\r\n\r\n")
    except (OSError, ConnectionError) as exc:
        return False, f"{where}: {type(exc).__name__}: {exc}"
    took = (time.perf_counter() - began) * 1000
    return True, f"{where}: logged in as {settings.login!r} ({banner}) in {took:.1f} ms"

"""Local stand-ins for the servers the pipeline talks to, for the demo and the tests.

- :class:`MailDrop`: an SMTP server (aiosmtpd) that keeps each message as a ``.eml`` file.
- :class:`FtpsSite`: an explicit-FTPS server (pyftpdlib) with a throwaway certificate.

They are real servers on loopback ports, spoken to over the network like production ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (IPv6 when ``host`` is an IPv6 address)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Return once something accepts TCP connections on ``host:port``; raise after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


@dataclass
class _Keeper:
    directory: Path
    messages: list[email.message.Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: :meth:`MailDrop.hold`: RCPT TO this address is answered only once ``release`` is set.
    hold_rcpt: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.hold_rcpt is not None and address.lower() == self.hold_rcpt:
            self.held.set()
            while not self.release.is_set():  # the client waits for our answer, as on a slow server
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
        name = f"{n:04d}-{''.join(ch for ch in msg.get('Message-ID', '') if ch.isalnum())[:40]}.eml"
        (self.directory / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class MailDrop:
    """SMTP server on ``127.0.0.1:port`` writing every message it accepts into ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.keeper = _Keeper(self.directory)
        self._controller = Controller(self.keeper, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[email.message.Message]:
        with self.keeper.lock:
            return list(self.keeper.messages)

    def hold(self, recipient: str) -> tuple[threading.Event, threading.Event]:
        """Hold the next transactions to ``recipient`` at RCPT TO, before any message data:
        returns (held, release) events; the server answers once ``release`` is set. A client
        that dies meanwhile delivered nothing (a fault test kills the sender there)."""
        self.keeper.held.clear()
        self.keeper.release.clear()
        self.keeper.hold_rcpt = recipient.lower()
        return self.keeper.held, self.keeper.release

    def connection_uri(self) -> str:
        """``AIRFLOW_CONN_SMTP_DEFAULT`` value pointing at this server (no TLS, no login)."""
        import json

        extra = {"disable_tls": True, "disable_ssl": True, "from_email": "support@xopnetworks.com"}
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra})

    def __enter__(self) -> MailDrop:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate and key for a loopback TLS server; returns (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        # Its own trust anchor: clients verify it with ``ca_file=cert`` (OpenSSL wants CA:TRUE).
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class FtpsSite:
    """Explicit-FTPS server (AUTH TLS, protected data channel) serving ``root`` to one user."""

    def __init__(self, root: Path, *, user: str, password: str, port: int | None = None) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import TLS_FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password
        self.port = port or free_port()
        cert, key = self_signed_cert(self.root.parent / f".{self.root.name}-tls")
        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(self.root), perm="elradfmwMT")
        handler = type("DemoTLSHandler", (TLS_FTPHandler,), {})
        handler.authorizer = authorizer
        handler.certfile, handler.keyfile = str(cert), str(key)
        handler.tls_control_required = True
        handler.tls_data_required = True
        handler.passive_ports = None
        self._server = ThreadedFTPServer(("127.0.0.1", self.port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"timeout": 0.2}, daemon=True
        )

    def connection_json(self) -> str:
        """``AIRFLOW_CONN_XOP_FTP`` value (explicit FTPS; the demo's certificate is self-signed)."""
        import json

        return json.dumps(
            {
                "conn_type": "ftp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": self.user,
                "password": self.password,
                "extra": {"tls": True, "verify": False},
            }
        )

    def __enter__(self) -> FtpsSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close_all()
        self._thread.join(timeout=5)


class SipFarEnd:
    """SIPp answering OPTIONS and calls (echoing RTP) on ``host:port``, the demo system's trunk.

    Scenario files live in ``include/sipp/``; the tests use the same ones.
    """

    def __init__(
        self, scenario: Path, *, workdir: Path, port: int, host: str = "127.0.0.1", transport: str = "udp"
    ) -> None:
        import shutil

        self.sipp = shutil.which("sipp")
        self.scenario, self.workdir = scenario, workdir
        self.host, self.port, self.transport = host, port, transport
        self._process: subprocess.Popen | None = None

    @property
    def available(self) -> bool:
        return self.sipp is not None

    def __enter__(self) -> SipFarEnd:
        if self.sipp:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._process = subprocess.Popen(
                [
                    *(self.sipp, "-sf", str(self.scenario), "-i", self.host, "-p", str(self.port)),
                    *(
                        "-mp",
                        str(self.port + 2),
                        "-rtp_echo",
                        "-t",
                        {"udp": "u1", "tcp": "t1"}[self.transport],
                    ),
                    *("-nostdin", "-trace_err"),
                ],
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

"""Real far ends for the trunk tests: SIPp processes and a TLS terminator in front of SIPp."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "include" / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            with socket.socket(family, socket.SOCK_DGRAM) as rtp:  # media port: the next one up free
                try:
                    rtp.bind((host, port + 2))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def _bound(host: str, port: int, kind: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class SippFarEnd:
    scenario: str
    host: str
    port: int
    transport: str
    media_port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    def errors(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.workdir.glob("*errors.log"))


def start_sipp(
    scenario: str,
    *,
    transport: str,
    host: str,
    workdir: Path,
    rtp_echo: bool = True,
    extra_args: tuple[str, ...] = (),
) -> SippFarEnd:
    """SIPp answering ``scenario``; ``rtp_echo`` False for a far end that never sends media back."""
    port = free_port(host)
    media_port = port + 2
    args = [
        SIPP,
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        host,
        "-p",
        str(port),
        "-mp",
        str(media_port),
        *(["-rtp_echo"] if rtp_echo else []),
        "-t",
        {"udp": "u1", "tcp": "t1"}[transport],
        "-nostdin",
        "-trace_err",
        "-max_socket",
        "4096",
        *extra_args,
    ]
    process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + 10
    while not _bound(host, port, kind):
        if process.poll() is not None:
            raise RuntimeError(f"sipp {scenario} exited: {process.stderr.read().decode(errors='replace')}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"sipp {scenario} did not bind {host}:{port}")
        time.sleep(0.02)
    return SippFarEnd(scenario, host, port, transport, media_port, process, workdir)


def stop_sipp(far_end: SippFarEnd) -> None:
    far_end.process.terminate()
    try:
        far_end.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        far_end.process.kill()
        far_end.process.wait(timeout=5)
    if far_end.process.stderr:
        far_end.process.stderr.close()


class SippPool:
    """SIPp far ends started on first use (one per scenario, transport and host) and all stopped at end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: dict[tuple[str, str, str], SippFarEnd] = {}

    def get(self, scenario: str, transport: str = "udp", host: str = "127.0.0.1") -> SippFarEnd:
        key = (scenario, transport, host)
        if key not in self.running:
            workdir = self.root / f"{scenario}-{transport}-{len(self.running)}"
            workdir.mkdir()
            self.running[key] = start_sipp(scenario, transport=transport, host=host, workdir=workdir)
        return self.running[key]

    def stop_all(self) -> None:
        for far_end in self.running.values():
            with contextlib.suppress(Exception):
                stop_sipp(far_end)
        self.running.clear()


# --- TLS in front of SIPp ------------------------------------------------------------------------
# This Debian SIPp build has no TLS (`sipp -v`: 3.6.1-SCTP-PCAP-RTPSTREAM), so the TLS tests put a
# small TLS terminator in front of a SIPp listening on TCP: SIPp still answers every SIP message,
# the terminator only unwraps TLS (as an SBC or stunnel would).


@dataclass
class TlsCertificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path, host: str = "127.0.0.1") -> TlsCertificates:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xop test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("sip.test"), x509.IPAddress(ipaddress.ip_address(host))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certs = TlsCertificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    certs.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    certs.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certs


class TlsTerminator:
    """Accepts TLS on a port and pipes the plain bytes to a TCP backend, in its own thread and loop."""

    def __init__(self, certs: TlsCertificates, backend: tuple[str, int], host: str = "127.0.0.1") -> None:
        import asyncio
        import ssl
        import threading

        self.host = host
        self.port = free_port(host)
        self._backend = backend
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certs.cert_file, certs.key_file)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("TLS terminator did not start")

    def _run(self) -> None:
        import asyncio

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                back_reader, back_writer = await asyncio.open_connection(*self._backend)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, back_writer), pipe(back_reader, writer))

        async def main() -> None:
            self._server = await asyncio.start_server(handle, self.host, self.port, ssl=self._context)
            self._ready.set()

        self._loop.run_until_complete(main())
        self._loop.run_forever()

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)

"""A SIP trunk's Airflow connection (type ``xop_sip_trunk``) and the OPTIONS probe of its Test button.

Fields: host and port of the far end (5060), login and password (digest credentials, when the
trunk challenges). Extra (all optional)::

    {"transport": "udp",        # udp, tcp or tls
     "domain": "sip.example",   # request-URI domain; default the host
     "ca_file": "/path.pem",    # CA bundle for tls (default: the system's)
     "timeout": 5}

The trunk check (:mod:`xop.trunks`) takes only the credentials from here: its targets come from
the configuration. :func:`options_probe` is a small synchronous user agent client (one OPTIONS,
one digest retry when challenged) so that the connections layer needs nothing above it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field

from xop.connections.read import extra_of, get_connection
from xop.core.errors import ConfigError

CONN_TYPE = "xop_sip_trunk"
EXTRA_KEYS = {"transport", "domain", "ca_file", "timeout"}


@dataclass(frozen=True)
class SipTrunkSettings:
    host: str | None
    port: int = 5060
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    transport: str = "udp"
    domain: str | None = None
    ca_file: str | None = None
    timeout: float = 5.0

    @classmethod
    def from_connection(cls, conn_id: str) -> SipTrunkSettings:
        conn = get_connection(conn_id, what="a SIP trunk")
        extra = extra_of(conn, allowed=EXTRA_KEYS)
        transport = str(extra.get("transport", "udp")).lower()
        if transport not in ("udp", "tcp", "tls"):
            raise ConfigError(
                f"Airflow connection {conn_id!r}: transport {transport!r} is not udp, tcp or tls"
            )
        return cls(
            host=conn.host or None,
            port=int(conn.port or (5061 if transport == "tls" else 5060)),
            login=conn.login or None,
            password=conn.password,
            transport=transport,
            domain=extra.get("domain"),
            ca_file=extra.get("ca_file"),
            timeout=float(extra.get("timeout", 5)),
        )


def trunk_credentials(conn_id: str) -> tuple[str, str]:
    """Login and password of the Airflow connection ``conn_id`` (trunk or AMI); both must be set."""
    conn = get_connection(conn_id, what="trunk or AMI credentials")
    if not conn.login or conn.password is None:
        raise ConfigError(f"conn_id {conn_id!r}: the connection needs a login and a password")
    return conn.login, conn.password


# -- OPTIONS probe ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionsAnswer:
    code: int
    reason: str
    rtt_s: float
    authenticated: bool


def _digest(challenge: str, *, method: str, uri: str, login: str, password: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = hashlib.md5(f"{login}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    header = f'Digest username="{login}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        header += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    if "opaque" in params:
        header += f', opaque="{params["opaque"]}"'
    return header + f', response="{response}"'


class _Channel:
    def __init__(self, settings: SipTrunkSettings) -> None:
        self.settings = settings
        addr = (settings.host, settings.port)
        if settings.transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect(addr)
        else:
            self.sock = socket.create_connection(addr, timeout=settings.timeout)
            if settings.transport == "tls":
                context = ssl.create_default_context(cafile=settings.ca_file)
                self.sock = context.wrap_socket(self.sock, server_hostname=settings.host)
        self.sock.settimeout(settings.timeout)
        self.local = self.sock.getsockname()
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> bytes:
        if self.settings.transport == "udp":
            return self.sock.recv(65535)
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("the far end closed the connection")
            self._buffer += chunk
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = int(m.group(1)) if (m := re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)) else 0
        while len(rest) < length:
            rest += self.sock.recv(65535)
        self._buffer = rest[length:]
        return head + b"\r\n\r\n" + rest[:length]

    def close(self) -> None:
        self.sock.close()


def options_probe(settings: SipTrunkSettings) -> OptionsAnswer:
    """One OPTIONS to the trunk (with a digest retry when challenged): the final answer and RTT."""
    if not settings.host:
        raise ConfigError("the SIP trunk connection has no host: set the far end's host to test it")
    domain = settings.domain or settings.host
    uri = f"sip:{domain}" + (";transport=tcp" if settings.transport == "tcp" else "")
    if settings.transport == "tls":
        uri = f"sips:{domain}"
    channel = _Channel(settings)
    call_id, tag = secrets.token_hex(10), secrets.token_hex(4)
    local_host, local_port = channel.local[0], channel.local[1]
    user = settings.login or "xop-monitor"
    try:
        authorization: tuple[str, str] | None = None
        for cseq in (1, 2):
            branch = "z9hG4bK" + secrets.token_hex(8)
            lines = [
                f"OPTIONS {uri} SIP/2.0",
                f"Via: SIP/2.0/{settings.transport.upper()} {local_host}:{local_port};branch={branch};rport",
                "Max-Forwards: 70",
                f"From: <sip:{user}@{domain}>;tag={tag}",
                f"To: <{uri}>",
                f"Call-ID: {call_id}@{local_host}",
                f"CSeq: {cseq} OPTIONS",
                f"Contact: <sip:{user}@{local_host}:{local_port}>",
                "Accept: application/sdp",
                "User-Agent: xop-connection-test",
            ]
            if authorization:
                lines.append(f"{authorization[0]}: {authorization[1]}")
            data = ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()
            began = time.perf_counter()
            channel.send(data)
            code, reason, headers = _final_response(channel, branch, settings.timeout)
            rtt = time.perf_counter() - began
            challenge_header = {401: "www-authenticate", 407: "proxy-authenticate"}.get(code)
            if (
                challenge_header
                and authorization is None
                and settings.login
                and settings.password is not None
            ):
                reply_header = "Authorization" if code == 401 else "Proxy-Authorization"
                challenge = headers.get(challenge_header, "")
                authorization = (
                    reply_header,
                    _digest(
                        challenge, method="OPTIONS", uri=uri, login=settings.login, password=settings.password
                    ),
                )
                continue
            return OptionsAnswer(code, reason, rtt, authorization is not None)
        raise AssertionError("unreachable")  # the loop returns on its second pass
    finally:
        channel.close()


def _final_response(channel: _Channel, branch: str, timeout: float) -> tuple[int, str, dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no final answer to OPTIONS within {timeout:g} s")
        message = channel.receive().decode("utf-8", "replace")
        head = message.split("\r\n\r\n", 1)[0].split("\r\n")
        if not head[0].startswith("SIP/2.0 "):
            continue  # a request from the far end: not ours to answer here
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        if branch not in headers.get("via", headers.get("v", "")):
            continue  # a stray answer to an earlier transaction
        _, code_text, *reason = head[0].split(" ", 2)
        code = int(code_text)
        if code >= 200:
            return code, (reason[0] if reason else ""), headers


def check_trunk(settings: SipTrunkSettings) -> tuple[bool, str]:
    """The Test button: OPTIONS answered 2xx is a pass; anything else says what came back."""
    try:
        answer = options_probe(settings)
    except (OSError, TimeoutError, ConfigError) as exc:
        return False, f"OPTIONS to {settings.host}:{settings.port}/{settings.transport}: {exc}"
    where = f"{settings.host}:{settings.port}/{settings.transport}"
    auth = " after digest authentication" if answer.authenticated else ""
    text = f"OPTIONS to {where}: {answer.code} {answer.reason}{auth} in {answer.rtt_s * 1000:.1f} ms"
    return 200 <= answer.code < 300, text

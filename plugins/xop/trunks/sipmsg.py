"""SIP message parsing and building (RFC 3261 §7) and digest authentication (RFC 2617 / 7616).

Only what a monitoring UAC needs: parse responses and the few requests a far end may send us
(BYE, OPTIONS), frame messages on a byte stream, and answer a 401/407 challenge.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}

MAX_MESSAGE = 65535


class SipParseError(ValueError):
    """Bytes that are not a SIP message."""


@dataclass(slots=True)
class SipMessage:
    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ", 2)[1]) if self.is_response else 0

    @property
    def reason(self) -> str:
        parts = self.start_line.split(" ", 2)
        return parts[2] if self.is_response and len(parts) > 2 else ""

    @property
    def method(self) -> str:
        """The request method, or the CSeq method of a response."""
        if not self.is_response:
            return self.start_line.split(" ", 1)[0]
        cseq = self.header("cseq") or ""
        return cseq.split()[-1] if cseq.split() else ""

    @property
    def cseq_number(self) -> int:
        cseq = (self.header("cseq") or "0").split()
        return int(cseq[0]) if cseq and cseq[0].isdigit() else 0

    def header(self, name: str) -> str | None:
        key = _canonical(name)
        for hname, value in self.headers:
            if hname == key:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        key = _canonical(name)
        return [value for hname, value in self.headers if hname == key]

    @property
    def branch(self) -> str | None:
        via = self.header("via")
        match = re.search(r";\s*branch=([^;,\s]+)", via or "", re.IGNORECASE)
        return match.group(1) if match else None

    @property
    def to_tag(self) -> str | None:
        return tag_of(self.header("to"))


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return COMPACT.get(lowered, lowered)


def tag_of(header_value: str | None) -> str | None:
    match = re.search(r";\s*tag=([^;,\s>]+)", header_value or "", re.IGNORECASE)
    return match.group(1) if match else None


def uri_of(header_value: str) -> str:
    """The URI of a name-addr (``"x" <sip:a@b>;tag=1``) or addr-spec header value."""
    match = re.search(r"<([^>]+)>", header_value)
    if match:
        return match.group(1)
    return header_value.split(";", 1)[0].strip()


def parse_message(data: bytes) -> SipMessage:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    if not sep:
        raise SipParseError("no end of headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not (start.startswith("SIP/2.0 ") or start.endswith(" SIP/2.0")):
        raise SipParseError(f"not a SIP start line: {start[:80]!r}")
    if start.startswith("SIP/2.0 ") and not re.match(r"^SIP/2\.0 [1-6]\d\d( |$)", start):
        raise SipParseError(f"bad status line: {start[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        headers.append((_canonical(name), value.strip()))
    message = SipMessage(start, headers, body)
    length = message.header("content-length")
    if length is not None and length.strip().isdigit():
        message.body = body[: int(length)]
    return message


class StreamFramer:
    """Cuts SIP messages out of a TCP/TLS byte stream by Content-Length (RFC 3261 §18.3)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[SipMessage]:
        self._buffer += data
        messages: list[SipMessage] = []
        while True:
            # CRLF keep-alives (RFC 5626) between messages.
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE:
                    raise SipParseError("header block too long")
                return messages
            head = bytes(self._buffer[:end])
            match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            if match is None:
                raise SipParseError("stream message without Content-Length")
            total = end + 4 + int(match.group(1))
            if len(self._buffer) < total:
                return messages
            messages.append(parse_message(bytes(self._buffer[:total])))
            del self._buffer[:total]


def build_request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build_response(request: SipMessage, status: int, reason: str, to_tag: str | None = None) -> bytes:
    """A response to ``request`` copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.header_all("via")]
    to = request.header("to") or ""
    if to_tag and tag_of(to) is None:
        to = f"{to};tag={to_tag}"
    lines += [
        f"From: {request.header('from') or ''}",
        f"To: {to}",
        f"Call-ID: {request.header('call-id') or ''}",
        f"CSeq: {request.header('cseq') or ''}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


# --- digest authentication -----------------------------------------------------------------------

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256, "SHA-512-256": None}
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def parse_challenge(value: str) -> dict[str, str]:
    """Parameters of a ``Digest`` WWW-Authenticate / Proxy-Authenticate value (keys lower case)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported authentication scheme {scheme!r} (only Digest)")
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(rest):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name.lower()] = raw
    if "nonce" not in params or "realm" not in params:
        raise ValueError("digest challenge without realm or nonce")
    return params


def digest_authorization(
    challenge: str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    body: bytes = b"",
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge``.

    MD5, MD5-sess, SHA-256 and SHA-256-sess; qop ``auth`` preferred over ``auth-int``; RFC 2069
    form when the challenge offers no qop.
    """
    params = parse_challenge(challenge)
    algorithm = params.get("algorithm", "MD5")
    base = algorithm.upper().removesuffix("-SESS")
    hash_factory = _HASHES.get(base)
    if hash_factory is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")

    def h(text: str | bytes) -> str:
        return hash_factory(text if isinstance(text, bytes) else text.encode()).hexdigest()

    realm, nonce = params["realm"], params["nonce"]
    cnonce = cnonce or secrets.token_hex(8)
    nc = f"{nonce_count:08x}"
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in offered else ("auth-int" if "auth-int" in offered else None)

    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}") if qop != "auth-int" else h(f"{method}:{uri}:{h(body)}")
    response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}") if qop else h(f"{ha1}:{nonce}:{ha2}")

    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={algorithm}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


__all__ = [
    "SipMessage",
    "SipParseError",
    "StreamFramer",
    "build_request",
    "build_response",
    "digest_authorization",
    "new_branch",
    "new_tag",
    "parse_challenge",
    "parse_message",
    "tag_of",
    "uri_of",
]

"""SIP OPTIONS probe and real test call of a trunk, as an asyncio user agent client.

Why the calling side is written here instead of driving SIPp:

* this Debian SIPp build (``sipp -v``: 3.6.1-SCTP-PCAP-RTPSTREAM) has no TLS, and TLS is one of the
  transports we must check;
* SIPp runs one process per scenario and reports through CSV traces, so 500 trunks would be 500
  processes and the figures we need (post-dial delay, setup time, RTP packets echoed, the reason
  of a failure) would be scraped from files; here they are measured directly;
* one event loop runs every check concurrently with its own deadline, so a dead or slow trunk
  costs only its own timeout and never delays the others.

SIPp stays the far end in the tests. The UAC implements what a dial check needs from RFC 3261:
UDP retransmission (timers A/E), stream framing for TCP/TLS, digest auth on 401/407 (RFC 2617 /
7616, qop=auth), ACK of non-2xx and 2xx answers, CANCEL on no answer, Record-Route, BYE, and
answering BYE/OPTIONS the far end sends during the call. Media is PCMU RTP paced at 20 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import re
import secrets
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from xop.core.specs.trunks import TlsSpec, TrunkSpec
from xop.trunks.result import TrunkCheckResult
from xop.trunks.sipmsg import (
    SipMessage,
    SipParseError,
    StreamFramer,
    build_request,
    build_response,
    digest_authorization,
    new_branch,
    new_tag,
    parse_message,
    uri_of,
)

log = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 round-trip estimate (s)
T2 = 4.0  # maximum retransmit interval for non-INVITE requests (s)
RTP_PTIME = 0.020
RTP_GRACE = 0.3  # wait for the last echoes after the last packet (s)
BYE_TIMEOUT = 5.0
CANCEL_WAIT = 2.0
USER_AGENT = "xop-trunk-check/1"


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """Username and password answering the trunk's digest challenge (from an Airflow connection)."""

    username: str
    password: str

    def __repr__(self) -> str:  # never show the password in logs
        return f"DigestCredentials(username={self.username!r}, password='***')"


class _CheckFailed(Exception):
    """A check ended with a reason; carries what was measured so far."""

    def __init__(self, reason: str, sip_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sip_code = sip_code


def describe_transport_error(exc: BaseException, transport: str) -> str:
    """A short human reason for a socket/TLS failure ('ICMP unreachable', 'connection refused' ...)."""
    if isinstance(exc, socket.gaierror):
        return f"transport error: cannot resolve host ({exc.strerror})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"transport error: TLS certificate rejected ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"transport error: TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        if transport == "udp":
            return "ICMP unreachable: port closed"
        return "transport error: connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"ICMP unreachable: {os.strerror(exc.errno)}"
    if isinstance(exc, ConnectionError):
        return f"transport error: {exc.strerror or exc}"
    if isinstance(exc, OSError):
        return f"transport error: {exc.strerror or exc}"
    if isinstance(exc, SipParseError):
        return f"transport error: malformed SIP from far end ({exc})"
    return f"transport error: {exc!r}"


def reason_for_final(code: int, reason: str) -> str:
    """Why a final SIP response fails a call or probe."""
    text = f"{code} {reason}".strip()
    if code in (486, 600):
        return f"busy ({text})"
    if code in (408, 480, 487):
        return f"no answer ({text})"
    if code in (401, 407):
        return f"authentication failed ({text})"
    return f"rejected {text}"


# --- transport ----------------------------------------------------------------------------------


class _Channel:
    """One flow to a trunk (a connected UDP socket or a TCP/TLS stream) delivering parsed messages.

    Requests from the far end are answered by ``on_request``; ``recv`` returns responses only.
    """

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.queue: asyncio.Queue[SipMessage | BaseException] = asyncio.Queue()
        self.local: tuple[str, int] = ("", 0)
        self.remote: tuple[str, int] = ("", 0)
        self.on_request: Callable[[SipMessage], None] | None = None
        self._send: Callable[[bytes], None] = lambda data: None
        self._close: Callable[[], None] = lambda: None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.local[0] else socket.AF_INET

    @property
    def via_transport(self) -> str:
        return self.transport.upper()

    def send(self, data: bytes) -> None:
        self._send(data)

    async def recv(self, deadline: float) -> SipMessage:
        """The next response before ``deadline`` (loop time); raises TimeoutError or the socket error."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            item = await asyncio.wait_for(self.queue.get(), remaining)
            if isinstance(item, BaseException):
                raise item
            if item.is_response:
                return item
            if self.on_request is not None:
                self.on_request(item)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[SipMessage | BaseException]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: object) -> None:
        with contextlib.suppress(SipParseError, ValueError):
            self.queue.put_nowait(parse_message(data))

    def error_received(self, exc: Exception) -> None:
        # Connected UDP socket: ICMP port/host unreachable arrives here.
        self.queue.put_nowait(exc)


async def _resolve(host: str, port: int, sock_type: int) -> tuple[int, tuple[str, int]]:
    try:  # an address literal needs no resolver thread (the default executor has only a few)
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (socket.AF_INET6 if address.version == 6 else socket.AF_INET), (str(address), port)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=sock_type)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    family, _, _, _, sockaddr = infos[0]
    return family, (sockaddr[0], sockaddr[1])


@lru_cache(maxsize=32)
def _client_ssl_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def ssl_context_for(tls: TlsSpec) -> ssl.SSLContext:
    return _client_ssl_context(tls.verify, tls.ca_file)


async def _open_channel(trunk: TrunkSpec, deadline: float) -> _Channel:
    loop = asyncio.get_running_loop()
    assert trunk.host is not None
    channel = _Channel(trunk.transport)
    timeout = max(0.0, deadline - loop.time())
    if trunk.transport == "udp":
        family, remote = await asyncio.wait_for(
            _resolve(trunk.host, trunk.effective_port, socket.SOCK_DGRAM), timeout
        )
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(channel.queue), remote_addr=remote, family=family
        )
        channel._send = transport.sendto
        channel._close = transport.close
        channel.local = transport.get_extra_info("sockname")[:2]
        channel.remote = remote
        return channel

    family, remote = await asyncio.wait_for(
        _resolve(trunk.host, trunk.effective_port, socket.SOCK_STREAM), timeout
    )
    ssl_context = None
    server_hostname = None
    if trunk.transport == "tls":
        ssl_context = ssl_context_for(trunk.tls)
        server_hostname = trunk.tls.server_name or trunk.host
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            remote[0], remote[1], family=family, ssl=ssl_context, server_hostname=server_hostname
        ),
        max(0.0, deadline - loop.time()),
    )

    async def pump() -> None:
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for message in framer.feed(data):
                    channel.queue.put_nowait(message)
            channel.queue.put_nowait(ConnectionResetError(0, "connection closed by far end"))
        except (OSError, SipParseError) as exc:
            channel.queue.put_nowait(exc)

    channel._send = writer.write
    channel._close = writer.close
    channel.local = writer.get_extra_info("sockname")[:2]
    channel.remote = remote
    channel._tasks.append(asyncio.create_task(pump()))
    return channel


# --- request building ---------------------------------------------------------------------------


def _hostport(host: str, port: int | None = None) -> str:
    text = f"[{host}]" if ":" in host else host
    return f"{text}:{port}" if port else text


class _Dialog:
    """Identifiers and header values shared by the requests of one probe or call."""

    def __init__(self, trunk: TrunkSpec, channel: _Channel, user: str) -> None:
        assert trunk.host is not None
        self.trunk = trunk
        self.channel = channel
        self.local_host, self.local_port = channel.local
        params = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
        self.remote_uri = f"sip:{user}@{_hostport(trunk.host, trunk.effective_port)}{params}"
        domain = trunk.from_domain or self.local_host
        self.from_value = f"<sip:{trunk.from_user}@{_hostport(domain)}>;tag={new_tag()}"
        self.to_value = f"<sip:{user}@{_hostport(trunk.host)}>"
        self.call_id = f"{secrets.token_hex(12)}@xop"
        self.contact = f"<sip:{trunk.from_user}@{_hostport(self.local_host, self.local_port)}{params}>"
        self.cseq = 0
        self.route: list[str] = []

    def request(
        self,
        method: str,
        *,
        uri: str | None = None,
        branch: str | None = None,
        cseq: int | None = None,
        to_value: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> tuple[bytes, str, int]:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or new_branch()
        via = f"SIP/2.0/{self.channel.via_transport} {_hostport(self.local_host, self.local_port)}"
        headers = [
            ("Via", f"{via};branch={branch};rport"),
            ("Max-Forwards", "70"),
            *[("Route", route) for route in self.route],
            ("From", self.from_value),
            ("To", to_value or self.to_value),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", self.contact),
            ("User-Agent", USER_AGENT),
            *extra,
        ]
        return build_request(method, uri or self.remote_uri, headers, body), branch, cseq


async def _retransmit(channel: _Channel, data: bytes, *, invite: bool) -> None:
    interval = T1
    while True:
        await asyncio.sleep(interval)
        channel.send(data)
        interval = interval * 2 if invite else min(interval * 2, T2)


async def _transaction(
    channel: _Channel,
    data: bytes,
    *,
    branch: str,
    method: str,
    deadline: float,
    on_provisional: Callable[[SipMessage], None] | None = None,
) -> SipMessage:
    """Send a request and return its final response; UDP requests are retransmitted (timers A/E)."""
    channel.send(data)
    retransmit = None
    if channel.transport == "udp":
        retransmit = asyncio.create_task(_retransmit(channel, data, invite=method == "INVITE"))
    try:
        while True:
            message = await channel.recv(deadline)
            if message.branch != branch or message.method != method:
                continue  # a stray or late response of another transaction
            if message.status < 200:
                if method == "INVITE" and retransmit is not None:
                    retransmit.cancel()
                if on_provisional is not None:
                    on_provisional(message)
                continue
            return message
    finally:
        if retransmit is not None:
            retransmit.cancel()


def _challenge_header(response: SipMessage) -> tuple[str, str] | None:
    if response.status == 401 and response.header("www-authenticate"):
        return "Authorization", response.header("www-authenticate") or ""
    if response.status == 407 and response.header("proxy-authenticate"):
        return "Proxy-Authorization", response.header("proxy-authenticate") or ""
    return None


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


# --- OPTIONS probe ------------------------------------------------------------------------------


async def probe_options(
    trunk: TrunkSpec,
    *,
    system: str,
    checked_at: datetime,
    credentials: DigestCredentials | None = None,
) -> TrunkCheckResult:
    """Send OPTIONS; up when a final code in ``trunk.accepted_codes`` arrives within the timeout."""
    loop = asyncio.get_running_loop()
    result = TrunkCheckResult(trunk.id, system, "options", False, checked_at, target=trunk.target)
    deadline = loop.time() + trunk.options_timeout_s
    channel: _Channel | None = None
    try:
        channel = await _open_channel(trunk, deadline)
        channel.on_request = _answer_stray_request(channel)
        dialog = _Dialog(trunk, channel, trunk.dial_number or "ping")
        extra = [("Accept", "application/sdp")]
        data, branch, _ = dialog.request("OPTIONS", extra=extra)
        started = loop.time()
        response = await _transaction(channel, data, branch=branch, method="OPTIONS", deadline=deadline)
        rtt_ms = _ms(loop.time() - started)
        challenge = _challenge_header(response)
        if response.status not in trunk.accepted_codes and challenge and credentials is not None:
            header, value = challenge
            auth = digest_authorization(
                value,
                method="OPTIONS",
                uri=dialog.remote_uri,
                username=credentials.username,
                password=credentials.password,
            )
            data, branch, _ = dialog.request("OPTIONS", extra=[*extra, (header, auth)])
            response = await _transaction(channel, data, branch=branch, method="OPTIONS", deadline=deadline)
        ok = response.status in trunk.accepted_codes
        error = None if ok else reason_for_final(response.status, response.reason)
        if response.status == 408 and not ok:
            error = f"timeout ({response.status} {response.reason})"
        return result.with_(ok=ok, sip_code=response.status, rtt_ms=rtt_ms, error=error)
    except TimeoutError:
        return result.with_(error=f"timeout: no response in {trunk.options_timeout_s:g} s")
    except (OSError, SipParseError) as exc:
        return result.with_(error=describe_transport_error(exc, trunk.transport))
    except ValueError as exc:  # an unusable digest challenge
        return result.with_(error=f"authentication failed: {exc}")
    finally:
        if channel is not None:
            channel.close()


def _answer_stray_request(channel: _Channel) -> Callable[[SipMessage], None]:
    def answer(request: SipMessage) -> None:
        if request.method != "ACK":
            channel.send(build_response(request, 481, "Call/Transaction Does Not Exist"))

    return answer


# --- test call ----------------------------------------------------------------------------------


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) >= 12 and data[0] >> 6 == 2:
            self.received += 1


def _sdp_offer(local_host: str, rtp_port: int) -> bytes:
    ip_version = "IP6" if ":" in local_host else "IP4"
    session = secrets.randbelow(2**31)
    lines = [
        "v=0",
        f"o=xop {session} {session} IN {ip_version} {local_host}",
        "s=xop trunk check",
        f"c=IN {ip_version} {local_host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_sdp_answer(body: bytes) -> tuple[str, int, int] | None:
    """(connection address, audio port, first payload type) of an SDP answer; None without audio.

    A ``c=`` line inside the audio section overrides the session-level one (RFC 4566 §5.7).
    """
    session_address: str | None = None
    audio_address: str | None = None
    audio: tuple[int, int] | None = None
    section = "session"
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("m="):
            match = re.match(r"m=audio (\d+)(?:/\d+)? \S+ (\d+)", line)
            section = "audio" if match and audio is None else "other"
            if section == "audio" and match:
                audio = int(match.group(1)), int(match.group(2))
        elif line.startswith("c="):
            parts = line[2:].split()
            if len(parts) >= 3:
                address = parts[2].split("/")[0].strip("[]")
                if section == "session":
                    session_address = address
                elif section == "audio":
                    audio_address = address
    address = audio_address or session_address
    if audio is None or address is None:
        return None
    return address, audio[0], audio[1]


async def _send_media(
    rtp: asyncio.DatagramTransport,
    destination: tuple[str, int],
    payload_type: int,
    seconds: float,
    stop: asyncio.Event,
) -> int:
    """Send 20 ms PCMU/PCMA silence frames for ``seconds``; returns how many were sent."""
    loop = asyncio.get_running_loop()
    count = max(1, round(seconds / RTP_PTIME))
    ssrc = secrets.randbits(32)
    sequence = secrets.randbelow(2**15)
    timestamp = secrets.randbits(31)
    silence = (b"\xff" if payload_type == 0 else b"\xd5") * 160
    start = loop.time()
    sent = 0
    for index in range(count):
        if stop.is_set():
            break
        delay = start + index * RTP_PTIME - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        marker = 0x80 if index == 0 else 0
        header = struct.pack(
            "!BBHII", 0x80, marker | payload_type, (sequence + index) & 0xFFFF, timestamp + 160 * index, ssrc
        )
        rtp.sendto(header + silence, destination)
        sent += 1
    return sent


async def place_test_call(
    trunk: TrunkSpec,
    *,
    system: str,
    checked_at: datetime,
    credentials: DigestCredentials | None = None,
) -> TrunkCheckResult:
    """Call ``trunk.dial_number``: INVITE → (digest) → 18x → 200 → ACK → RTP → BYE."""
    loop = asyncio.get_running_loop()
    result = TrunkCheckResult(trunk.id, system, "call", False, checked_at, target=trunk.target)
    assert trunk.dial_number is not None
    deadline = loop.time() + trunk.call_timeout_s
    channel: _Channel | None = None
    rtp: asyncio.DatagramTransport | None = None
    measured: dict[str, float | int | None] = {"pdd_ms": None, "setup_ms": None, "sip_code": None}
    try:
        channel = await _open_channel(trunk, deadline)
        dialog = _Dialog(trunk, channel, trunk.dial_number)
        rtp, rtp_protocol = await loop.create_datagram_endpoint(
            _RtpProtocol, local_addr=(dialog.local_host, 0), family=channel.family
        )
        offer = _sdp_offer(dialog.local_host, rtp.get_extra_info("sockname")[1])
        remote_bye = asyncio.Event()
        channel.on_request = _in_call_answerer(channel, remote_bye)
        started = loop.time()
        provisional: list[SipMessage] = []

        def on_provisional(message: SipMessage) -> None:
            provisional.append(message)
            if 180 <= message.status < 190 and measured["pdd_ms"] is None:
                measured["pdd_ms"] = _ms(loop.time() - started)

        sdp_header = [("Content-Type", "application/sdp"), ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")]
        extra: list[tuple[str, str]] = list(sdp_header)
        authenticated = False
        while True:
            data, branch, cseq = dialog.request("INVITE", extra=extra, body=offer)
            try:
                final = await _transaction(
                    channel,
                    data,
                    branch=branch,
                    method="INVITE",
                    deadline=deadline,
                    on_provisional=on_provisional,
                )
            except TimeoutError:
                if provisional:
                    await _cancel(channel, dialog, branch, cseq)
                    raise _CheckFailed(
                        f"no answer: no final response in {trunk.call_timeout_s:g} s "
                        f"(last {provisional[-1].status} {provisional[-1].reason})",
                        provisional[-1].status,
                    ) from None
                raise _CheckFailed(f"timeout: no response to INVITE in {trunk.call_timeout_s:g} s") from None
            measured["sip_code"] = final.status
            if final.status >= 300:
                _ack_failure(channel, dialog, final, branch, cseq)
                challenge = _challenge_header(final)
                if challenge and credentials is not None and not authenticated:
                    header, value = challenge
                    auth = digest_authorization(
                        value,
                        method="INVITE",
                        uri=dialog.remote_uri,
                        username=credentials.username,
                        password=credentials.password,
                    )
                    extra = [*sdp_header, (header, auth)]
                    authenticated = True
                    continue
                if challenge and credentials is None:
                    raise _CheckFailed(
                        f"authentication required ({final.status}) but the trunk has no conn_id",
                        final.status,
                    )
                raise _CheckFailed(reason_for_final(final.status, final.reason), final.status)
            break

        measured["setup_ms"] = _ms(loop.time() - started)
        dialog.to_value = final.header("to") or dialog.to_value
        remote_target = uri_of(final.header("contact") or "") or dialog.remote_uri
        dialog.route = list(reversed(final.header_all("record-route")))
        ack, _, _ = dialog.request("ACK", uri=remote_target, cseq=cseq)
        channel.send(ack)

        media = parse_sdp_answer(final.body)
        watcher = asyncio.create_task(_reack_200(channel, ack))
        try:
            if media is None or media[1] == 0:
                rtp_sent = 0
            else:
                address, port, payload_type = media
                payload_type = payload_type if payload_type in (0, 8) else 0
                rtp_sent = await _send_media(
                    rtp, (address, port), payload_type, trunk.media_seconds, remote_bye
                )
                if not remote_bye.is_set():
                    await asyncio.sleep(RTP_GRACE)
        finally:
            watcher.cancel()
        rtp_received = rtp_protocol.received
        if not remote_bye.is_set():
            bye, bye_branch, _ = dialog.request("BYE", uri=remote_target)
            try:
                bye_final = await _transaction(
                    channel, bye, branch=bye_branch, method="BYE", deadline=loop.time() + BYE_TIMEOUT
                )
                if bye_final.status >= 300:
                    log.warning("trunk %s: BYE answered %s", trunk.id, bye_final.status)
            except (TimeoutError, OSError) as exc:
                log.warning("trunk %s: BYE not answered (%r)", trunk.id, exc)

        error = None
        if media is None or media[1] == 0:
            error = "no media: the answer has no usable audio stream"
        elif trunk.require_echo and trunk.media_seconds > 0 and rtp_received == 0:
            error = f"no media: 0 of {rtp_sent} RTP packets came back"
        return result.with_(
            ok=error is None,
            sip_code=final.status,
            pdd_ms=measured["pdd_ms"],
            setup_ms=measured["setup_ms"],
            rtp_sent=rtp_sent,
            rtp_received=rtp_received,
            error=error,
        )
    except _CheckFailed as failure:
        return result.with_(sip_code=failure.sip_code, pdd_ms=measured["pdd_ms"], error=failure.reason)
    except TimeoutError:
        return result.with_(
            sip_code=measured["sip_code"],
            pdd_ms=measured["pdd_ms"],
            error=f"timeout: no connection in {trunk.call_timeout_s:g} s",
        )
    except (OSError, SipParseError) as exc:
        return result.with_(
            sip_code=measured["sip_code"],
            pdd_ms=measured["pdd_ms"],
            error=describe_transport_error(exc, trunk.transport),
        )
    except ValueError as exc:  # an unusable digest challenge
        return result.with_(sip_code=measured["sip_code"], error=f"authentication failed: {exc}")
    finally:
        if rtp is not None:
            rtp.close()
        if channel is not None:
            channel.close()


def _in_call_answerer(channel: _Channel, remote_bye: asyncio.Event) -> Callable[[SipMessage], None]:
    def answer(request: SipMessage) -> None:
        method = request.method
        if method == "ACK":
            return
        if method == "BYE":
            remote_bye.set()
            channel.send(build_response(request, 200, "OK"))
        elif method in ("OPTIONS", "INFO", "UPDATE", "NOTIFY"):
            channel.send(build_response(request, 200, "OK"))
        elif method == "INVITE":
            channel.send(build_response(request, 488, "Not Acceptable Here"))
        else:
            channel.send(build_response(request, 405, "Method Not Allowed"))

    return answer


def _ack_failure(channel: _Channel, dialog: _Dialog, final: SipMessage, branch: str, cseq: int) -> None:
    """ACK of a non-2xx final response: same branch and CSeq, the response's To (RFC 3261 §17.1.1.3)."""
    ack, _, _ = dialog.request("ACK", branch=branch, cseq=cseq, to_value=final.header("to"))
    channel.send(ack)


async def _cancel(channel: _Channel, dialog: _Dialog, branch: str, cseq: int) -> None:
    """CANCEL an unanswered INVITE and ACK its 487, without waiting longer than CANCEL_WAIT."""
    loop = asyncio.get_running_loop()
    cancel, _, _ = dialog.request("CANCEL", branch=branch, cseq=cseq)
    deadline = loop.time() + CANCEL_WAIT
    with contextlib.suppress(TimeoutError, OSError):
        channel.send(cancel)
        while True:
            message = await channel.recv(deadline)
            if message.method == "INVITE" and message.status >= 300:
                _ack_failure(channel, dialog, message, branch, cseq)
                return


async def _reack_200(channel: _Channel, ack: bytes) -> None:
    """During media: a retransmitted 2xx means our ACK was lost; send it again."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError, OSError, SipParseError):
        while True:
            message = await channel.recv(loop.time() + 3600)
            if message.method == "INVITE" and 200 <= message.status < 300:
                channel.send(ack)


# --- many trunks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipTarget:
    """A SIP trunk to check, with its system and (resolved) credentials."""

    system: str
    trunk: TrunkSpec
    credentials: DigestCredentials | None = None


async def check_sip_trunk(
    target: SipTarget, *, checked_at: datetime, options_only: bool = False
) -> list[TrunkCheckResult]:
    """OPTIONS probe, then the test call when the trunk answered SIP at all."""
    trunk = target.trunk
    options = await probe_options(
        trunk, system=target.system, checked_at=checked_at, credentials=target.credentials
    )
    results = [options]
    if options_only or not trunk.test_call:
        return results
    if options.sip_code is None:
        results.append(
            TrunkCheckResult(
                trunk.id,
                target.system,
                "call",
                False,
                checked_at,
                target=trunk.target,
                error=f"not attempted: OPTIONS failed ({options.error})",
            )
        )
        return results
    call = await place_test_call(
        trunk, system=target.system, checked_at=checked_at, credentials=target.credentials
    )
    results.append(call)
    return results


async def check_sip_trunks(
    targets: Sequence[SipTarget],
    *,
    checked_at: datetime,
    options_only: bool = False,
    concurrency: int = 256,
) -> list[TrunkCheckResult]:
    """Check every trunk concurrently; each has a hard deadline, so none can delay the others."""
    limit = asyncio.Semaphore(concurrency)

    async def one(target: SipTarget) -> list[TrunkCheckResult]:
        trunk = target.trunk
        hard_limit = trunk.options_timeout_s + trunk.call_timeout_s + trunk.media_seconds + 15.0
        async with limit:
            try:
                return await asyncio.wait_for(
                    check_sip_trunk(target, checked_at=checked_at, options_only=options_only), hard_limit
                )
            except Exception as exc:  # one broken trunk must not lose the others' results
                if isinstance(exc, TimeoutError):
                    reason = f"timeout: the check did not finish in {hard_limit:g} s"
                else:
                    log.exception("trunk %s: check crashed", trunk.id)
                    reason = f"internal error: {exc!r}"[:500]
                return [
                    TrunkCheckResult(
                        trunk.id,
                        target.system,
                        "options",
                        False,
                        checked_at,
                        target=trunk.target,
                        error=reason,
                    )
                ]

    batches = await asyncio.gather(*(one(target) for target in targets))
    return [result for batch in batches for result in batch]


def run_sip_checks(
    targets: Sequence[SipTarget],
    *,
    checked_at: datetime,
    options_only: bool = False,
    concurrency: int = 256,
) -> list[TrunkCheckResult]:
    """Synchronous entry point for Airflow tasks."""
    return asyncio.run(
        check_sip_trunks(targets, checked_at=checked_at, options_only=options_only, concurrency=concurrency)
    )


__all__ = [
    "DigestCredentials",
    "SipTarget",
    "check_sip_trunk",
    "check_sip_trunks",
    "describe_transport_error",
    "parse_sdp_answer",
    "place_test_call",
    "probe_options",
    "reason_for_final",
    "run_sip_checks",
    "ssl_context_for",
]

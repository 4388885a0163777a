"""SIP requests of one probe or call: the dialog's identifiers, client transactions (RFC 3261 §17.1,
timers A/E on UDP), digest challenges, ACK/CANCEL, and answers to what the far end sends us.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Sequence

from xop.core.specs.trunks import TrunkSpec
from xop.trunks.channel import Channel
from xop.trunks.sipmsg import SipMessage, SipParseError, build_request, build_response, new_branch, new_tag

T1 = 0.5  # RFC 3261 round-trip estimate (s)
T2 = 4.0  # maximum retransmit interval for non-INVITE requests (s)
CANCEL_WAIT = 2.0
USER_AGENT = "xop-trunk-check/1"


class CheckFailed(Exception):
    """A check ended with a reason; carries what was measured so far."""

    def __init__(self, reason: str, sip_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sip_code = sip_code


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


def _hostport(host: str, port: int | None = None) -> str:
    text = f"[{host}]" if ":" in host else host
    return f"{text}:{port}" if port else text


class Dialog:
    """Identifiers and header values shared by the requests of one probe or call."""

    def __init__(self, trunk: TrunkSpec, channel: Channel, user: str) -> None:
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


async def _retransmit(channel: Channel, data: bytes, *, invite: bool) -> None:
    interval = T1
    while True:
        await asyncio.sleep(interval)
        channel.send(data)
        interval = interval * 2 if invite else min(interval * 2, T2)


async def transaction(
    channel: Channel,
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


def challenge_header(response: SipMessage) -> tuple[str, str] | None:
    if response.status == 401 and response.header("www-authenticate"):
        return "Authorization", response.header("www-authenticate") or ""
    if response.status == 407 and response.header("proxy-authenticate"):
        return "Proxy-Authorization", response.header("proxy-authenticate") or ""
    return None


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def answer_stray_request(channel: Channel) -> Callable[[SipMessage], None]:
    def answer(request: SipMessage) -> None:
        if request.method != "ACK":
            channel.send(build_response(request, 481, "Call/Transaction Does Not Exist"))

    return answer


def in_call_answerer(channel: Channel, remote_bye: asyncio.Event) -> Callable[[SipMessage], None]:
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


def ack_failure(channel: Channel, dialog: Dialog, final: SipMessage, branch: str, cseq: int) -> None:
    """ACK of a non-2xx final response: same branch and CSeq, the response's To (RFC 3261 §17.1.1.3)."""
    ack, _, _ = dialog.request("ACK", branch=branch, cseq=cseq, to_value=final.header("to"))
    channel.send(ack)


async def cancel(channel: Channel, dialog: Dialog, branch: str, cseq: int) -> None:
    """CANCEL an unanswered INVITE and ACK its 487, without waiting longer than CANCEL_WAIT."""
    loop = asyncio.get_running_loop()
    cancel, _, _ = dialog.request("CANCEL", branch=branch, cseq=cseq)
    deadline = loop.time() + CANCEL_WAIT
    with contextlib.suppress(TimeoutError, OSError):
        channel.send(cancel)
        while True:
            message = await channel.recv(deadline)
            if message.method == "INVITE" and message.status >= 300:
                ack_failure(channel, dialog, message, branch, cseq)
                return


async def reack_200(channel: Channel, ack: bytes) -> None:
    """During media: a retransmitted 2xx means our ACK was lost; send it again."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError, OSError, SipParseError):
        while True:
            message = await channel.recv(loop.time() + 3600)
            if message.method == "INVITE" and 200 <= message.status < 300:
                channel.send(ack)


__all__ = [
    "CheckFailed",
    "Dialog",
    "ack_failure",
    "answer_stray_request",
    "cancel",
    "challenge_header",
    "in_call_answerer",
    "ms",
    "reack_200",
    "reason_for_final",
    "transaction",
]

"""T1/PRI span status through the Asterisk Manager Interface (AMI).

Protocol (Asterisk's ``manager.c`` and ``chan_dahdi.c`` / ``sig_pri.c``): the server greets with one
line ``Asterisk Call Manager/<version>``; every message is ``Key: Value`` lines ended by an empty
line (``\\r\\n\\r\\n``). ``Action: Login`` answers ``Response: Success`` or ``Response: Error`` with
a ``Message``. ``Action: PRIShowSpans`` answers ``Response: Success`` with ``EventList: start``,
then one ``Event: PRIShowSpans`` per D-channel of each span (``Span``, ``DChannel``, ``Order``,
``Active``, ``Alarm``, ``Up``: Yes/No) and finally ``Event: PRIShowSpansComplete`` with
``EventList: Complete`` and ``ListItems``. Every message of the action echoes our ``ActionID``.

AMI over TLS (Asterisk's ``tlsenable``/``tlsbindport`` in ``manager.conf``): ``tls: true`` in
the system's ``ami:`` config; the certificate is verified (CA bundle ``ca_file`` or the system's,
name ``server_name`` or the host), so the login's secret never crosses the wire in clear text.

Hand-written on asyncio streams: the protocol is a few lines of text, and the maintained Python AMI
clients (panoramisk, asterisk-ami) would add a dependency for one action.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from xop.core.errors import ProbeError
from xop.core.specs.trunks import AmiSpec, TrunkSpec
from xop.trunks.result import TrunkCheckResult

BANNER_PREFIX = "Asterisk Call Manager/"
MAX_MESSAGE = 64 * 1024


class AmiError(ProbeError):
    """The AMI could not be reached, refused the login or answered outside the protocol."""


@dataclass(frozen=True, slots=True)
class SpanStatus:
    """One ``PRIShowSpans`` entry: the state of one D-channel of a span."""

    span: int
    dchannel: int | None
    order: str
    active: bool
    alarm: bool
    up: bool

    @property
    def ok(self) -> bool:
        """The span carries calls: its active D-channel is up and not in alarm ("Up, Active")."""
        return self.active and self.up and not self.alarm

    def describe(self) -> str:
        """As Asterisk's CLI ``pri show spans`` words it: ``Up, Active`` / ``In Alarm, Standby`` ..."""
        state = "In Alarm" if self.alarm else ("Up" if self.up else "Down")
        return f"{state}, {'Active' if self.active else 'Standby'}"


def encode_message(fields: Sequence[tuple[str, str]]) -> bytes:
    for key, value in fields:
        if any(ch in f"{key}{value}" for ch in "\r\n"):
            raise ValueError(f"AMI field {key!r} contains a line break")
    return ("".join(f"{key}: {value}\r\n" for key, value in fields) + "\r\n").encode()


def decode_message(block: bytes) -> dict[str, str]:
    """Header names are case-insensitive in AMI; keys are returned lower case."""
    fields: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "1")


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verifying client context: the CA bundle given, else the system's; hostname checked."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise AmiError(f"AMI CA file {ca_file}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class AmiClient:
    """One AMI session. ``async with AmiClient.connect(...) as ami: spans = await ami.pri_show_spans()``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self.version = ""

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        username: str,
        secret: str,
        timeout: float = 10.0,
        tls: bool = False,
        ca_file: str | None = None,
        server_name: str | None = None,
    ):
        """Open a session; with ``tls`` the whole session (login included) runs over TLS and the
        server's certificate must verify against ``ca_file`` (else the system CAs) and carry
        ``server_name`` (else ``host``)."""
        where = f"AMI {host}:{port}" + (" (TLS)" if tls else "")
        context = tls_context(ca_file) if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=context,
                    server_hostname=(server_name or host) if context else None,
                    ssl_handshake_timeout=timeout if context else None,
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise AmiError(f"{where}: no connection in {timeout:g} s") from exc
        except ssl.SSLCertVerificationError as exc:
            raise AmiError(f"{where}: certificate not trusted: {exc.verify_message or exc}") from exc
        except ssl.SSLError as exc:
            raise AmiError(f"{where}: TLS handshake failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise AmiError(f"{where}: {exc.strerror or exc}") from exc
        client = cls(reader, writer, timeout)
        try:
            await client._greeting()
            await client.login(username, secret)
            yield client
            with contextlib.suppress(AmiError, OSError):
                await client.logoff()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _greeting(self) -> None:
        try:
            line = await asyncio.wait_for(self._reader.readline(), self._timeout)
        except TimeoutError as exc:
            raise AmiError("AMI sent no banner") from exc
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith(BANNER_PREFIX):
            raise AmiError(f"not an Asterisk Manager Interface (banner {text[:60]!r})")
        self.version = text.removeprefix(BANNER_PREFIX)

    async def _read(self) -> dict[str, str]:
        try:
            block = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), self._timeout)
        except TimeoutError as exc:
            raise AmiError(f"AMI did not answer in {self._timeout:g} s") from exc
        except asyncio.IncompleteReadError as exc:
            raise AmiError("AMI closed the connection") from exc
        except asyncio.LimitOverrunError as exc:
            raise AmiError("AMI message too long") from exc
        return decode_message(block[:-4])

    async def _send(self, fields: Sequence[tuple[str, str]]) -> None:
        self._writer.write(encode_message(fields))
        await self._writer.drain()

    async def _response(self, action_id: str) -> dict[str, str]:
        """The ``Response`` to our action, skipping unsolicited events."""
        while True:
            message = await self._read()
            if "response" in message and message.get("actionid", action_id) == action_id:
                return message

    async def login(self, username: str, secret: str) -> None:
        action_id = secrets.token_hex(4)
        await self._send(
            [
                ("Action", "Login"),
                ("ActionID", action_id),
                ("Username", username),
                ("Secret", secret),
                ("Events", "off"),
            ]
        )
        response = await self._response(action_id)
        if response.get("response", "").lower() != "success":
            raise AmiError(f"AMI login refused: {response.get('message', 'no message')}")

    async def logoff(self) -> None:
        action_id = secrets.token_hex(4)
        await self._send([("Action", "Logoff"), ("ActionID", action_id)])
        await self._response(action_id)

    async def pri_show_spans(self) -> list[SpanStatus]:
        action_id = secrets.token_hex(4)
        await self._send([("Action", "PRIShowSpans"), ("ActionID", action_id)])
        response = await self._response(action_id)
        if response.get("response", "").lower() != "success":
            raise AmiError(f"PRIShowSpans refused: {response.get('message', 'no message')}")
        spans: list[SpanStatus] = []
        while True:
            message = await self._read()
            if message.get("actionid") != action_id:
                continue
            event = message.get("event", "")
            if event == "PRIShowSpansComplete":
                expected = message.get("listitems")
                if expected is not None and expected.isdigit() and int(expected) != len(spans):
                    raise AmiError(f"PRIShowSpans announced {expected} entries, sent {len(spans)}")
                return spans
            if event == "PRIShowSpans":
                try:
                    span = int(message["span"])
                except (KeyError, ValueError) as exc:
                    raise AmiError(f"PRIShowSpans entry without a span number: {message}") from exc
                dchannel = message.get("dchannel", "")
                spans.append(
                    SpanStatus(
                        span=span,
                        dchannel=int(dchannel) if dchannel.isdigit() else None,
                        order=message.get("order", ""),
                        active=_yes(message.get("active")),
                        alarm=_yes(message.get("alarm")),
                        up=_yes(message.get("up")),
                    )
                )


async def read_pri_spans(ami: AmiSpec, *, username: str, secret: str) -> list[SpanStatus]:
    async with AmiClient.connect(
        ami.host,
        ami.port,
        username=username,
        secret=secret,
        timeout=ami.timeout_s,
        tls=ami.tls,
        ca_file=str(ami.ca_file) if ami.ca_file else None,
        server_name=ami.server_name,
    ) as client:
        return await client.pri_show_spans()


def evaluate_spans(
    *,
    system: str,
    ami: AmiSpec,
    trunks: Sequence[TrunkSpec],
    statuses: Sequence[SpanStatus] | None,
    checked_at: datetime,
    error: str | None = None,
) -> list[TrunkCheckResult]:
    """One ``pri`` result per PRI trunk and per extra span in ``ami.spans``.

    A span is good when one of its D-channels is "Up, Active" and not in alarm; a span Asterisk did
    not report is a failure. ``statuses=None`` with ``error`` fails every span with that reason.
    """
    wanted: dict[int, str] = {trunk.span: trunk.id for trunk in trunks if trunk.kind == "pri" and trunk.span}
    for span in ami.spans:
        wanted.setdefault(span, f"{system}-span-{span}")
    by_span: dict[int, list[SpanStatus]] = {}
    for status in statuses or ():
        by_span.setdefault(status.span, []).append(status)
    results = []
    for span, trunk_id in sorted(wanted.items()):
        target = f"{'amis' if ami.tls else 'ami'}:{ami.host}:{ami.port}/span {span}"
        base = TrunkCheckResult(trunk_id, system, "pri", False, checked_at, target=target)
        if statuses is None:
            results.append(base.with_(error=error or "AMI not read"))
            continue
        entries = by_span.get(span, [])
        if not entries:
            results.append(base.with_(error=f"span {span} not reported by Asterisk"))
        elif any(entry.ok for entry in entries):
            results.append(base.with_(ok=True))
        else:
            states = "; ".join(f"D-channel {e.dchannel} ({e.order}): {e.describe()}" for e in entries)
            results.append(base.with_(error=f"span {span} not up and active: {states}"))
    return results


async def check_pri_spans(
    *,
    system: str,
    ami: AmiSpec,
    trunks: Sequence[TrunkSpec],
    username: str,
    secret: str,
    checked_at: datetime,
) -> list[TrunkCheckResult]:
    """Read the spans and evaluate them; an unreachable or refusing AMI fails every span."""
    try:
        statuses = await read_pri_spans(ami, username=username, secret=secret)
    except AmiError as exc:
        return evaluate_spans(
            system=system, ami=ami, trunks=trunks, statuses=None, checked_at=checked_at, error=str(exc)
        )
    return evaluate_spans(system=system, ami=ami, trunks=trunks, statuses=statuses, checked_at=checked_at)


__all__ = [
    "AmiClient",
    "AmiError",
    "SpanStatus",
    "check_pri_spans",
    "evaluate_spans",
    "read_pri_spans",
]

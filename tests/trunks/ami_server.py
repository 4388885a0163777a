"""An Asterisk Manager Interface server for the tests (no Asterisk in Debian 12).

It follows what Asterisk's ``main/manager.c`` does on the wire: a one-line banner
``Asterisk Call Manager/<version>``; ``Key: Value`` lines ended by an empty line; header names
case-insensitive; ``ActionID`` echoed in every reply to an action; actions other than Login refused
before authentication; ``Response: Error`` / ``Message: Authentication failed`` and a closed
connection on a bad login; unsolicited events (``FullyBooted``) unless the login said
``Events: off``; ``PRIShowSpans`` as ``chan_dahdi.c``/``sig_pri.c`` answer it (list ack, one
``PRIShowSpans`` event per D-channel, ``PRIShowSpansComplete`` with ``EventList: Complete`` and
``ListItems``); ``Logoff`` answered ``Response: Goodbye``.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field


@dataclass
class Span:
    span: int
    up: bool = True
    active: bool = True
    alarm: bool = False
    dchannel: int = 24
    order: str = "Primary"


def _block(fields: list[tuple[str, str]]) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in fields) + "\r\n").encode()


def _yn(value: bool) -> str:
    return "Yes" if value else "No"


@dataclass
class AmiServer:
    username: str = "monitor"
    secret: str = "amipass"
    version: str = "9.0.0"
    spans: list[Span] = field(default_factory=lambda: [Span(1), Span(2)])
    pri_loaded: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    actions_seen: list[str] = field(default_factory=list)
    #: Serve AMI over TLS (Asterisk's tlsenable) with this server context.
    ssl_context: ssl.SSLContext | None = None

    def start(self) -> AmiServer:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            async def main() -> None:
                self._server = await asyncio.start_server(
                    self._session, self.host, self.port, ssl=self.ssl_context
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            self._loop.run_until_complete(main())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("AMI server did not start")
        return self

    def stop(self) -> None:
        def halt() -> None:
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(halt)
        self._thread.join(5)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
        authenticated = False
        events = True
        try:
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                message: dict[str, str] = {}
                for line in block.decode().split("\r\n"):
                    key, colon, value = line.partition(":")
                    if colon:
                        message[key.strip().lower()] = value.strip()
                action = message.get("action", "")
                self.actions_seen.append(action)
                action_id = [("ActionID", message["actionid"])] if "actionid" in message else []
                lowered = action.lower()
                if lowered == "login":
                    if message.get("username") == self.username and message.get("secret") == self.secret:
                        authenticated = True
                        events = message.get("events", "on").lower() != "off"
                        writer.write(
                            _block(
                                [
                                    ("Response", "Success"),
                                    *action_id,
                                    ("Message", "Authentication accepted"),
                                ]
                            )
                        )
                        if events:
                            writer.write(
                                _block(
                                    [
                                        ("Event", "FullyBooted"),
                                        ("Privilege", "system,all"),
                                        ("Status", "Fully Booted"),
                                    ]
                                )
                            )
                    else:
                        writer.write(
                            _block([("Response", "Error"), *action_id, ("Message", "Authentication failed")])
                        )
                        await writer.drain()
                        return
                elif not authenticated:
                    writer.write(
                        _block([("Response", "Error"), *action_id, ("Message", "Authentication Required")])
                    )
                elif lowered == "logoff":
                    writer.write(
                        _block([("Response", "Goodbye"), *action_id, ("Message", "Thanks for all the fish.")])
                    )
                    await writer.drain()
                    return
                elif lowered == "prishowspans" and self.pri_loaded:
                    if events:  # an unrelated event in the middle, as a live Asterisk may send
                        writer.write(_block([("Event", "PeerStatus"), ("PeerStatus", "Reachable")]))
                    writer.write(
                        _block(
                            [
                                ("Response", "Success"),
                                *action_id,
                                ("EventList", "start"),
                                ("Message", "Span status will follow"),
                            ]
                        )
                    )
                    wanted = int(message.get("span") or 0)
                    sent = 0
                    for span in self.spans:
                        if wanted and span.span != wanted:
                            continue
                        sent += 1
                        writer.write(
                            _block(
                                [
                                    ("Event", "PRIShowSpans"),
                                    ("Span", str(span.span)),
                                    ("DChannel", str(span.dchannel)),
                                    ("Order", span.order),
                                    ("Active", _yn(span.active)),
                                    ("Alarm", _yn(span.alarm)),
                                    ("Up", _yn(span.up)),
                                    *action_id,
                                ]
                            )
                        )
                    writer.write(
                        _block(
                            [
                                ("Event", "PRIShowSpansComplete"),
                                *action_id,
                                ("EventList", "Complete"),
                                ("ListItems", str(sent)),
                            ]
                        )
                    )
                else:
                    writer.write(
                        _block(
                            [
                                ("Response", "Error"),
                                *action_id,
                                (
                                    "Message",
                                    f"Invalid/unknown command: {action}. "
                                    "Use Action: ListCommands to show available commands.",
                                ),
                            ]
                        )
                    )
                await writer.drain()
        finally:
            writer.close()

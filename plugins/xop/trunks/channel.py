"""The flow to a trunk: a connected UDP socket or a TCP/TLS stream that delivers parsed SIP messages.

Also the one place that turns socket and TLS errors into the short reasons the checks report.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from functools import lru_cache

from xop.core.specs.trunks import TlsSpec, TrunkSpec
from xop.trunks.sipmsg import SipMessage, SipParseError, StreamFramer, parse_message


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


class Channel:
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


class UdpProtocol(asyncio.DatagramProtocol):
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


async def open_channel(trunk: TrunkSpec, deadline: float) -> Channel:
    loop = asyncio.get_running_loop()
    assert trunk.host is not None
    channel = Channel(trunk.transport)
    timeout = max(0.0, deadline - loop.time())
    if trunk.transport == "udp":
        family, remote = await asyncio.wait_for(
            _resolve(trunk.host, trunk.effective_port, socket.SOCK_DGRAM), timeout
        )
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpProtocol(channel.queue), remote_addr=remote, family=family
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


__all__ = ["Channel", "describe_transport_error", "open_channel", "ssl_context_for"]

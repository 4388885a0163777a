"""The media of a call: our SDP offer, the answer's audio address, and G.711 RTP sent and received.

RTP (RFC 3550 §5.1) at 20 ms per packet, 160 samples of 8 kHz G.711 per packet. The receiver
keeps every packet's header fields and arrival time (the kernel's receive stamp), so that the
quality module can compute loss, reordering, duplicates, jitter and the round trip afterwards,
and the audio can be compared with what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

from xop.trunks.g711 import PCMA, PCMU, SILENCE

RTP_PTIME = 0.020
FRAME_BYTES = 160  # 20 ms of 8 kHz G.711
CLOCK_RATE = 8000
_HEADER = struct.Struct("!BBHII")


def sdp_offer(local_host: str, rtp_port: int, payload_types: tuple[int, ...] = (PCMU, PCMA)) -> bytes:
    """An audio offer of the given G.711 payload types (in order of preference) plus DTMF events."""
    ip_version = "IP6" if ":" in local_host else "IP4"
    session = secrets.randbelow(2**31)
    names = {PCMU: "PCMU/8000", PCMA: "PCMA/8000"}
    lines = [
        "v=0",
        f"o=xop {session} {session} IN {ip_version} {local_host}",
        "s=xop trunk check",
        f"c=IN {ip_version} {local_host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(str(pt) for pt in payload_types)} 101",
        *[f"a=rtpmap:{pt} {names[pt]}" for pt in payload_types],
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


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One received RTP packet: header fields, payload and arrival time (wall clock, s)."""

    sequence: int
    timestamp: int
    ssrc: int
    payload_type: int
    arrival: float
    payload: bytes


@dataclass(slots=True)
class SentStream:
    """What we sent: our SSRC, first sequence number and timestamp, each packet's send time (wall clock)."""

    ssrc: int
    first_sequence: int
    first_timestamp: int
    payload_type: int
    send_times: list[float] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.send_times)


# Linux: SO_TIMESTAMPNS (asm-generic/socket.h; the same value on x86, arm and others) makes the
# kernel stamp each datagram on arrival (CLOCK_REALTIME), so the event loop's own latency (busy
# with hundreds of concurrent checks) does not show up as network jitter. Elsewhere: time.time().
_SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None
_TIMESPEC = struct.Struct("@qq")


class RtpSocket:
    """The call's media socket: sends our RTP and records every RTP version-2 packet that arrives.

    Arrival and send times are wall-clock seconds (``time.time()`` and the kernel's receive stamp).
    """

    def __init__(self, host: str, family: int) -> None:
        self.packets: list[RtpPacket] = []
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.bind((host, 0))
            self._stamped = False
            if _SO_TIMESTAMPNS is not None:
                with contextlib.suppress(OSError):
                    self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                    self._stamped = True
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._sock.fileno(), self._readable)
        except BaseException:
            self._sock.close()
            raise
        self.port: int = self._sock.getsockname()[1]
        self.send_errors = 0

    @property
    def received(self) -> int:
        return len(self.packets)

    def sendto(self, data: bytes, destination: tuple[str, int]) -> None:
        try:
            self._sock.sendto(data, destination)
        except (BlockingIOError, InterruptedError, ConnectionRefusedError):
            self.send_errors += 1  # a full buffer or an ICMP error of an earlier packet: one packet lost

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def _readable(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self._sock.recvmsg(2048, socket.CMSG_SPACE(_TIMESPEC.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket
                continue
            arrival = None
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(raw) >= _TIMESPEC.size:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(raw)
                    arrival = seconds + nanoseconds / 1e9
            packet = parse_rtp(data, time.time() if arrival is None else arrival)
            if packet is not None:
                self.packets.append(packet)


def parse_rtp(data: bytes, arrival: float) -> RtpPacket | None:
    """An RTP version-2 packet's header fields and payload (RFC 3550 §5.1); None if it is not one."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    offset = 12 + 4 * (first & 0x0F)  # CSRC list
    if first & 0x10:  # header extension (RFC 3550 §5.3.1)
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20 and end > offset:  # padding: the last octet counts the padding octets
        end -= data[-1]
    if end < offset:
        return None
    return RtpPacket(sequence, timestamp, ssrc, second & 0x7F, arrival, data[offset:end])


def frames_of(audio: bytes, payload_type: int) -> list[bytes]:
    """G.711 bytes cut into 20 ms frames; a short last frame is padded with the codec's silence."""
    frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + bytes([SILENCE[payload_type]]) * (FRAME_BYTES - len(frames[-1]))
    return frames


async def send_media(
    rtp: RtpSocket,
    destination: tuple[str, int],
    payload_type: int,
    frames: list[bytes],
    stop: asyncio.Event,
) -> SentStream:
    """Send ``frames`` paced in real time (one per 20 ms against the loop clock) until done or ``stop``."""
    loop = asyncio.get_running_loop()
    stream = SentStream(secrets.randbits(32), secrets.randbelow(2**15), secrets.randbits(31), payload_type)
    start = loop.time()
    for index, frame in enumerate(frames):
        if stop.is_set():
            break
        delay = start + index * RTP_PTIME - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        marker = 0x80 if index == 0 else 0
        header = _HEADER.pack(
            0x80,
            marker | payload_type,
            (stream.first_sequence + index) & 0xFFFF,
            (stream.first_timestamp + FRAME_BYTES * index) & 0xFFFFFFFF,
            stream.ssrc,
        )
        stream.send_times.append(time.time())
        stream.payloads.append(frame)
        rtp.sendto(header + frame, destination)
    return stream


__all__ = [
    "CLOCK_RATE",
    "FRAME_BYTES",
    "RTP_PTIME",
    "RtpPacket",
    "RtpSocket",
    "SentStream",
    "frames_of",
    "parse_rtp",
    "parse_sdp_answer",
    "sdp_offer",
    "send_media",
]

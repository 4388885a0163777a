"""Figures of the test call's RTP: what we sent and what came back (RFC 3550 §6.4.1, A.1, A.3, A.8).

The far end of a trunk check echoes our stream. When it reflects our packets as they are (SIPp's
``-rtp_echo``, a media server's echo test), every packet that comes back is one we sent: its
sequence number and RTP timestamp say which (``echo == "own"``), so loss counts the tail too,
and each packet's round trip is its arrival minus its send time. When the far end renumbers
(it re-originates the stream), the counts follow RFC 3550 A.3 over its own sequence numbers
(``echo == "renumbered"``) and the round trip is not known from the packets.

Definitions (all over the stream that came back, i.e. both directions of the path):

* ``expected``: packets we sent (own echo) or ``highest - first + 1`` extended sequence numbers;
* ``lost = expected - distinct`` (duplicates do not hide a loss, unlike RFC 3550's cumulative
  count, which may go negative);
* ``duplicates = received - distinct``;
* ``reordered``: packets arriving after one with a higher sequence number (RFC 4737's
  "reordered" singleton: sequence below the next expected);
* ``jitter_ms``: RFC 3550 A.8, ``J += (|D| - J) / 16`` with ``D`` the difference of relative
  transit times of consecutive arrivals, in arrival order; duplicates are left out. The transit
  time is arrival minus send time: RFC 3550 takes the RTP timestamp as the send time because a
  receiver knows nothing better; with our own echo we are the sender and know the instant each
  packet left, so our own pacing (an event loop busy with other checks) is not counted as the
  trunk's jitter. A renumbering far end gets RFC 3550's RTP-timestamp form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

from xop.trunks.media import CLOCK_RATE, FRAME_BYTES, RtpPacket, SentStream

Echo = Literal["own", "renumbered", "none"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A distinct packet that came back: its index in the stream, RTP timestamp, arrival time (s)."""

    index: int
    timestamp: int
    arrival: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class StreamStats:
    echo: Echo
    sent: int
    received: int
    expected: int
    lost: int
    duplicates: int
    reordered: int
    jitter_ms: float | None
    rtt_ms: float | None
    rtt_max_ms: float | None
    arrivals: tuple[Arrival, ...]  # distinct packets, in arrival order

    @property
    def loss_pct(self) -> float | None:
        return None if self.expected == 0 else 100.0 * self.lost / self.expected


def _own_index(packet: RtpPacket, sent: SentStream) -> int | None:
    index = (packet.sequence - sent.first_sequence) & 0xFFFF
    if index >= sent.count:
        return None
    if packet.timestamp != (sent.first_timestamp + FRAME_BYTES * index) & 0xFFFFFFFF:
        return None
    return index


def _extended(packets: Sequence[RtpPacket]) -> list[int]:
    """Extended sequence numbers relative to the first packet (RFC 3550 A.1 style unwrapping)."""
    result: list[int] = []
    highest = 0
    base = packets[0].sequence
    for packet in packets:
        delta = (packet.sequence - base - highest) & 0xFFFF
        offset = highest + (delta if delta < 0x8000 else delta - 0x10000)
        result.append(offset)
        highest = max(highest, offset)
    return result


def interarrival_jitter(
    arrivals: Sequence[Arrival], send_times: Sequence[float] | None = None, clock_rate: int = CLOCK_RATE
) -> float | None:
    """RFC 3550 A.8 interarrival jitter in ms over ``arrivals`` (in arrival order).

    With ``send_times`` (by index) the transit is arrival minus send time, else minus the RTP
    timestamp.
    """
    if len(arrivals) < 2:
        return None
    jitter = 0.0
    previous: float | None = None
    for item in arrivals:
        if send_times is not None:
            transit = (item.arrival - send_times[item.index]) * clock_rate
        else:
            transit = item.arrival * clock_rate - item.timestamp
        if previous is not None:
            d = transit - previous
            jitter += (abs(d) - jitter) / 16.0
        previous = transit
    return jitter / clock_rate * 1000.0


def stream_stats(sent: SentStream | None, packets: Sequence[RtpPacket]) -> StreamStats:
    """Counts, jitter and round trip of the stream that came back for the stream we ``sent``."""
    sent_count = sent.count if sent else 0
    if not packets:
        return StreamStats("none", sent_count, 0, sent_count, sent_count, 0, 0, None, None, None, ())
    own = [_own_index(packet, sent) for packet in packets] if sent else [None] * len(packets)
    if sum(index is not None for index in own) * 2 >= len(packets):
        echo: Echo = "own"
        indexed = [(index, packet) for index, packet in zip(own, packets, strict=True) if index is not None]
        first_index = 0
    else:
        echo = "renumbered"
        indexed = list(zip(_extended(packets), packets, strict=True))
        first_index = min(index for index, _ in indexed)
    seen: set[int] = set()
    arrivals: list[Arrival] = []
    reordered = duplicates = 0
    highest = -(2**62)
    for index, packet in indexed:
        if index in seen:
            duplicates += 1
            continue
        seen.add(index)
        if index < highest:
            reordered += 1
        highest = max(highest, index)
        arrivals.append(Arrival(index - first_index, packet.timestamp, packet.arrival, packet.payload))
    expected = sent_count if echo == "own" else max(index for index, _ in indexed) - first_index + 1
    rtts: list[float] = []
    if echo == "own" and sent is not None:
        rtts = [(item.arrival - sent.send_times[item.index]) * 1000.0 for item in arrivals]
    return StreamStats(
        echo,
        sent_count,
        len(indexed),  # packets of our stream (an own echo ignores strays)
        expected,
        expected - len(arrivals),
        duplicates,
        reordered,
        interarrival_jitter(arrivals, sent.send_times if echo == "own" and sent is not None else None),
        round(fmean(rtts), 2) if rtts else None,
        round(max(rtts), 2) if rtts else None,
        tuple(arrivals),
    )


__all__ = ["Arrival", "Echo", "StreamStats", "interarrival_jitter", "stream_stats"]

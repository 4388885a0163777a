"""An RTP impairment relay for the trunk tests: it sits between the caller and SIPp on loopback.

This machine's kernel has no ``netem`` qdisc, so the impairment is done in user space. The relay
listens on one port (the address the far end's SDP answer names), forwards the caller's RTP to
SIPp's media port from a second socket, and SIPp's ``-rtp_echo`` answers to that socket, whence the
relay forwards the echo to the caller. Each direction has a schedule keyed by the packet's index in
the stream (its RTP sequence number minus the first one the caller sent), so what happens to a
packet does not depend on when it arrives:

* ``drop``: never forwarded;
* ``duplicate``: forwarded twice at once;
* ``hold``: kept until the next packet of the direction has been forwarded, then forwarded (a
  reorder by one, decided by events rather than by timing);
* ``delay_ms``: forwarded that much later. The seeded schedules change the delay like a queue
  that fills at once and drains 5 ms per 20 ms packet, so that delays never
  reorder packets by themselves;
* ``garble``: the payload replaced by noise (a far end that returns something, but not our audio).

The test computes the expected loss, duplicates, reordering, jitter and MOS from the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import threading
from dataclasses import dataclass, field, replace

PTIME_MS = 20.0
DRAIN_MS = 5.0  # a delay spike decays this much per packet: arrivals stay 15 ms apart, in order


@dataclass(frozen=True, slots=True)
class Impairment:
    drop: bool = False
    duplicate: bool = False
    hold: bool = False
    delay_ms: float = 0.0
    garble: bool = False


CLEAN = Impairment()


@dataclass(frozen=True)
class Schedule:
    """What the relay does to packet ``index`` going ``out`` (caller → far end) and ``back``."""

    packets: int
    out: dict[int, Impairment] = field(default_factory=dict)
    back: dict[int, Impairment] = field(default_factory=dict)

    def action(self, direction: str, index: int) -> Impairment:
        return (self.out if direction == "out" else self.back).get(index, CLEAN)


def seeded_schedule(
    seed: int,
    packets: int,
    *,
    drop_out: float = 0.0,
    drop_back: float = 0.0,
    duplicate_out: float = 0.0,
    reorder_back: float = 0.0,
    spike_back: float = 0.0,
    spike_ms: tuple[float, float] = (30.0, 80.0),
    jitter_back: tuple[float, ...] = (),
    garble_back: bool = False,
) -> Schedule:
    """A reproducible schedule: each packet drawn with the given probabilities (per direction).

    Constraints that keep the effects separable (and so the expectation exact): a duplicated
    packet is never dropped on the way back; a held packet and its successor are neither dropped,
    duplicated nor delayed; a delay spike starts only where no reorder is pending.
    ``jitter_back`` instead gives every packet on the way back a delay drawn from those values
    (this may reorder: with values 0 and 90 ms, two packets' arrivals differ by at least 10 ms).
    """
    rng = random.Random(seed)
    out: dict[int, Impairment] = {}
    back: dict[int, Impairment] = {}
    for index in range(packets):
        roll = rng.random()
        if roll < drop_out:
            out[index] = Impairment(drop=True)
        elif roll < drop_out + duplicate_out:
            out[index] = Impairment(duplicate=True)
    protected = {i for i, imp in out.items() if imp.duplicate}
    delay = 0.0
    index = 0
    while index < packets:
        roll = rng.random()
        if delay > 0:  # the queue drains, 5 ms per packet
            back[index] = Impairment(delay_ms=delay)
            delay = max(0.0, delay - DRAIN_MS)
            index += 1
            continue
        if (
            roll < reorder_back
            and index + 1 < packets - 1
            and not {index, index + 1} & protected
            and not any(out.get(i, CLEAN).drop for i in (index, index + 1))
        ):
            back[index] = Impairment(hold=True)
            back[index + 1] = CLEAN
            index += 2
            continue
        roll -= reorder_back
        if 0 <= roll < spike_back and index not in protected:
            delay = rng.uniform(*spike_ms)
            continue  # this packet starts the spike
        roll -= spike_back
        if 0 <= roll < drop_back and index not in protected:
            back[index] = Impairment(drop=True)
        index += 1
    if jitter_back:
        back = {i: replace(back.get(i, CLEAN), delay_ms=rng.choice(jitter_back)) for i in range(packets)}
    if garble_back:
        back = {i: replace(back.get(i, CLEAN), garble=True) for i in range(packets)}
    return Schedule(packets, out, back)


class RtpRelay:
    """The relay, in its own thread and event loop; ``port`` is where the caller must send RTP."""

    HOLD_LIMIT_S = 0.2

    def __init__(self, far_end: tuple[str, int], schedule: Schedule, host: str = "127.0.0.1") -> None:
        self.schedule = schedule
        self.host = host
        self.far_end = far_end
        self.forwarded = {"out": 0, "back": 0}
        self._base: int | None = None
        self._caller: tuple[str, int] | None = None
        self._held: dict[str, tuple[bytes, asyncio.TimerHandle] | None] = {"out": None, "back": None}
        self._noise = random.Random(1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5) or self._error is not None:
            raise RuntimeError(f"RTP relay did not start: {self._error!r}")

    # --- the loop thread ---

    def _run(self) -> None:
        relay = self

        class Side(asyncio.DatagramProtocol):
            def __init__(self, direction: str) -> None:
                self.direction = direction

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay._received(self.direction, data, addr)

        async def start() -> None:
            self._caller_side, _ = await self._loop.create_datagram_endpoint(
                lambda: Side("out"), local_addr=(self.host, 0)
            )
            self._far_side, _ = await self._loop.create_datagram_endpoint(
                lambda: Side("back"), local_addr=(self.host, 0)
            )
            self.port = self._caller_side.get_extra_info("sockname")[1]

        try:
            self._loop.run_until_complete(start())
        except BaseException as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._caller_side.close()
        self._far_side.close()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    def _index(self, data: bytes) -> int | None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return None
        sequence = struct.unpack_from("!H", data, 2)[0]
        if self._base is None:
            return None
        return (sequence - self._base) & 0xFFFF

    def _received(self, direction: str, data: bytes, addr: tuple[str, int]) -> None:
        if direction == "out" and self._caller != addr:  # a new call: its stream starts the schedule again
            self._caller = addr
            self._base = struct.unpack_from("!H", data, 2)[0] if len(data) >= 12 else None
        index = self._index(data)
        if index is None or index >= self.schedule.packets:
            self._send(direction, data)
            return
        action = self.schedule.action(direction, index)
        if action.drop:
            return
        if action.garble:
            data = data[:12] + bytes(self._noise.randrange(256) for _ in range(len(data) - 12))
        if action.hold:
            timer = self._loop.call_later(self.HOLD_LIMIT_S, self._release, direction)
            self._held[direction] = (data, timer)
            return
        copies = 2 if action.duplicate else 1
        if action.delay_ms > 0:
            for _ in range(copies):
                self._loop.call_later(action.delay_ms / 1000.0, self._send, direction, data)
        else:
            for _ in range(copies):
                self._send(direction, data)
        self._release(direction)

    def _release(self, direction: str) -> None:
        held = self._held[direction]
        if held is not None:
            self._held[direction] = None
            held[1].cancel()
            self._send(direction, held[0])

    def _send(self, direction: str, data: bytes) -> None:
        if direction == "out":
            self._far_side.sendto(data, self.far_end)
        elif self._caller is not None:
            self._caller_side.sendto(data, self._caller)
        self.forwarded[direction] += 1

    # --- the test's thread ---

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> RtpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

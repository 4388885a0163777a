"""Real far ends of the emergency tests: SIPp as the bridge's signalling, an RTP sink as its ear.

The bridge scenarios (``include/sipp/bridge_*.xml``) answer with an SDP that points the caller's
RTP at :class:`RtpSink`, a UDP socket in a thread of the test process, so a test can decode what
the bridge heard. Busy and no-answer far ends are the trunk tests' scenarios.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.trunks.trunk_farends import SCENARIOS, SIPP, free_port
from xop.core.specs.emergency import EmergencyCallSpec
from xop.db.bulk import insert_rows
from xop.tickets import TicketService
from xop.tickets.tables import ticket_events, tickets

#: A Tuesday, 10:00 in Chicago: inside the support hours.
IN_HOURS = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
#: The same Tuesday, 20:00 in Chicago: after closing.
AFTER_HOURS = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
#: The whole announcement, for the test that listens to it.
FULL_ANNOUNCEMENT = "Emergency. Ticket {number}. {customer}. {urgency}. {commitment} missed."
#: Short, so that an answered call lasts a few seconds of real-time RTP.
SHORT_ANNOUNCEMENT = "{urgency}."


class RtpSink:
    """Collects RTP packets on a loopback UDP port until closed: (sequence, payload type, payload)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.packets: list[tuple[int, int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) >= 12 and data[0] >> 6 == 2:
                sequence = struct.unpack("!H", data[2:4])[0]
                self.packets.append((sequence, data[1] & 0x7F, data[12:]))

    def payload(self) -> bytes:
        """Received payloads in arrival order, checked to be in sequence (loopback keeps order; the
        sequence number starts at random and may wrap past 65535)."""
        sequences = [sequence for sequence, _, _ in self.packets]
        gaps = [(b - a) & 0xFFFF for a, b in itertools.pairwise(sequences)]
        assert all(gap == 1 for gap in gaps), f"RTP out of sequence: {sorted(set(gaps))}"
        return b"".join(p for _, _, p in self.packets)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@dataclass
class Bridge:
    scenario: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    sink: RtpSink | None = None

    def trunk(self, **overrides: Any) -> dict[str, Any]:
        trunk = {"id": f"bridge-{self.port}", "host": self.host, "port": self.port, "transport": "udp"}
        return trunk | overrides

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        if self.sink is not None:
            self.sink.close()


def _bound(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def start_bridge(scenario: str, workdir: Path, *, with_sink: bool = True, host: str = "127.0.0.1") -> Bridge:
    """SIPp running ``scenario`` over UDP on a free port; the bridge scenarios get an RTP sink."""
    port = free_port(host)
    sink = RtpSink(host) if with_sink else None
    args = [SIPP, "-sf", str(SCENARIOS / scenario), "-i", host, "-p", str(port), "-mp", str(port + 2)]
    if sink is not None:
        keys = {"sink_ip": host, "sink_port": sink.port, "sink_pt": 0, "sink_codec": "PCMU"}
        for key, value in keys.items():
            args += ["-key", key, str(value)]
    args += ["-t", "u1", "-nostdin", "-trace_err"]
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not _bound(host, port):
        if process.poll() is not None:
            raise RuntimeError(f"sipp {scenario} exited: {process.stderr.read().decode(errors='replace')}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"sipp {scenario} did not bind {host}:{port}")
        time.sleep(0.02)
    return Bridge(scenario, host, port, process, workdir, sink)


@dataclass
class Bridges:
    """Bridges started by one test, all stopped at its end."""

    root: Path
    running: list[Bridge] = field(default_factory=list)

    def start(self, scenario: str, **kw: Any) -> Bridge:
        bridge = start_bridge(scenario, self.root / f"{scenario}-{len(self.running)}", **kw)
        self.running.append(bridge)
        return bridge

    def stop_all(self) -> None:
        for bridge in self.running:
            with contextlib.suppress(Exception):
                bridge.stop()


def with_emergency_call(cfg, **settings: Any):
    """``cfg`` with ``emergency_call`` replaced (validated like the YAML would be)."""
    base = {
        "enabled": True,
        "retries": 2,
        "retry_spacing_s": 0,
        "ring_timeout_s": 3,
        "announcement": SHORT_ANNOUNCEMENT,
    }
    return cfg.model_copy(update={"emergency_call": EmergencyCallSpec.model_validate(base | settings)})


def open_emergency(
    engine, cfg, *, at: datetime, clock: str = "l4_resolution", urgency: str = "critical"
) -> dict:
    """A critical acme ticket at L4 with an ``emergency`` event at ``at`` (as the ticket model writes it)."""
    svc = TicketService(engine, cfg)
    opened = at - timedelta(days=10)
    ticket = svc.open(
        customer="acme",
        system="acme-conf1",
        subject="Conference bridge down",
        description="No conference can start.",
        reporter_name="Carl Caller",
        reporter_email="carl@acme.example",
        source="staff",
        urgency=urgency,
        now=opened,
        actor="dana",
    )
    with engine.begin() as conn:
        conn.execute(sa.update(tickets).where(tickets.c.id == ticket.id).values(level=4))
        event_id = insert_rows(
            conn,
            ticket_events,
            [
                {
                    "ticket_id": ticket.id,
                    "at": at,
                    "actor": "xop-sla-sweep",
                    "kind": "emergency",
                    "public": False,
                    "body": "",
                    "payload": {
                        "clock": clock,
                        "reason": "Level 4 resolution target missed",
                        "from_level": 4,
                        "due_at": (at - timedelta(minutes=5)).isoformat(),
                    },
                }
            ],
            returning="id",
        )[0]
    return {"ticket_id": ticket.id, "number": ticket.number, "event_id": event_id}


def events_of(engine, ticket_id: int, *kinds: str) -> list[dict]:
    q = sa.select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
    if kinds:
        q = q.where(ticket_events.c.kind.in_(kinds))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]

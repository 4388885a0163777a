"""Benchmark: SIP OPTIONS probes of 500 trunks, concurrent vs one after another.

Far ends: several SIPp instances (UDP), each answering on its own port for 100 of the trunks.
Two runs per mode:

* ``wan``: SIPp answers after 40 ms (include/sipp/options_200_wan.xml), the round trip
  of a typical path to a customer's trunk: this is what the production DAG pays;
* ``loopback``: SIPp answers at once; shows the CPU cost per probe of our UAC.

Target (issue 5): 500 trunks in under 3 s wall, at least 20x faster than sequential (``wan``).

Run: ``cd /work/main && .venv/bin/python bench/bench_sip_probe.py [--trunks 500] [--instances 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from tests.trunks.trunk_farends import SippFarEnd, start_sipp, stop_sipp  # noqa: E402
from xop.core.specs.trunks import TrunkSpec  # noqa: E402
from xop.trunks.sip import SipTarget, check_sip_trunks, probe_options  # noqa: E402

NOW = dt.datetime.now(dt.UTC)


def make_targets(far_ends: list[SippFarEnd], count: int) -> list[SipTarget]:
    return [
        SipTarget(
            "bench",
            TrunkSpec(
                id=f"bench-{index:04d}",
                host=far_ends[index % len(far_ends)].host,
                port=far_ends[index % len(far_ends)].port,
                test_call=False,
                options_timeout_s=5.0,
            ),
        )
        for index in range(count)
    ]


async def concurrent(targets: list[SipTarget]) -> tuple[float, int, list[float]]:
    started = time.perf_counter()
    results = await check_sip_trunks(targets, checked_at=NOW, options_only=True, concurrency=len(targets))
    rtts = sorted(result.rtt_ms for result in results if result.rtt_ms is not None)
    return time.perf_counter() - started, sum(result.ok for result in results), rtts


async def sequential(targets: list[SipTarget]) -> tuple[float, int]:
    started = time.perf_counter()
    ok = 0
    for target in targets:
        result = await probe_options(target.trunk, system=target.system, checked_at=NOW)
        ok += result.ok
    return time.perf_counter() - started, ok


def run(scenario: str, label: str, trunks: int, instances: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        far_ends = []
        try:
            for index in range(instances):
                workdir = Path(tmp) / str(index)
                workdir.mkdir()
                far_ends.append(start_sipp(scenario, transport="udp", host="127.0.0.1", workdir=workdir))
            targets = make_targets(far_ends, trunks)
            asyncio.run(concurrent(targets[:20]))  # warm-up: imports, SSL-free path, sipp first calls
            conc_s, conc_ok, rtts = asyncio.run(concurrent(targets))
            seq_s, seq_ok = asyncio.run(sequential(targets))
        finally:
            for far_end in far_ends:
                stop_sipp(far_end)
    ratio = seq_s / conc_s
    print(
        f"{label:9s} {trunks} trunks / {instances} SIPp: concurrent {conc_s:7.3f} s ({conc_ok} up)"
        f" | sequential {seq_s:7.3f} s ({seq_ok} up) | {ratio:6.1f}x faster"
        f" | per trunk: {conc_s / trunks * 1000:.2f} ms concurrent, {seq_s / trunks * 1000:.2f} ms sequential"
    )
    if rtts:
        # An answer after T1 (500 ms) means the UAC had already retransmitted (timer E): the far
        # ends were starved of CPU or the first datagram was lost.
        p50, p95 = rtts[len(rtts) // 2], rtts[int(len(rtts) * 0.95) - 1]
        retransmitted = sum(rtt >= 500 for rtt in rtts)
        print(
            f"{'':9s} concurrent RTT p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {rtts[-1]:.1f} ms;"
            f" {retransmitted} answered after T1 (500 ms), i.e. retransmitted"
        )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trunks", type=int, default=500)
    parser.add_argument("--instances", type=int, default=5)
    args = parser.parse_args()
    run("options_200.xml", "loopback", args.trunks, args.instances)
    run("options_200_wan.xml", "wan", args.trunks, args.instances)
    print("target: wan concurrent < 3 s and >= 20x faster than sequential")


if __name__ == "__main__":
    main()

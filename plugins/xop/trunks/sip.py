"""SIP checks of many trunks at once: the OPTIONS probe, then the test call, each with a deadline.

Why the calling side is written here instead of driving SIPp:

* this Debian SIPp build (``sipp -v``: 3.6.1-SCTP-PCAP-RTPSTREAM) has no TLS, and TLS is one of the
  transports we must check;
* SIPp runs one process per scenario and reports through CSV traces, so 500 trunks would be 500
  processes and the figures we need (post-dial delay, setup time, RTP echoed, the reason of a
  failure) would be scraped from files; here they are measured directly;
* one event loop runs every check concurrently with its own deadline, so a dead or slow trunk
  costs only its own timeout and never delays the others.

SIPp stays the far end in the tests. The user agent client is split by responsibility:
:mod:`~xop.trunks.channel` (UDP/TCP/TLS flows), :mod:`~xop.trunks.dialog` (requests, transactions
with UDP retransmission, digest auth on 401/407, ACK/CANCEL, answering the far end's BYE/OPTIONS),
:mod:`~xop.trunks.options` (the probe), :mod:`~xop.trunks.call` (a call, ``place_call``),
:mod:`~xop.trunks.media` (SDP and RTP) and :mod:`~xop.trunks.testcall` (the check's test call).
This module keeps the historical import names of all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from xop.trunks.call import CallOutcome, place_call, place_call_async
from xop.trunks.channel import describe_transport_error, ssl_context_for
from xop.trunks.dialog import reason_for_final
from xop.trunks.media import parse_sdp_answer
from xop.trunks.options import probe_options
from xop.trunks.result import TrunkCheckResult
from xop.trunks.target import DigestCredentials, SipTarget
from xop.trunks.testcall import place_test_call

log = logging.getLogger(__name__)


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
    "CallOutcome",
    "DigestCredentials",
    "SipTarget",
    "TrunkCheckResult",
    "check_sip_trunk",
    "check_sip_trunks",
    "describe_transport_error",
    "parse_sdp_answer",
    "place_call",
    "place_call_async",
    "place_test_call",
    "probe_options",
    "reason_for_final",
    "run_sip_checks",
    "ssl_context_for",
]

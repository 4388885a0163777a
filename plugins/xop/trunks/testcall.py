"""The trunk check's test call: :func:`xop.trunks.call.place_call_async` judged as a check result."""

from __future__ import annotations

from datetime import datetime

from xop.core.specs.trunks import TrunkSpec
from xop.trunks.call import place_call_async
from xop.trunks.result import TrunkCheckResult
from xop.trunks.target import DigestCredentials, SipTarget


async def place_test_call(
    trunk: TrunkSpec,
    *,
    system: str,
    checked_at: datetime,
    credentials: DigestCredentials | None = None,
) -> TrunkCheckResult:
    """Call ``trunk.dial_number`` with the test signal; fails without echo when ``require_echo``."""
    result = TrunkCheckResult(trunk.id, system, "call", False, checked_at, target=trunk.target)
    outcome = await place_call_async(SipTarget(system, trunk, credentials), credentials)
    if not outcome.answered:
        return result.with_(sip_code=outcome.sip_code, pdd_ms=outcome.pdd_ms, error=outcome.error)
    error = outcome.error
    if error is None and trunk.require_echo and trunk.media_seconds > 0 and outcome.rtp_received == 0:
        error = f"no media: 0 of {outcome.rtp_sent} RTP packets came back"
    return result.with_(
        ok=error is None,
        sip_code=outcome.sip_code,
        pdd_ms=outcome.pdd_ms,
        setup_ms=outcome.setup_ms,
        rtp_sent=outcome.rtp_sent,
        rtp_received=outcome.rtp_received,
        error=error,
    )


__all__ = ["place_test_call"]

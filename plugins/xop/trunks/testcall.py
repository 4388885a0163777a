"""The trunk check's test call: :func:`xop.trunks.call.place_call_async` judged as a check result.

The call sends the known sweep; what comes back is counted, rated and compared with it
(:func:`xop.trunks.quality.assess`). A call whose quality grades "failed" fails the check; a
"degraded" one passes with ``quality == "degraded"`` (the run opens a major ticket for it).
"""

from __future__ import annotations

from datetime import datetime

from xop.core.specs.trunks import TrunkSpec
from xop.trunks.call import CallOutcome, place_call_async
from xop.trunks.quality import CallQuality, assess
from xop.trunks.result import TrunkCheckResult
from xop.trunks.target import DigestCredentials, SipTarget


def quality_fields(quality: CallQuality) -> dict[str, object]:
    """The result fields of a call's quality figures."""
    stats, audio = quality.stats, quality.audio
    return {
        "rtt_ms": stats.rtt_ms,
        "rtp_lost": stats.lost,
        "rtp_duplicates": stats.duplicates,
        "rtp_reordered": stats.reordered,
        "rtp_late": quality.late,
        "loss_pct": None if stats.loss_pct is None else round(stats.loss_pct, 3),
        "jitter_ms": None if stats.jitter_ms is None else round(stats.jitter_ms, 2),
        "delay_ms": quality.delay_ms,
        "r_factor": quality.r_factor,
        "mos": quality.mos,
        "audio_correlation": None if audio is None else audio.correlation,
        "audio_level_db": None if audio is None else round(audio.level_dbfs, 1),
        "quality": quality.grade,
        "quality_note": quality.note,
    }


def judge_call(trunk: TrunkSpec, result: TrunkCheckResult, outcome: CallOutcome) -> TrunkCheckResult:
    """A test call's outcome as a check result, with its quality when media flowed."""
    if not outcome.answered:
        return result.with_(sip_code=outcome.sip_code, pdd_ms=outcome.pdd_ms, error=outcome.error)
    result = result.with_(
        sip_code=outcome.sip_code,
        pdd_ms=outcome.pdd_ms,
        setup_ms=outcome.setup_ms,
        rtp_sent=outcome.rtp_sent,
        rtp_received=outcome.rtp_received,
        error=outcome.error,
    )
    if outcome.error is not None or outcome.sent is None or trunk.media_seconds <= 0:
        return result.with_(ok=outcome.error is None)
    if not trunk.require_echo and not outcome.packets:
        return result.with_(ok=True)  # a far end that sends nothing back, and is allowed to
    quality = assess(outcome.sent, outcome.packets, trunk.quality, compare=trunk.require_echo)
    result = result.with_(**quality_fields(quality))
    if quality.grade == "failed":
        return result.with_(ok=False, error=quality.note)
    return result.with_(ok=True)


async def place_test_call(
    trunk: TrunkSpec,
    *,
    system: str,
    checked_at: datetime,
    credentials: DigestCredentials | None = None,
) -> TrunkCheckResult:
    """Call ``trunk.dial_number`` with the test signal and grade what comes back."""
    result = TrunkCheckResult(trunk.id, system, "call", False, checked_at, target=trunk.target)
    outcome = await place_call_async(SipTarget(system, trunk, credentials), credentials)
    return judge_call(trunk, result, outcome)


__all__ = ["judge_call", "place_test_call", "quality_fields"]

"""The test call's quality: RTP figures, the E-model rating and the audio check, graded by thresholds.

How the measured figures feed G.107 (:mod:`xop.trunks.emodel`):

* **Jitter buffer.** The receiver is modelled with a playout buffer of nominal delay
  ``B = clamp(factor x J, min, max)`` (defaults 2 x J within 40-200 ms; 40 ms is a common smallest
  setting of IP phones' adaptive buffers), J the RFC 3550 jitter:
  an adaptive buffer settles at about twice the mean jitter (Cole & Rosenbluth, "Voice over IP
  performance monitoring", ACM SIGCOMM CCR 31(2), 2001, whose effective latency is
  ``latency + 2 x jitter + 10 ms``). A packet whose path delay exceeds the fastest packet's by more
  than ``B`` comes too late to be played and counts as lost (ITU-T G.1020 §6.3: jitter buffer
  discards are packet loss for the listener). With our own echo the path delay is arrival minus
  send time, so our own pacing does not count; otherwise arrival minus RTP timestamp.
* **Ta** (mouth-to-ear delay) = fixed one-way network delay + ``B`` + 20 ms packetisation (one
  G.711 frame per packet; G.711 adds no look-ahead, ITU-T G.114 Table I.1). The fixed delay is half
  the smallest round trip of the echo (the buffer already absorbs the variation above it), which
  assumes a symmetric path; a renumbering far end gives no round trip, and Ta is then a lower bound.
* **Ppl** = (lost + discarded) / expected over the echoed stream, which crossed the trunk twice:
  a conservative figure for either direction. **BurstR** from the same loss pattern (G.107 §7.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from xop.core.specs.trunks import QualitySpec
from xop.trunks.audiocheck import AudioMatch, compare_audio
from xop.trunks.emodel import burst_ratio, rate_g711
from xop.trunks.media import RTP_PTIME, RtpPacket, SentStream
from xop.trunks.rtpstats import StreamStats, stream_stats

Grade = Literal["good", "degraded", "failed"]
PACKETISATION_MS = RTP_PTIME * 1000.0


@dataclass(frozen=True, slots=True)
class CallQuality:
    stats: StreamStats
    audio: AudioMatch | None
    jitter_buffer_ms: float
    late: int
    ppl_pct: float
    burst_ratio: float
    delay_ms: float  # Ta used by the E-model
    r_factor: float
    mos: float
    grade: Grade
    reasons: tuple[str, ...]

    @property
    def note(self) -> str | None:
        return "; ".join(self.reasons) or None


def jitter_buffer_ms(jitter_ms: float | None, spec: QualitySpec) -> float:
    wanted = spec.jitter_buffer_factor * (jitter_ms or 0.0)
    return min(spec.jitter_buffer_max_ms, max(spec.jitter_buffer_min_ms, wanted))


def late_indices(stats: StreamStats, sent: SentStream | None, buffer_ms: float) -> set[int]:
    """Indices of packets that came later than the jitter buffer allows (relative to the fastest)."""
    if not stats.arrivals:
        return set()
    if stats.echo == "own" and sent is not None:
        delays = {item.index: (item.arrival - sent.send_times[item.index]) * 1000 for item in stats.arrivals}
    else:
        delays = {item.index: item.arrival * 1000 - item.timestamp / 8.0 for item in stats.arrivals}
    fastest = min(delays.values())
    return {index for index, delay in delays.items() if delay - fastest > buffer_ms}


def assess(
    sent: SentStream | None,
    packets: Sequence[RtpPacket],
    spec: QualitySpec,
    *,
    compare: bool = True,
) -> CallQuality:
    """Figures and grade of a call's media; ``compare`` checks the echoed audio against the signal."""
    stats = stream_stats(sent, packets)
    buffer_ms = jitter_buffer_ms(stats.jitter_ms, spec)
    late = late_indices(stats, sent, buffer_ms)
    arrived = {item.index for item in stats.arrivals}
    pattern = [index not in arrived or index in late for index in range(stats.expected)]
    unplayable = sum(pattern)
    ppl = 100.0 * unplayable / stats.expected if stats.expected else 100.0
    burst = burst_ratio(pattern)
    one_way = 0.0
    if stats.echo == "own" and sent is not None and stats.arrivals:
        one_way = min((item.arrival - sent.send_times[item.index]) * 1000 for item in stats.arrivals) / 2
    delay = one_way + buffer_ms + PACKETISATION_MS
    rating = rate_g711(delay, ppl, burst=burst, concealment=spec.concealment)
    audio = None
    if compare and sent is not None and stats.arrivals:
        audio = compare_audio(sent.payloads, stats.arrivals, sent.payload_type)

    failed: list[str] = []
    degraded: list[str] = []
    if not stats.arrivals:
        failed.append(f"one-way audio: none of {stats.sent} RTP packets came back")
    else:
        if audio is not None and audio.level_dbfs < spec.silence_dbfs:
            failed.append(f"silence: the audio that came back is at {audio.level_dbfs:.0f} dBFS")
        elif audio is not None and audio.correlation < spec.min_correlation:
            failed.append(
                f"garbled: the audio that came back does not match ours (correlation {audio.correlation:.2f})"
            )
        elif audio is not None and audio.level_delta_db < -spec.max_level_loss_db:
            degraded.append(f"level: the echo is {-audio.level_delta_db:.1f} dB quieter than sent")
        if rating.mos < spec.failed_mos:
            failed.append(f"MOS {rating.mos:.2f} below {spec.failed_mos:g}")
        elif rating.mos < spec.degraded_mos:
            degraded.append(f"MOS {rating.mos:.2f} below {spec.degraded_mos:g}")
        loss = stats.loss_pct or 0.0
        if loss > spec.max_loss_pct:
            degraded.append(f"loss {loss:.1f} % over {spec.max_loss_pct:g} %")
        if stats.jitter_ms is not None and stats.jitter_ms > spec.max_jitter_ms:
            degraded.append(f"jitter {stats.jitter_ms:.1f} ms over {spec.max_jitter_ms:g} ms")
    grade: Grade = "failed" if failed else "degraded" if degraded else "good"
    return CallQuality(
        stats,
        audio,
        round(buffer_ms, 2),
        len(late),
        round(ppl, 3),
        round(burst, 3),
        round(delay, 2),
        round(rating.R, 2),
        round(rating.mos, 2),
        grade,
        tuple(failed + degraded),
    )


__all__ = ["CallQuality", "Grade", "assess", "jitter_buffer_ms", "late_indices"]

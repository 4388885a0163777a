"""Units of the call-quality figures: the G.107 E-model against published values, G.711, the RTP
counts and RFC 3550 jitter, and the echoed-audio comparison."""

from __future__ import annotations

import numpy as np
import pytest

from xop.core.specs.trunks import QualitySpec
from xop.trunks import g711
from xop.trunks.audiocheck import compare_audio, level_dbfs
from xop.trunks.emodel import (
    G711_BPL_NO_PLC,
    G711_BPL_PLC,
    EModelInput,
    burst_ratio,
    effective_equipment_impairment,
    mos_from_r,
    rate,
    rate_g711,
)
from xop.trunks.media import FRAME_BYTES, RtpPacket, SentStream, frames_of, parse_rtp
from xop.trunks.quality import assess, jitter_buffer_ms
from xop.trunks.rtpstats import interarrival_jitter, stream_stats
from xop.trunks.testsignal import sweep, sweep_audio

# --- E-model (ITU-T G.107) ----------------------------------------------------------------------


def test_g107_default_values_give_r_93_2() -> None:
    # G.107 §7 / Table 3: with all parameters at their defaults, Ro = 94.77, Is = 1.41, Id = 0.15
    # and R = 93.2 (the "default R" of a G.711 connection without impairment).
    result = rate(EModelInput())
    assert result.Ro == pytest.approx(94.77, abs=0.005)
    assert result.Is == pytest.approx(1.41, abs=0.005)
    assert result.Id == pytest.approx(0.15, abs=0.005)
    assert result.Ie_eff == 0 and result.A == 0
    assert pytest.approx(93.2, abs=0.05) == result.R
    assert result.mos == pytest.approx(4.41, abs=0.005)


@pytest.mark.parametrize(
    ("r", "mos"),
    # G.107 Annex B (eq. B-4) and its Table B.1 of R against MOS_CQE
    [
        (100, 4.5),
        (93.2, 4.41),
        (90, 4.34),
        (80, 4.02),
        (70, 3.60),
        (60, 3.10),
        (50, 2.58),
        (0, 1.0),
        (-5, 1.0),
    ],
)
def test_r_to_mos(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.005)


def test_issue_thresholds_sit_on_g107_user_satisfaction_bands() -> None:
    # MOS 3.6 ↔ R 70 ("some users dissatisfied"), MOS 3.1 ↔ R 60 ("many users dissatisfied")
    assert mos_from_r(70) == pytest.approx(QualitySpec().degraded_mos, abs=0.005)
    assert mos_from_r(60) == pytest.approx(QualitySpec().failed_mos, abs=0.005)


def test_effective_equipment_impairment_g113_g711() -> None:
    # G.107 eq. 7-29 with G.711's Ie = 0 and Bpl of G.113 Appendix I (25.1 with PLC, 4.3 without)
    assert effective_equipment_impairment(0, 0, G711_BPL_PLC, 1) == 0
    assert effective_equipment_impairment(0, 2.0, G711_BPL_PLC, 1) == pytest.approx(95 * 2 / 27.1)
    assert effective_equipment_impairment(0, 2.0, G711_BPL_NO_PLC, 1) == pytest.approx(95 * 2 / 6.3)
    # bursty loss hurts more than random loss of the same rate
    assert effective_equipment_impairment(0, 2.0, G711_BPL_PLC, 2.0) > effective_equipment_impairment(
        0, 2.0, G711_BPL_PLC, 1.0
    )
    # all packets lost: the impairment reaches 95 whatever the robustness
    assert effective_equipment_impairment(0, 100.0, G711_BPL_PLC, 1.0) == pytest.approx(95 * 100 / 125.1)


def test_delay_impairment_starts_above_mt_and_grows() -> None:
    at = {delay: rate(EModelInput(Ta=delay)).R for delay in (0, 50, 100, 150, 200, 300, 400)}
    assert at[0] == at[50] == at[100]  # Idd = 0 up to mT = 100 ms (T and Tr at their defaults)
    assert at[100] > at[150] > at[200] > at[300] > at[400]
    g711 = {delay: rate_g711(delay, 0.0).R for delay in (0, 100, 200, 400)}
    assert g711[0] == pytest.approx(93.2, abs=0.05)
    assert g711[0] > g711[100] > g711[200] > g711[400]


def test_loss_lowers_r_monotonically() -> None:
    values = [rate_g711(40, loss).R for loss in (0, 0.5, 1, 2, 5, 10, 20)]
    assert values == sorted(values, reverse=True)
    assert rate_g711(40, 5, concealment=False).R < rate_g711(40, 5).R


def test_burst_ratio_of_a_loss_pattern() -> None:
    assert burst_ratio([]) == 1.0 and burst_ratio([False] * 10) == 1.0
    # F F L L F F F F L L: p = P(L|F) = 2/6, q = P(F|L) = 1/3, BurstR = 1 / (p + q) = 1.5
    assert burst_ratio([False, False, True, True, False, False, False, False, True, True]) == pytest.approx(
        1.5
    )
    rng = np.random.default_rng(7)
    random_loss = list(rng.random(20000) < 0.05)
    assert burst_ratio(random_loss) == pytest.approx(1.0, abs=0.05)


# --- G.711 and the test signal ---------------------------------------------------------------


def test_g711_codes() -> None:
    assert g711.ulaw_encode(np.array([0, -1])) == b"\xff\x7f"  # G.191: -1 is the negative zero
    assert g711.alaw_encode(np.array([0])) == b"\xd5"
    assert list(g711.ulaw_decode(b"\x80\x00\xff")) == [32124, -32124, 0]
    assert list(g711.alaw_decode(b"\xd5\x55\xaa\x2a")) == [8, -8, 32256, -32256]
    codes = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes
    ulaw = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert ulaw == codes.replace(b"\x7f", b"\xff")  # both µ-law zeros decode to 0
    ramp = np.arange(-32768, 32768, 7)
    for pt in (g711.PCMU, g711.PCMA):
        decoded = g711.decode(g711.encode(ramp, pt), pt).astype(int)
        assert np.all(np.diff(decoded) >= 0)  # monotonic
        assert np.abs(decoded - ramp).max() <= 1024  # within half a step of the largest segment


def test_sweep_is_whole_frames_at_the_nominal_level() -> None:
    signal = sweep(3.0)
    assert signal.size == 150 * FRAME_BYTES
    assert level_dbfs(signal) == pytest.approx(-18.3, abs=0.2)
    assert len(frames_of(sweep_audio(3.0, 0), 0)) == 150
    assert frames_of(b"\x01" * 200, 0)[1] == b"\x01" * 40 + b"\xff" * 120  # padded with silence


# --- RTP counts and RFC 3550 jitter ------------------------------------------------------------


def sent_stream(count: int, first_sequence: int = 65530, first_timestamp: int = 2**32 - 480) -> SentStream:
    frames = frames_of(sweep_audio(count * 0.02, 0), 0)
    return SentStream(
        0x1234, first_sequence, first_timestamp, 0, [i * 0.02 for i in range(count)], frames[:count]
    )


def echo(sent: SentStream, index: int, arrival: float, **changes) -> RtpPacket:
    values = {
        "sequence": (sent.first_sequence + index) & 0xFFFF,
        "timestamp": (sent.first_timestamp + 160 * index) & 0xFFFFFFFF,
        "ssrc": sent.ssrc,
        "payload_type": 0,
        "arrival": arrival,
        "payload": sent.payloads[index],
    }
    values.update(changes)
    return RtpPacket(**values)


def test_own_echo_counts_across_the_sequence_wrap() -> None:
    sent = sent_stream(20)  # sequence numbers 65530 .. 13, timestamps wrap too
    order = [0, 1, 2, 4, 3, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]  # 17-19 lost, 3/4 swapped, 6 twice
    packets = [echo(sent, k, 0.02 * k + 0.010) for k in order]
    stats = stream_stats(sent, packets)
    assert stats.echo == "own" and stats.expected == 20
    assert (stats.received, stats.lost, stats.duplicates, stats.reordered) == (18, 3, 1, 1)
    assert stats.loss_pct == pytest.approx(15.0)
    assert stats.rtt_ms == pytest.approx(10.0) and stats.rtt_max_ms == pytest.approx(10.0)
    assert stats.jitter_ms == pytest.approx(0.0, abs=1e-9)  # a constant delay is no jitter


def test_rfc3550_jitter_of_alternating_delay() -> None:
    # every other packet 10 ms late: |D| = 10 ms each time, J converges to 10 ms (J += (|D| - J)/16)
    sent = sent_stream(400, 100, 0)
    packets = [echo(sent, k, 0.02 * k + (0.010 if k % 2 else 0.0)) for k in range(400)]
    stats = stream_stats(sent, packets)
    expected = 0.0
    for _ in range(399):
        expected += (10.0 - expected) / 16
    assert stats.jitter_ms == pytest.approx(expected, rel=1e-6) and expected == pytest.approx(10.0, abs=1e-6)
    # the RTP-timestamp form gives the same when the sender paced exactly
    assert interarrival_jitter(stats.arrivals) == pytest.approx(expected, rel=1e-6)


def test_renumbered_echo_uses_its_own_sequence_numbers() -> None:
    sent = sent_stream(10, 100, 0)
    packets = [
        RtpPacket((5000 + k) & 0xFFFF, 9000 + 160 * k, 0x9999, 0, 0.5 + 0.02 * k, sent.payloads[k])
        for k in (0, 1, 2, 4, 5)
    ]
    stats = stream_stats(sent, packets)
    assert stats.echo == "renumbered" and stats.expected == 6 and stats.lost == 1
    assert stats.rtt_ms is None and stats.jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert stream_stats(sent, []).echo == "none" and stream_stats(sent, []).lost == 10


def test_parse_rtp_skips_csrc_extension_and_padding() -> None:
    header = bytes([0x80 | 0x20 | 0x10 | 1, 0x80 | 8]) + (7).to_bytes(2, "big") + (160).to_bytes(4, "big")
    header += (0xABCD).to_bytes(4, "big") + b"CSRC" + b"\xbe\xde\x00\x01" + b"EXT!"
    packet = parse_rtp(header + b"payload" + b"\x00\x00\x03", 1.5)
    assert packet is not None and packet.payload == b"payload" and packet.payload_type == 8
    assert (packet.sequence, packet.timestamp, packet.ssrc) == (7, 160, 0xABCD)
    assert parse_rtp(b"\x40" + bytes(20), 0.0) is None  # RTP version 1


# --- echoed audio and the grade ----------------------------------------------------------------


def test_audio_comparison() -> None:
    sent = sent_stream(150, 0, 0)
    intact = stream_stats(sent, [echo(sent, k, 0.02 * k) for k in range(150)])
    match = compare_audio(sent.payloads, intact.arrivals, 0)
    assert match.correlation == pytest.approx(1.0) and match.level_delta_db == pytest.approx(0.0)
    silent = stream_stats(sent, [echo(sent, k, 0.02 * k, payload=b"\xff" * 160) for k in range(150)])
    match = compare_audio(sent.payloads, silent.arrivals, 0)
    assert match.correlation == 0.0 and match.level_dbfs == -100.0
    quiet = [
        echo(sent, k, 0.02 * k, payload=g711.ulaw_encode(g711.ulaw_decode(sent.payloads[k]) // 8))
        for k in range(150)
    ]
    match = compare_audio(sent.payloads, stream_stats(sent, quiet).arrivals, 0)
    assert match.correlation > 0.99 and match.level_delta_db == pytest.approx(-18.1, abs=0.5)


def test_grades() -> None:
    spec = QualitySpec()
    sent = sent_stream(150, 0, 0)
    good = assess(sent, [echo(sent, k, 0.02 * k + 0.02) for k in range(150)], spec)
    assert good.grade == "good" and good.reasons == () and good.late == 0
    assert good.delay_ms == pytest.approx(10 + 40 + 20)  # RTT/2 + smallest buffer + packetisation
    lossy = assess(sent, [echo(sent, k, 0.02 * k) for k in range(150) if k % 25], spec)
    assert lossy.grade == "degraded" and lossy.reasons == ("loss 4.0 % over 1 %",)
    quiet = [
        echo(sent, k, 0.02 * k, payload=g711.ulaw_encode(g711.ulaw_decode(sent.payloads[k]) // 8))
        for k in range(150)
    ]
    assert assess(sent, quiet, spec).reasons == ("level: the echo is 17.9 dB quieter than sent",)
    assert assess(sent, [], spec).reasons == ("one-way audio: none of 150 RTP packets came back",)
    assert (
        jitter_buffer_ms(None, spec) == 40
        and jitter_buffer_ms(50, spec) == 100
        and jitter_buffer_ms(500, spec) == 200
    )


def test_quality_spec_refuses_inverted_thresholds() -> None:
    with pytest.raises(ValueError, match="failed_mos"):
        QualitySpec(failed_mos=3.8)

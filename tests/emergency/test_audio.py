"""The announcement's audio: resampling, espeak-ng, the shipped recordings, the G.711 payload."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from xop.core.specs.emergency import EmergencyCallSpec
from xop.emergency import audio
from xop.emergency.announcement import FRAME, announcement_for, recorded_pcm, render_audio, spell_number
from xop.trunks import g711

TICKET = {"number": "XOP-000123", "customer": "acme", "system": "acme-conf1", "urgency": "critical"}
PAYLOAD = {"clock": "l4_resolution", "reason": "Level 4 resolution target missed", "from_level": 4}


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_resample_keeps_a_tone_in_band():
    out = audio.resample(tone(1000, 22050), 22050, 8000)
    assert out.size == 8000
    middle = out[400:-400]  # away from the zero-padded edges
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    peak_hz = np.argmax(spectrum) * 8000 / middle.size
    assert abs(peak_hz - 1000) < 5
    assert rms(middle) == pytest.approx(10000 / np.sqrt(2), rel=0.02)


def test_resample_removes_what_8_khz_cannot_carry():
    # 5 kHz is above the new Nyquist frequency (4 kHz): without the low-pass it would alias to 3 kHz.
    out = audio.resample(tone(5000, 22050), 22050, 8000)[400:-400]
    assert 20 * np.log10(rms(out) / (10000 / np.sqrt(2))) < -40


def test_espeak_speaks_at_8_khz():
    assert audio.espeak_path() is not None, "espeak-ng is not installed (Debian package espeak-ng)"
    samples = audio.speak("Ticket X O P, 0 0 0 1 2 3.")
    assert samples.dtype == np.int16
    assert 1.0 < samples.size / audio.RATE < 10.0
    assert rms(samples) > 500  # speech, not silence


def test_the_shipped_recordings_are_small_8_khz_speech():
    for name in audio.RECORDINGS:
        path = audio.AUDIO_DIR / f"{name}.wav"
        samples, rate = audio.read_wav(path)
        assert rate == 8000, name
        assert path.stat().st_size < 120_000, name
        assert rms(samples) > 300, name


def test_the_recorded_announcement_reads_the_number_digit_by_digit():
    announcement = announcement_for(TICKET, PAYLOAD)
    pcm, method, words = recorded_pcm(announcement)
    assert method == "recordings"
    assert "zero zero zero one two three" in words
    assert "critical." in words and "level 4 resolution." in words
    digits = sum(audio.recording(f"digit_{d}").size for d in "000123")
    assert pcm.size > audio.recording("intro").size + digits


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
@pytest.mark.parametrize("tts", ["recordings", "espeak"])
def test_the_payload_plays_the_announcement_twice(codec, tts):
    spec = EmergencyCallSpec(codec=codec, tts=tts, announcement="Ticket {number}. {commitment} missed.")
    announcement = announcement_for(TICKET, PAYLOAD, customer_name="Acme Conferencing")
    rendered = render_audio(spec, announcement)
    assert rendered.method == ("espeak-ng" if tts == "espeak" else "recordings")
    assert rendered.payload_type == spec.payload_type
    assert len(rendered.payload) % FRAME == 0
    assert rendered.seconds > 2 * rendered.once_seconds
    # The two repetitions are the same bytes: lead-in, once, gap, once.
    once = round(rendered.once_seconds * 8000)
    first_start = round(0.5 * 8000)
    second_start = first_start + once + round(1.5 * 8000)
    data = rendered.payload
    assert data[first_start : first_start + once] == data[second_start : second_start + once]
    decoded = g711.decode(data[first_start : first_start + once], spec.payload_type)
    assert rms(decoded) > 300


def test_the_spoken_text_names_customer_system_urgency_and_commitment():
    due = datetime(2026, 3, 3, 15, 55, tzinfo=UTC)
    announcement = announcement_for(
        TICKET,
        PAYLOAD | {"due_at": due.isoformat()},
        customer_name="Acme <Conferencing>",
        system_name="Acme conference bridge 1",
    )
    text = announcement.text(EmergencyCallSpec().announcement)
    assert "X O P, 0 0 0 1 2 3" in text
    assert "Acme Conferencing" in text  # markup characters dropped
    assert "Acme conference bridge 1" in text
    assert "critical" in text and "Level 4 resolution" in text
    assert "Tuesday 9 55 A M Central" in text
    assert spell_number("XOP-004711") == "X O P, 0 0 4 7 1 1"


def test_the_config_names_what_is_wrong():
    with pytest.raises(ValidationError, match="number must be a dial string"):
        EmergencyCallSpec(number="call mgmt")
    with pytest.raises(ValidationError, match=r"unknown field\(s\) \['ticket'\]"):
        EmergencyCallSpec(announcement="Ticket {ticket}")
    with pytest.raises(ValidationError, match="enabled needs trunk"):
        EmergencyCallSpec(enabled=True)
    spec = EmergencyCallSpec.model_validate(
        {"enabled": True, "number": "972-590-0219", "trunk": {"id": "sbc", "host": "192.0.2.10"}}
    )
    assert spec.number == "9725900219"
    assert spec.trunk.dial_number == "9725900219"  # an inline trunk dials the bridge

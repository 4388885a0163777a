"""Does the audio that came back match what we sent? Level and normalised correlation.

Packet counts miss a far end that answers and returns silence or noise, and one-way audio where
the far end's stream carries nothing of ours. The test signal is a known sweep, so the echo is
decoded, laid on the timeline by its packet index (gaps left silent) and correlated with what
was sent:

* ``correlation``: the peak of the normalised cross-correlation
  ``sum(x[n] y[n + k]) / sqrt(sum x^2 * sum y^2)`` over lags ``|k| <= max_lag_s`` (absolute value:
  a polarity inversion is still audio). 1 for an intact echo, about ``sqrt(1 - loss)`` when
  packets are missing, near 0 for silence, noise or another signal;
* ``level_dbfs``: RMS level of the packets that came back, dB relative to full scale (16-bit);
  ``level_delta_db`` the same minus the level of what we sent in those packets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xop.trunks import g711
from xop.trunks.media import CLOCK_RATE, FRAME_BYTES
from xop.trunks.rtpstats import Arrival

SILENT_DBFS = -100.0  # the level reported for digital silence (all-zero samples)


@dataclass(frozen=True, slots=True)
class AudioMatch:
    correlation: float
    lag_ms: float
    level_dbfs: float
    sent_level_dbfs: float

    @property
    def level_delta_db(self) -> float:
        return self.level_dbfs - self.sent_level_dbfs


def level_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return SILENT_DBFS
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64)))))
    return SILENT_DBFS if rms == 0 else max(SILENT_DBFS, 20 * math.log10(rms / 32768.0))


def compare_audio(
    sent_frames: Sequence[bytes],
    arrivals: Sequence[Arrival],
    payload_type: int,
    *,
    max_lag_s: float = 1.0,
) -> AudioMatch | None:
    """Compare the frames we sent with the distinct packets that came back; None if nothing came back."""
    if not sent_frames or not arrivals:
        return None
    sent = g711.decode(b"".join(sent_frames), payload_type).astype(np.float64)
    length = max(len(sent_frames), 1 + max(item.index for item in arrivals)) * FRAME_BYTES
    received = np.zeros(length)
    present = np.zeros(length, dtype=bool)
    for item in arrivals:
        if item.index < 0 or not item.payload:
            continue
        start = item.index * FRAME_BYTES
        samples = g711.decode(item.payload[:FRAME_BYTES], payload_type).astype(np.float64)
        received[start : start + samples.size] = samples
        present[start : start + samples.size] = True
    rx_level = level_dbfs(received[present])
    overlap = present[: sent.size]
    tx_level = level_dbfs(sent[overlap] if overlap.any() else sent)
    energy = math.sqrt(float(np.dot(sent, sent)) * float(np.dot(received, received)))
    if energy == 0:
        return AudioMatch(0.0, 0.0, rx_level, tx_level)
    size = 1 << (sent.size + received.size - 1).bit_length()
    spectrum = np.fft.rfft(received, size) * np.conj(np.fft.rfft(sent, size))
    xcorr = np.fft.irfft(spectrum, size)  # xcorr[k] = sum sent[n] * received[n + k] (circular)
    max_lag = min(round(max_lag_s * CLOCK_RATE), size // 2 - 1)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.abs(xcorr[lags % size])
    best = int(np.argmax(values))
    return AudioMatch(
        round(float(values[best]) / energy, 4),
        round(float(lags[best]) / CLOCK_RATE * 1000, 3),
        rx_level,
        tx_level,
    )


__all__ = ["SILENT_DBFS", "AudioMatch", "compare_audio", "level_dbfs"]

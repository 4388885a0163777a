"""The test call's known signal: an exponential sine sweep 300-3400 Hz over the whole call.

A single sweep (not a repeated tone) has one sharp correlation peak, so the echoed audio can be
aligned with what was sent even when the far end renumbers the packets, and a tone that merely
leaks through (or comfort noise) does not correlate. The level, -18 dBFS RMS, is the usual
nominal speech level of a G.711 channel (about -15 dBm0).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from xop.trunks import g711
from xop.trunks.media import CLOCK_RATE, FRAME_BYTES

LOW_HZ = 300.0
HIGH_HZ = 3400.0
AMPLITUDE = 4000.0 * np.sqrt(2)  # RMS 4000 of 32768 = -18.3 dBFS
FADE_S = 0.010


@lru_cache(maxsize=8)
def sweep(seconds: float) -> np.ndarray:
    """The sweep as 16-bit linear samples, a whole number of 20 ms frames (at least one)."""
    count = max(1, round(seconds * CLOCK_RATE / FRAME_BYTES)) * FRAME_BYTES
    t = np.arange(count) / CLOCK_RATE
    duration = count / CLOCK_RATE
    rate = np.log(HIGH_HZ / LOW_HZ)
    phase = 2 * np.pi * LOW_HZ * duration / rate * (np.exp(t / duration * rate) - 1)
    signal = AMPLITUDE * np.sin(phase)
    fade = min(count // 2, round(FADE_S * CLOCK_RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    signal = np.round(signal).astype(np.int16)
    signal.setflags(write=False)
    return signal


def sweep_audio(seconds: float, payload_type: int) -> bytes:
    """The sweep encoded for ``payload_type`` (0 PCMU, 8 PCMA)."""
    return g711.encode(sweep(seconds), payload_type)


__all__ = ["sweep", "sweep_audio"]

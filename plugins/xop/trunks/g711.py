"""G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, type 8) with numpy.

The code follows ITU-T G.191's reference G.711 implementation (µ-law compress) and Sun
Microsystems' public-domain ``g711.c`` (A-law, and both expansions): 16-bit linear in, one byte
per sample out. ``audioop`` is gone from Python 3.13, hence our own. The one G.711 of the
pipeline: the trunk check's test signal and the emergency call's announcement both use it.
"""

from __future__ import annotations

import numpy as np

PCMU = 0
PCMA = 8
SILENCE = {PCMU: 0xFF, PCMA: 0xD5}  # the code of a zero sample
#: The codec's name (SDP ``rtpmap``) by RTP payload type.
NAMES = {PCMU: "PCMU", PCMA: "PCMA"}

_ULAW_BIAS = 0x84
_BIT_LENGTH = np.array([int(v).bit_length() for v in range(128)], dtype=np.int32)
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """16-bit linear samples (any integer or float array in -32768..32767) to µ-law bytes.

    As ITU-T G.191's reference ``ulaw_compress``: the magnitude of a negative sample is its one's
    complement, so -1 encodes as the negative zero 0x7F.
    """
    x = np.clip(np.asarray(samples, dtype=np.int32), -32768, 32767)
    magnitude = np.minimum(np.where(x < 0, ~x, x) >> 2, 0x1FFF - 33) + 33  # 14-bit, biased
    segment = 1 + _BIT_LENGTH[magnitude >> 6]
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = ((8 - segment) << 4) | low
    return np.where(x >= 0, code | 0x80, code).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """µ-law bytes to 16-bit linear samples (int16)."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS) << exponent
    return np.where(u & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


def alaw_encode(samples: np.ndarray) -> bytes:
    """16-bit linear samples to A-law bytes (even bits inverted, as G.711 sends them)."""
    x = np.clip(np.asarray(samples, dtype=np.int32), -32768, 32767) >> 3  # 13-bit
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, x, side="left")
    shift = np.where(segment < 2, 1, segment)
    value = (np.minimum(segment, 7) << 4) | ((x >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes to 16-bit linear samples (int16)."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def encode(samples: np.ndarray, payload_type: int) -> bytes:
    if payload_type == PCMU:
        return ulaw_encode(samples)
    if payload_type == PCMA:
        return alaw_encode(samples)
    raise ValueError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA)")


def decode(data: bytes, payload_type: int) -> np.ndarray:
    if payload_type == PCMU:
        return ulaw_decode(data)
    if payload_type == PCMA:
        return alaw_decode(data)
    raise ValueError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA)")


__all__ = [
    "NAMES",
    "PCMA",
    "PCMU",
    "SILENCE",
    "alaw_decode",
    "alaw_encode",
    "decode",
    "encode",
    "ulaw_decode",
    "ulaw_encode",
]

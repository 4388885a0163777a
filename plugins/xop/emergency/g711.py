"""ITU-T G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8) with numpy.

Python's ``audioop`` is deprecated (PEP 594) and gone in 3.13; these are the classic segment
coders (the reference C of Sun's ``g711.c``, the same tables as ITU-T G.191's STL), vectorised:

* µ-law: 14-bit magnitude, bias 33 (132 on the 16-bit scale), 8 segments of 16 steps, every bit
  inverted on the line; 0 encodes to 0xFF, full scale +/- to 0x80 / 0x00.
* A-law: 13-bit magnitude, segment 0 linear, even bits inverted (XOR 0x55) on the line; 0 encodes
  to 0xD5, full scale +/- to 0xAA / 0x2A.

Input and output samples are 16-bit linear PCM (``int16``), as the decoders of both laws return
them scaled by 4 (µ) and 8 (A).
"""

from __future__ import annotations

import numpy as np

_MU_BIAS = 0x84
_MU_CLIP = 32635


def _segment(magnitude: np.ndarray, ends: tuple[int, ...]) -> np.ndarray:
    """Index of the first segment whose end is >= ``magnitude`` (len(ends) when above all)."""
    return np.searchsorted(np.asarray(ends, dtype=np.int32), magnitude, side="left").astype(np.int32)


def linear_to_ulaw(samples: np.ndarray) -> bytes:
    """16-bit linear PCM → µ-law bytes."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), _MU_CLIP) + _MU_BIAS
    # Exponent = position of the highest set bit above bit 7 (0..7).
    exponent = _segment(magnitude >> 7, (1, 3, 7, 15, 31, 63, 127, 255))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def ulaw_to_linear(data: bytes) -> np.ndarray:
    """µ-law bytes → 16-bit linear PCM."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _MU_BIAS) << exponent) - _MU_BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


_A_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def linear_to_alaw(samples: np.ndarray) -> bytes:
    """16-bit linear PCM → A-law bytes."""
    x = np.asarray(samples, dtype=np.int32) >> 3  # 13-bit
    positive = x >= 0
    mask = np.where(positive, 0xD5, 0x55)
    magnitude = np.where(positive, x, -x - 1)
    segment = _segment(magnitude, _A_SEGMENT_ENDS)
    shift = np.where(segment < 2, 1, segment)
    value = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_to_linear(data: bytes) -> np.ndarray:
    """A-law bytes → 16-bit linear PCM."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    step = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    magnitude = np.where(segment == 0, step + 8, (step + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


#: RTP payload type → (encoder, decoder, name). Only the static G.711 types of RFC 3551.
CODECS = {
    0: (linear_to_ulaw, ulaw_to_linear, "PCMU"),
    8: (linear_to_alaw, alaw_to_linear, "PCMA"),
}
#: The byte a silent 20 ms frame is made of, per payload type.
SILENCE = {0: 0xFF, 8: 0xD5}


def encode(samples: np.ndarray, payload_type: int) -> bytes:
    try:
        return CODECS[payload_type][0](samples)
    except KeyError:
        raise ValueError(f"payload type {payload_type!r} is not G.711 (0 PCMU or 8 PCMA)") from None


def decode(data: bytes, payload_type: int) -> np.ndarray:
    try:
        return CODECS[payload_type][1](data)
    except KeyError:
        raise ValueError(f"payload type {payload_type!r} is not G.711 (0 PCMU or 8 PCMA)") from None


__all__ = [
    "CODECS",
    "SILENCE",
    "alaw_to_linear",
    "decode",
    "encode",
    "linear_to_alaw",
    "linear_to_ulaw",
    "ulaw_to_linear",
]

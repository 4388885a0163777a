"""G.711 against the ITU-T recommendation: code points, segment tables, the digital milliwatt."""

from __future__ import annotations

import numpy as np
import pytest

from xop.trunks import g711


def _codes(data: bytes) -> list[int]:
    return list(data)


def test_known_code_points():
    # Zero, -1, full scale: µ-law inverts every bit (0 -> 0xFF), A-law the even bits (0 -> 0xD5).
    samples = np.array([0, -1, 32767, -32768])
    assert _codes(g711.ulaw_encode(samples)) == [0xFF, 0x7F, 0x80, 0x00]
    assert _codes(g711.alaw_encode(samples)) == [0xD5, 0x55, 0xAA, 0x2A]
    assert g711.SILENCE == {0: 0xFF, 8: 0xD5}


def test_ulaw_decoder_is_the_segment_table_of_g711():
    # G.711 table 2a: magnitude of step q in segment s is (2q + 33) * 2**s - 33 (14-bit scale,
    # x4 on the 16-bit scale); the line code is the bit inverse of (negative, s, q), so a
    # line code with bit 7 set is positive.
    expected = {}
    for s in range(8):
        for q in range(16):
            magnitude = ((2 * q + 33) * 2**s - 33) * 4
            expected[~(s << 4 | q) & 0xFF] = magnitude
            expected[~(0x80 | s << 4 | q) & 0xFF] = -magnitude
    decoded = g711.ulaw_decode(bytes(range(256)))
    assert {code: int(decoded[code]) for code in range(256)} == expected
    assert int(decoded.max()) == 8031 * 4  # the recommendation's largest µ-law output value


def test_alaw_decoder_is_the_segment_table_of_g711():
    # G.711 table 1a: segment 0 is linear (2q + 1), segment s >= 1 is (2q + 33) * 2**(s - 1)
    # (12-bit scale, x8 on the 16-bit scale); even bits inverted on the line (XOR 0x55).
    expected = {}
    for s in range(8):
        for q in range(16):
            magnitude = (2 * q + 1 if s == 0 else (2 * q + 33) * 2 ** (s - 1)) * 8
            expected[(0x80 | s << 4 | q) ^ 0x55] = magnitude
            expected[(s << 4 | q) ^ 0x55] = -magnitude
    decoded = g711.alaw_decode(bytes(range(256)))
    assert {code: int(decoded[code]) for code in range(256)} == expected
    assert int(decoded.max()) == 4032 * 8  # the recommendation's largest A-law output value


@pytest.mark.parametrize("payload_type", [0, 8])
def test_every_code_decodes_and_encodes_back(payload_type):
    codes = bytes(range(256))
    again = g711.encode(g711.decode(codes, payload_type), payload_type)
    # Only µ-law's negative zero (0x7F) comes back as the positive one.
    differing = [c for c in range(256) if again[c] != codes[c]]
    assert differing == ([0x7F] if payload_type == 0 else [])
    assert again[0x7F] == (0xFF if payload_type == 0 else 0x7F)


@pytest.mark.parametrize("payload_type", [0, 8])
def test_quantisation_error_stays_within_half_a_step(payload_type):
    x = np.arange(-32768, 32768)
    y = g711.decode(g711.encode(x, payload_type), payload_type).astype(np.int64)
    # Each value lies within its decision interval: the error is at most half the largest
    # step (µ-law 2**7 * 2 * 4 / 2 = 1024 (x4 scale), A-law 2**6 * 2 * 8 / 2 = 512), and the
    # coder is monotonic.
    assert np.abs(y - x).max() <= (1024 if payload_type == 0 else 512)
    assert np.all(np.diff(y) >= 0)


def test_digital_milliwatt():
    # G.711 tables 5 and 6: the digital milliwatt, a 1 kHz sine at 0 dBm0, is the 8-byte
    # sequence below. 0 dBm0 is 3.17 dB (µ) / 3.14 dB (A) under the coders' full load.
    n = np.arange(8)
    phase = 2 * np.pi * n / 8 + np.pi / 8 + np.pi  # the tables start in the negative half-wave
    mu = 8159 * 4 * 10 ** (-3.17 / 20) * np.sin(phase)
    a = 4096 * 8 * 10 ** (-3.14 / 20) * np.sin(phase)
    assert _codes(g711.ulaw_encode(np.round(mu))) == [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]
    assert _codes(g711.alaw_encode(np.round(a))) == [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]


def test_other_payload_types_are_refused():
    with pytest.raises(ValueError, match=r"not G\.711"):
        g711.encode(np.zeros(4), 9)

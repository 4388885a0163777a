"""Speech for the emergency announcement: 8 kHz mono 16-bit PCM, produced on this machine.

Two sources, nothing downloaded at run time:

* **text-to-speech** with Debian's ``espeak-ng`` when it is installed: any text, including the
  customer's and the system's names;
* **shipped recordings** in ``include/audio/`` otherwise (made once with espeak-ng, 8 kHz mono
  WAV): a prompt per phrase, the digits 0-9, the urgencies and the commitments. They cannot say
  a free-text name, so the fallback announcement reads the ticket number digit by digit, the
  urgency and the missed commitment, and refers to the email for the rest.

espeak-ng writes 22.05 kHz; :func:`resample` brings any rate to 8 kHz with a windowed-sinc
low-pass (numpy only; scipy is not a dependency).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from functools import cache
from pathlib import Path

import numpy as np

from xop.core.paths import INCLUDE

RATE = 8000
AUDIO_DIR = INCLUDE / "audio"
ESPEAK_VOICE = "en-us"
ESPEAK_WPM = 150
ESPEAK_TIMEOUT_S = 30.0


class SpeechError(RuntimeError):
    """espeak-ng failed, or a shipped recording is missing or unreadable."""


def espeak_path() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def resample(
    samples: np.ndarray, src_rate: int, dst_rate: int = RATE, *, zero_crossings: int = 24
) -> np.ndarray:
    """``samples`` (any numeric dtype) at ``src_rate`` → float64 samples at ``dst_rate``.

    Band-limited interpolation: each output sample is the input convolved with a Hann-windowed
    sinc whose cutoff is 0.95 x the lower Nyquist frequency, so downsampling does not alias
    (a tone above the new Nyquist frequency is attenuated by more than 40 dB).
    """
    x = np.asarray(samples, dtype=np.float64)
    if src_rate == dst_rate or x.size == 0:
        return x.copy()
    ratio = dst_rate / src_rate
    cutoff = 0.95 * min(1.0, ratio)  # in units of the source Nyquist frequency
    half = int(np.ceil(zero_crossings / cutoff))  # filter half-width in source samples
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    n_out = int(np.floor(x.size * ratio))
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty(n_out)
    chunk = max(1, 2_000_000 // offsets.size)
    for start in range(0, n_out, chunk):
        t = np.arange(start, min(n_out, start + chunk)) / ratio  # positions in source samples
        base = np.floor(t).astype(np.int64)
        k = base[:, None] + offsets[None, :]
        distance = t[:, None] - k
        window = 0.5 * (1.0 + np.cos(np.pi * np.clip(distance / half, -1.0, 1.0)))
        taps = cutoff * np.sinc(cutoff * distance) * window
        out[start : start + t.size] = (padded[k + half] * taps).sum(axis=1)
    return out


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def read_wav(data: bytes | Path) -> tuple[np.ndarray, int]:
    """(mono int16 samples, rate) of a 16-bit PCM WAV (the first channel of a stereo one)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    try:
        with source, wave.open(source, "rb") as wav:
            if wav.getsampwidth() != 2:
                raise SpeechError(f"WAV must be 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            channels = wav.getnchannels()
            return frames[::channels].astype(np.int16), wav.getframerate()
    except (wave.Error, EOFError) as exc:
        raise SpeechError(f"not a readable WAV: {exc}") from exc


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def trim(samples: np.ndarray, *, threshold: int = 200, keep: int = 400) -> np.ndarray:
    """Cut leading and trailing near-silence, keeping ``keep`` samples (50 ms at 8 kHz) of it."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples[:0]
    return samples[max(0, loud[0] - keep) : loud[-1] + keep + 1]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def speak(text: str, *, voice: str = ESPEAK_VOICE, wpm: int = ESPEAK_WPM) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 8 kHz int16 samples. Raises :class:`SpeechError`."""
    executable = espeak_path()
    if executable is None:
        raise SpeechError("espeak-ng is not installed (Debian package espeak-ng)")
    try:
        # The text goes on stdin, never on the command line (no option injection by a name).
        run = subprocess.run(
            [executable, "-v", voice, "-s", str(wpm), "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechError(f"espeak-ng failed: {exc}") from exc
    if run.returncode != 0 or not run.stdout:
        raise SpeechError(f"espeak-ng exited {run.returncode}: {run.stderr.decode(errors='replace')[:200]}")
    samples, rate = _read_stream_wav(run.stdout)
    return to_int16(resample(samples, rate, RATE))


def _read_stream_wav(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng's ``--stdout`` WAV has 0x7FFFFFFF sizes in its header: read the samples directly."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not write a WAV")
    position = 12
    rate = None
    while position + 8 <= len(data):
        chunk, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        body = position + 8
        if chunk == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if channels != 1 or bits != 16:
                raise SpeechError(f"espeak-ng wrote {channels} channel(s) of {bits}-bit audio")
        elif chunk == b"data":
            if rate is None:
                break
            end = len(data) if size >= len(data) - body else body + size
            payload = data[body:end]
            return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16), rate
        position = body + size + (size & 1)
    raise SpeechError("espeak-ng's WAV has no audio data")


# --- shipped recordings -----------------------------------------------------------------------

#: The recordings in include/audio/ and what each says (regenerated by ``make_recordings``).
RECORDINGS: dict[str, str] = {
    "intro": "Attention. This is an automatic emergency call from X O P Networks support. Ticket",
    **{
        f"digit_{d}": word
        for d, word in enumerate(
            ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        )
    },
    "urgency": "Urgency",
    "critical": "critical.",
    "major": "major.",
    "minor": "minor.",
    "missed": "Missed commitment:",
    "l2_response": "level 2 response.",
    "l3_response": "level 3 response.",
    "l3_recovery": "level 3 recovery.",
    "l3_rca": "root cause analysis email.",
    "l4_resolution": "level 4 resolution.",
    "outro": "Customer and system are in the emergency email.",
}


@cache
def recording(name: str, directory: Path = AUDIO_DIR) -> np.ndarray:
    """The shipped recording ``name`` (8 kHz int16). Raises :class:`SpeechError` when missing."""
    path = directory / f"{name}.wav"
    if not path.exists():
        raise SpeechError(f"shipped recording {path} is missing")
    samples, rate = read_wav(path)
    if rate != RATE:
        samples = to_int16(resample(samples, rate, RATE))
    return samples


def make_recordings(directory: Path = AUDIO_DIR) -> list[Path]:
    """Write every :data:`RECORDINGS` entry as ``<name>.wav`` (espeak-ng, 8 kHz, trimmed)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in RECORDINGS.items():
        path = directory / f"{name}.wav"
        write_wav(path, trim(speak(text)))
        written.append(path)
    recording.cache_clear()
    return written


__all__ = [
    "AUDIO_DIR",
    "RATE",
    "RECORDINGS",
    "SpeechError",
    "espeak_path",
    "make_recordings",
    "read_wav",
    "recording",
    "resample",
    "silence",
    "speak",
    "to_int16",
    "trim",
    "write_wav",
]

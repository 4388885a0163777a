"""What the bridge hears: the ticket's number, customer, system, urgency and the missed commitment.

:func:`announcement_for` turns a ticket and its emergency event into an :class:`Announcement`;
:func:`render_audio` speaks it (espeak-ng, or the shipped recordings when espeak-ng is missing or
``tts: recordings``), repeats it ``repeat`` times with a pause between, and encodes it to G.711
in whole 20 ms RTP frames.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from xop.core.specs.emergency import EmergencyCallSpec
from xop.core.vocabulary import CLOCK_LABELS, CLOCK_NAMES
from xop.emergency import audio
from xop.trunks import g711

log = logging.getLogger(__name__)

FRAME = 160  # samples (and G.711 bytes) per 20 ms RTP packet at 8 kHz
LEAD_IN_S = 0.5  # silence before the first word: the far end's media path settles
GAP_S = 1.5  # pause between repetitions
WORD_GAP_S = 0.12  # between shipped recordings
CENTRAL = ZoneInfo("America/Chicago")
_UNSPEAKABLE = re.compile(r"[^\w\s.,'&+/-]", re.UNICODE)


@dataclass(frozen=True)
class Announcement:
    number: str
    customer: str
    system: str
    urgency: str
    clock: str | None
    commitment: str
    due: datetime | None

    def spoken_fields(self) -> dict[str, str]:
        """The values as espeak-ng should read them (number letter by letter, digit by digit)."""
        return {
            "number": spell_number(self.number),
            "customer": _speakable(self.customer) or "unknown",
            "system": _speakable(self.system) or "not named",
            "urgency": self.urgency or "not classified",
            "commitment": self.commitment,
            "due": spoken_time(self.due) if self.due else "not known",
        }

    def text(self, template: str) -> str:
        return template.format(**self.spoken_fields())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due"] = self.due.isoformat() if self.due else None
        return data


def spell_number(number: str) -> str:
    """``XOP-000123`` → ``X O P, 0 0 0 1 2 3``: espeak-ng reads each letter and digit alone."""
    letters = " ".join(ch for ch in number if ch.isalpha())
    digits = " ".join(ch for ch in number if ch.isdigit())
    return ", ".join(part for part in (letters, digits) if part)


def spoken_time(value: datetime) -> str:
    local = value.astimezone(CENTRAL)
    hour = local.hour % 12 or 12
    return f"{local:%A} {hour} {local:%M} {'A M' if local.hour < 12 else 'P M'} Central"


def _speakable(text: str | None, limit: int = 80) -> str:
    """Free text (a customer's name) without characters a TTS engine would read out or trip on."""
    cleaned = " ".join(_UNSPEAKABLE.sub(" ", text or "").split())
    return cleaned[:limit]


def announcement_for(
    ticket: dict[str, Any],
    payload: dict[str, Any],
    *,
    customer_name: str | None = None,
    system_name: str | None = None,
) -> Announcement:
    """The announcement of one emergency event (``payload`` as written by the ticket service/sweep:
    ``clock``, ``reason``, ``from_level``, optionally ``due_at``)."""
    clock = payload.get("clock") or payload.get("breached_clock")
    commitment = CLOCK_LABELS.get(clock) if clock else None
    if commitment is None:
        commitment = _speakable(payload.get("reason")) or "emergency escalation"
    due = payload.get("due_at")
    if isinstance(due, str):
        try:
            due = datetime.fromisoformat(due)
        except ValueError:
            due = None
    return Announcement(
        number=ticket["number"],
        customer=customer_name or ticket.get("customer") or "",
        system=system_name or ticket.get("system") or "",
        urgency=ticket.get("urgency") or "",
        clock=clock if clock in CLOCK_NAMES else None,
        commitment=commitment,
        due=due if isinstance(due, datetime) else None,
    )


@dataclass(frozen=True)
class RenderedAudio:
    """The G.711 payload of the whole call and how it was made."""

    payload: bytes
    payload_type: int
    method: str  # "espeak-ng" or "recordings"
    text: str
    seconds: float  # length of the payload (all repetitions)
    once_seconds: float  # length of one announcement

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "codec": g711.NAMES[self.payload_type],
            "seconds": round(self.seconds, 2),
            "once_seconds": round(self.once_seconds, 2),
            "once_samples": round(self.once_seconds * audio.RATE),
            "packets": len(self.payload) // FRAME,
            "text": self.text,
        }


def spoken_pcm(spec: EmergencyCallSpec, announcement: Announcement) -> tuple[np.ndarray, str, str]:
    """(8 kHz int16 samples of one announcement, method, text)."""
    text = announcement.text(spec.announcement)
    if spec.tts != "recordings" and (spec.tts == "espeak" or audio.espeak_path() is not None):
        try:
            return audio.speak(text), "espeak-ng", text
        except audio.SpeechError:
            if spec.tts == "espeak":
                raise
            log.warning("espeak-ng failed; using the shipped recordings", exc_info=True)
    return recorded_pcm(announcement)


def recorded_pcm(announcement: Announcement) -> tuple[np.ndarray, str, str]:
    """The announcement from the shipped recordings: intro, digits, urgency, commitment, outro."""
    names = ["intro", *(f"digit_{d}" for d in announcement.number if d.isdigit())]
    if announcement.urgency in ("critical", "major", "minor"):
        names += ["urgency", announcement.urgency]
    if announcement.clock:
        names += ["missed", announcement.clock]
    names.append("outro")
    gap = audio.silence(WORD_GAP_S)
    parts: list[np.ndarray] = []
    for name in names:
        parts += [audio.recording(name), gap]
    words = " ".join(audio.RECORDINGS[name] for name in names)
    return np.concatenate(parts), "recordings", words


def render_audio(spec: EmergencyCallSpec, announcement: Announcement) -> RenderedAudio:
    """Lead-in, the announcement ``spec.repeat`` times with pauses, G.711 in whole frames."""
    once, method, text = spoken_pcm(spec, announcement)
    pieces = [audio.silence(LEAD_IN_S)]
    for index in range(spec.repeat):
        if index:
            pieces.append(audio.silence(GAP_S))
        pieces.append(once)
    pieces.append(audio.silence(0.3))
    pcm = np.concatenate(pieces)
    pcm = np.concatenate([pcm, np.zeros((-pcm.size) % FRAME, dtype=np.int16)])
    payload = g711.encode(pcm, spec.payload_type)
    return RenderedAudio(
        payload=payload,
        payload_type=spec.payload_type,
        method=method,
        text=text,
        seconds=pcm.size / audio.RATE,
        once_seconds=once.size / audio.RATE,
    )


__all__ = [
    "Announcement",
    "RenderedAudio",
    "announcement_for",
    "recorded_pcm",
    "render_audio",
    "spell_number",
    "spoken_pcm",
]

"""``emergency_call:``: the automatic SIP call to the emergency bridge when a ticket reaches Emergency.

Example (the shipped default is ``enabled: false``: a deployment names its trunk first)::

    emergency_call:
      enabled: true
      trunk:                      # an inline SIP trunk, or the id of a configured trunk
        id: xop-emergency
        host: sbc.xopnetworks.com
        transport: tls
        conn_id: xop_emergency_trunk   # digest login/password (Airflow connection)
      number: "9725900219"         # seed section 3: the Firebar dial-out conference
      hours: business              # business (the support calendar) | 24x7 | a calendar mapping
      retries: 2                   # after the first attempt: busy, no answer, 4xx/5xx, timeouts
      retry_spacing_s: 60
      codec: pcmu                  # pcmu (G.711 µ-law) or pcma (A-law)
      announcement: "..."          # Jinja-free template with {number}, {customer}, ... (see below)
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xop.core.specs.trunks import TrunkSpec

_DIAL = re.compile(r"^\+?[0-9*#]{1,32}$")

#: Fields the announcement may name.
ANNOUNCEMENT_FIELDS = ("number", "customer", "system", "urgency", "commitment", "due")
DEFAULT_ANNOUNCEMENT = (
    "Attention. This is an automatic emergency call from X O P Networks support. "
    "Ticket {number}. Customer {customer}. System {system}. Urgency {urgency}. "
    "Missed commitment: {commitment}, due {due}. "
    "The details are in the emergency email."
)


class HoursSpec(BaseModel):
    """A calendar of its own for the bridge: weekdays and local opening hours in a time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "America/Chicago"
    opens: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    closes: str = Field("18:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays_country: str | None = "US"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day not in range(7) for day in value):
            raise ValueError(f"weekdays must be 0 (Mon) .. 6 (Sun), got {list(value)!r}")
        return tuple(sorted(set(value)))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class EmergencyCallSpec(BaseModel):
    """When a ticket reaches Emergency, ring the emergency bridge and announce the ticket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    trunk: str | TrunkSpec | None = Field(
        None, description="inline SIP trunk, or the id of a trunk under customers[].systems[].trunks"
    )
    number: str = Field("9725900219", description="the emergency bridge (seed section 3: 972-590-0219)")
    hours: Literal["business", "24x7"] | HoursSpec = Field(
        "business", description="when it may ring: the support calendar, always, or its own hours"
    )
    retries: int = Field(2, ge=0, le=10, description="further attempts after a failed one")
    retry_spacing_s: float = Field(60.0, ge=0, le=3600, description="wait between attempts")
    ring_timeout_s: float = Field(45.0, gt=0, le=300, description="INVITE to answer, per attempt")
    max_age_minutes: float = Field(
        60.0, gt=0, description="an emergency older than this is recorded, never rung (e.g. after an outage)"
    )
    codec: Literal["pcmu", "pcma"] = "pcmu"
    repeat: int = Field(2, ge=1, le=5, description="times the announcement is played")
    tts: Literal["auto", "espeak", "recordings"] = Field(
        "auto", description="espeak-ng when installed (auto), always, or the shipped recordings"
    )
    announcement: str = DEFAULT_ANNOUNCEMENT

    @model_validator(mode="before")
    @classmethod
    def _inline_trunk_dials_the_bridge(cls, data: object) -> object:
        """An inline trunk dials ``number``: it needs no ``dial_number`` of its own."""
        if (
            isinstance(data, dict)
            and isinstance(data.get("trunk"), dict)
            and "dial_number" not in data["trunk"]
        ):
            number = re.sub(r"[\s().-]", "", str(data.get("number") or "9725900219"))
            data = data | {"trunk": data["trunk"] | {"dial_number": number}}
        return data

    @model_validator(mode="after")
    def _trunk_when_enabled(self) -> EmergencyCallSpec:
        if self.enabled and self.trunk is None:
            raise ValueError("enabled needs trunk: an inline SIP trunk or the id of a configured one")
        if isinstance(self.trunk, TrunkSpec) and self.trunk.kind != "sip":
            raise ValueError(f"trunk {self.trunk.id!r} must be a SIP trunk (kind: sip)")
        return self

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        digits = re.sub(r"[\s().-]", "", value)
        if not _DIAL.match(digits):
            raise ValueError(f"number must be a dial string (digits, optional +, * or #), got {value!r}")
        return digits

    @field_validator("announcement")
    @classmethod
    def _announcement(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = sorted(names - set(ANNOUNCEMENT_FIELDS))
        if unknown:
            raise ValueError(
                f"announcement names unknown field(s) {unknown}; known: {list(ANNOUNCEMENT_FIELDS)}"
            )
        return value

    @property
    def payload_type(self) -> int:
        return 0 if self.codec == "pcmu" else 8


__all__ = ["ANNOUNCEMENT_FIELDS", "DEFAULT_ANNOUNCEMENT", "EmergencyCallSpec", "HoursSpec"]

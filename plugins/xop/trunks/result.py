"""The outcome of one check of one trunk: a row of ``trunk_checks``."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Literal

CheckKind = Literal["options", "call", "pri"]
Grade = Literal["good", "degraded", "failed"]


@dataclass(frozen=True, slots=True)
class TrunkCheckResult:
    """One check (OPTIONS probe, test call or PRI span) of one trunk.

    ``error`` says why a failed check failed ("busy (486 Busy Here)", "timeout: no response",
    "ICMP unreachable", ...). Times are milliseconds measured with the monotonic clock.
    """

    trunk: str
    system: str
    kind: CheckKind
    ok: bool
    checked_at: datetime
    target: str = ""
    sip_code: int | None = None
    rtt_ms: float | None = None
    pdd_ms: float | None = None
    setup_ms: float | None = None
    rtp_sent: int | None = None
    rtp_received: int | None = None
    error: str | None = None
    # --- the test call's quality (issue 19); rtt_ms of a call is the RTP round trip of the echo ---
    rtp_lost: int | None = None
    rtp_duplicates: int | None = None
    rtp_reordered: int | None = None
    rtp_late: int | None = None
    loss_pct: float | None = None
    jitter_ms: float | None = None
    delay_ms: float | None = None
    r_factor: float | None = None
    mos: float | None = None
    audio_correlation: float | None = None
    audio_level_db: float | None = None
    quality: Grade | None = None
    quality_note: str | None = None

    @property
    def degraded(self) -> bool:
        return self.ok and self.quality == "degraded"

    def with_(self, **changes: object) -> TrunkCheckResult:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (XCom): ``checked_at`` as ISO 8601."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["checked_at"] = self.checked_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrunkCheckResult:
        values = dict(data)
        values["checked_at"] = datetime.fromisoformat(str(values["checked_at"]))
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in values.items() if key in known}
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["CheckKind", "Grade", "TrunkCheckResult"]

"""The outcome of one check of one trunk: a row of ``trunk_checks``."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Literal

CheckKind = Literal["options", "call", "pri"]


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
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["CheckKind", "TrunkCheckResult"]

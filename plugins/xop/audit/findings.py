"""What a health probe reports: one :class:`Finding` per problem, or one ``ok`` result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Literal

from xop.core.specs.audit import Impact, Severity, severity_of

Status = Literal["critical", "major", "minor", "ok"]
SEVERITY_RANK: dict[str, int] = {"ok": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True)
class Finding:
    """One result of one probe on one system. ``severity="ok"`` is a passed check.

    ``evidence`` is what a person needs to see why (command output, figures), kept short.
    """

    system: str
    probe: str
    kind: str
    severity: Status
    summary: str
    evidence: str = ""

    @property
    def is_problem(self) -> bool:
        return self.severity != "ok"

    @property
    def dedup_key(self) -> str:
        """The monitored thing a ticket is kept open for: one per (system, probe)."""
        return f"health:{self.system}:{self.probe}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def problem(system: str, spec: Any, impact: Impact, summary: str, evidence: str = "") -> Finding:
    """A finding classified by the seed's rule from the problem's impact."""
    return Finding(system, spec.probe_name, spec.kind, severity_of(impact), summary, _short(evidence))


def severe(system: str, spec: Any, severity: Severity, summary: str, evidence: str = "") -> Finding:
    """A finding whose severity a threshold named directly (e.g. ``critical_percent``)."""
    return Finding(system, spec.probe_name, spec.kind, severity, summary, _short(evidence))


def passed(system: str, spec: Any, summary: str, evidence: str = "") -> Finding:
    return Finding(system, spec.probe_name, spec.kind, "ok", summary, _short(evidence))


def worst(findings: list[Finding]) -> Status:
    """The most severe status among ``findings`` (``ok`` when none is a problem)."""
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default="ok")


def _short(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"


def json_ready(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


__all__ = ["SEVERITY_RANK", "Finding", "Status", "passed", "problem", "severe", "worst"]

"""What the intake's steps share: the decision they write and the context they read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from xop.core.config import XopConfig
from xop.intake.parse import Parsed


@dataclass(frozen=True)
class Bounce:
    """One recipient line of a delivery report, and the outbox row it is about (if found)."""

    recipient: str
    action: str
    status: str
    diagnostic: str
    notification_id: int | None


@dataclass
class Decision:
    outcome: str | None = None
    reason: str = ""
    #: The ticket a reply follows up (a row of ``tickets`` as a dict), and how it was found.
    ticket: dict[str, Any] | None = None
    matched_by: str = ""
    customer: str | None = None
    contact_name: str = ""
    system: str | None = None
    #: "close" or "escalate": the first line of a reply from the reporter.
    command: str | None = None
    bounces: list[Bounce] = field(default_factory=list)

    def settle(self, outcome: str, reason: str) -> None:
        self.outcome, self.reason = outcome, reason


@dataclass(frozen=True)
class Context:
    conn: Connection
    cfg: XopConfig
    now: datetime

    @property
    def spec(self):
        return self.cfg.intake


Step = Callable[[Parsed, Decision, Context], None]

"""The intake as a fixed list of small named steps (Zammad's email filters, STYLE.md).

Each step reads the parsed message (:class:`~xop.intake.parse.Parsed`) and the database through
the :class:`Context`, and writes what it found on the :class:`Decision`. A step that settles the
message (quarantine, auto-reply, bounce, our own mail) sets ``decision.outcome`` and the rest are
skipped. The list :data:`STEPS` is the documentation of the intake: read it top to bottom.
"""

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


def _steps() -> tuple[Step, ...]:
    from xop.intake.steps import auto_reply, bounce, command, follow_up, limits, own, sender, unreadable

    return (
        unreadable.unreadable_check,  # malformed MIME, unknown charset, no sender -> quarantine
        own.own_message_check,  # from one of our addresses, or a Message-ID of our outbox -> own
        bounce.bounce_check,  # RFC 3464 DSN or mailer-daemon report -> recorded on the outbox row
        auto_reply.auto_response_check,  # Auto-Submitted, Precedence, X-Autoreply -> ignored
        auto_reply.out_of_office_check,  # "Out of office", "Automatic reply" subjects -> ignored
        follow_up.follow_up_check,  # [XOP-000123] in the subject, In-Reply-To/References -> ticket
        sender.sender_check,  # From against configured contacts and domains -> customer
        sender.system_route,  # mailbox alias or subject tag -> system
        command.command_check,  # "close" / "escalate" alone on the first line, from the reporter
        limits.size_check,  # attachments over the per-message or per-ticket limit -> quarantine
    )


def decide(msg: Parsed, ctx: Context) -> Decision:
    """Run the steps in order until one settles the message."""
    d = Decision()
    for step in STEPS:
        step(msg, d, ctx)
        if d.outcome is not None:
            break
    return d


STEPS: tuple[Step, ...] = _steps()

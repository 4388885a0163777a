"""The intake as a fixed list of small named steps (after Zammad's email filters).

Each step reads the parsed message (:class:`~xop.intake.parse.Parsed`) and the database through
the :class:`Context`, and writes what it found on the :class:`Decision`. A step that settles the
message (quarantine, auto-reply, bounce, our own mail) sets ``decision.outcome`` and the rest are
skipped. The list :data:`STEPS` is the documentation of the intake: read it top to bottom.
"""

from __future__ import annotations

from xop.intake.parse import Parsed
from xop.intake.steps import auto_reply, bounce, command, follow_up, limits, own, sender, unreadable
from xop.intake.steps.base import Bounce, Context, Decision, Step

STEPS: tuple[Step, ...] = (
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


__all__ = ["STEPS", "Bounce", "Context", "Decision", "Step", "decide"]

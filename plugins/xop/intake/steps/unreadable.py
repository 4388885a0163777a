"""Messages the intake cannot read (malformed MIME, unknown charset, no sender) go to quarantine."""

from __future__ import annotations

from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision


def unreadable_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    if msg.problems:
        d.settle("quarantined", "unreadable: " + "; ".join(dict.fromkeys(msg.problems)))

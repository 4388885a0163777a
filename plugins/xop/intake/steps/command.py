"""The L1 duties by email: "close" or "escalate" alone on the first line of a reply from the reporter."""

from __future__ import annotations

from xop.intake.parse import Parsed
from xop.intake.steps.base import Context, Decision

COMMANDS = ("close", "escalate")


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def command_check(msg: Parsed, d: Decision, ctx: Context) -> None:
    if d.ticket is None or msg.sender != str(d.ticket["reporter_email"]).lower():
        return
    word = first_line(msg.reply_text).strip(" .!*_").lower()
    if word in COMMANDS:
        d.command = word

"""The follow-up of the emergency email: did the automatic call reach the emergency bridge?

Why a second email and not a line in the first: the emergency email is written by the ticket
service or the sweep in the same transaction as the ``emergency`` event, before any call (the
call runs in its own task, and may take minutes of ringing and retries). Holding the emergency
email back until the call ends would delay the one alert that does not depend on a trunk; so
the first email goes out at once, and this one, threaded to the same ticket (``References``
and ``X-XOP-Ticket``), follows with the outcome: reached (when, how long, RTP sent), not reached
after N attempts (each attempt's SIP answer), not rung and why (outside the bridge's hours, too
old, ticket closed) or interrupted (outcome unknown). Each is queued through the outbox with a
key per (ticket, emergency event, recipient), in the transaction that records the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xop.core.config import XopConfig
from xop.core.vocabulary import CLOCK_LABELS
from xop.tickets.notices import contact_context, ticket_context

KIND = "emergency_call"


def recipients(cfg: XopConfig, ticket: dict[str, Any]) -> list[str]:
    """The emergency email's readers: the emergency contact, the owning level, the internal list."""
    owner = contact_context(cfg, ticket["level"])["email"]
    found = [cfg.escalation.emergency.email, owner, *cfg.support.internal_recipients]
    return list(dict.fromkeys(str(address) for address in found))


def headline(row: dict[str, Any]) -> tuple[str, str]:
    """(sentence for the body, short phrase for the subject) of a finished call."""
    number = row["number"]
    status = row["status"]
    if status == "answered":
        seconds = f"{row['duration_s']:.0f} s" if row.get("duration_s") is not None else "?"
        return (
            f"The emergency bridge {number} answered on attempt {row['attempt_count']} and heard the "
            f"announcement ({seconds} on the line, {row.get('rtp_sent') or 0} RTP packets sent).",
            f"answered on attempt {row['attempt_count']}",
        )
    if status == "failed":
        return (
            f"The emergency bridge {number} was NOT reached: {row['reason']}.",
            f"{row['attempt_count']} attempt(s) failed" if row["attempt_count"] else "not called",
        )
    if status == "skipped":
        return f"The emergency bridge {number} was NOT rung: {row['reason']}.", row["reason"]
    return (
        f"The call to the emergency bridge {number} was {row['reason']}.",
        "call interrupted, outcome unknown",
    )


def followup_emails(
    cfg: XopConfig,
    row: dict[str, Any],
    ticket: dict[str, Any],
    event: dict[str, Any],
    *,
    hours: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The outbox items (:func:`xop.notify.outbox.enqueue_many`) of one finished call."""
    payload = event.get("payload") or {}
    clock = payload.get("clock") or payload.get("breached_clock")
    commitment = CLOCK_LABELS.get(clock) or payload.get("reason") or "emergency escalation"
    sentence, short = headline(row)
    attempts = [_attempt(a) for a in row.get("attempts") or []]
    audio = row.get("audio") or {}
    context = {
        "ticket": ticket_context(cfg, ticket),
        "call": {
            "status": row["status"],
            "reached": row["status"] == "answered",
            "headline": sentence,
            "headline_short": short,
            "reason": row["reason"],
            "number": row["number"],
            "trunk": row.get("trunk") or "",
            "hours": hours,
            "attempts": attempts,
            "audio": {k: audio.get(k) for k in ("method", "seconds", "text")} if audio else {},
        },
        "emergency": {"at": event["at"], "commitment": commitment},
        "contact": cfg.escalation.emergency.model_dump(),
        "ticket_url": cfg.support.ticket_url.format(number=ticket["number"]),
    }
    return [
        {
            "kind": KIND,
            "context": context,
            "recipient": recipient,
            "audience": "internal",
            "dedup_key": f"{KIND}:t{ticket['id']}:e{event['id']}:{recipient}",
            "now": now,
            "ticket_id": ticket["id"],
            "event_id": row.get("outcome_event_id"),
            "sender": cfg.support.sender,
        }
        for recipient in recipients(cfg, ticket)
    ]


def _attempt(attempt: dict[str, Any]) -> dict[str, Any]:
    out = dict(attempt)
    for key in ("started_at", "answered_at"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


__all__ = ["KIND", "followup_emails", "headline", "recipients"]

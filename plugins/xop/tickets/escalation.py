"""Escalation of tickets to a higher support level, for one ticket or thousands at once.

The ticket service (a person escalates) and the sweep (a breach escalates) both call
:func:`escalate_tickets`: one implementation of what escalation means — new level, urgency
settled for L3, lower response clocks stopped, the new level's clocks started, an event in the
history and an email to the end user naming the next level's email and phone (seed section 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from xop.core.config import XopConfig
from xop.db.bulk import insert_rows, update_rows
from xop.sla.policy import effective_urgency
from xop.tickets import clocks
from xop.tickets.tables import ticket_events, tickets

#: Clocks a level owns; escalating to it starts them.
LEVEL_CLOCKS = {2: ("l2_response",), 3: ("l3_response", "l3_recovery"), 4: ("l4_resolution",)}
#: Response clocks of lower levels stop when the ticket leaves them (they no longer own it).
LOWER_RESPONSE = {3: ("l2_response",), 4: ("l2_response", "l3_response")}


def escalate_tickets(
    conn: Connection,
    cfg: XopConfig,
    rows: Sequence[dict[str, Any]],
    to_levels: Sequence[int],
    *,
    actor: str,
    now: datetime,
    reason: str = "",
    payloads: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Escalate ``rows`` (ticket dicts) to ``to_levels``; returns the ``escalated`` events written.

    Callers have checked the transition (active ticket, level going up) and hold the rows
    locked (PostgreSQL ``FOR UPDATE``) or the database write lock (SQLite).
    """
    # Deferred import: notices pulls in the outbox/templates, not needed to import this module.
    from xop.notify.outbox import enqueue_many
    from xop.tickets.notices import contact_context, emails_for

    if not rows:
        return []
    updated: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    stops: dict[tuple[str, ...], list[int]] = {}
    for i, (t, to) in enumerate(zip(rows, to_levels, strict=True)):
        urgency = t["urgency"]
        if to >= 3 and urgency is None:
            urgency = effective_urgency(cfg, t["customer"], None, t["proposed_urgency"])
        new = dict(t) | {"level": to, "urgency": urgency, "escalated_at": now, "updated_at": now}
        new["_from"] = t["level"]
        new["_payload"] = (payloads[i] if payloads else {}) | {
            "from_level": t["level"],
            "to_level": to,
            "urgency": urgency,
            "urgency_set": urgency != t["urgency"],
            "contact": contact_context(cfg, to),
        }
        updated.append(new)
        stops.setdefault(LOWER_RESPONSE.get(to, ()), []).append(t["id"])
        for level in range(max(t["level"] + 1, 2), to + 1):
            for name in LEVEL_CLOCKS[level]:
                if name == "l3_recovery" and t.get("recovered_at"):
                    continue
                starts.append(
                    {
                        "ticket_id": t["id"],
                        "customer": t["customer"],
                        "name": name,
                        "cycle": t.get("reopen_count") or 0,
                        "urgency": effective_urgency(cfg, t["customer"], urgency, t["proposed_urgency"]),
                        "at": now,
                    }
                )
    update_rows(
        conn,
        tickets,
        [
            {
                "id": u["id"],
                "level": u["level"],
                "urgency": u["urgency"],
                "escalated_at": now,
                "updated_at": now,
            }
            for u in updated
        ],
    )
    for names, ids in stops.items():
        if names:
            clocks.finish_clocks(conn, cfg, ids, names, now, met=False)
    clocks.start_clocks(conn, cfg, starts)
    events = [
        {
            "ticket_id": u["id"],
            "at": now,
            "actor": actor,
            "kind": "escalated",
            "public": True,
            "body": reason,
            "payload": u["_payload"],
        }
        for u in updated
    ]
    for ev, event_id in zip(events, insert_rows(conn, ticket_events, events, returning="id"), strict=True):
        ev["id"] = event_id
    emails = []
    for u, ev in zip(updated, events, strict=True):
        emails += emails_for(
            cfg,
            kind="ticket_escalated",
            ticket={k: v for k, v in u.items() if not k.startswith("_")},
            event=ev,
            now=now,
            extra={"previous_level": u["_from"], "next_contact": ev["payload"]["contact"]},
        )
    enqueue_many(conn, emails)
    clocks.refresh_next_due(conn, [u["id"] for u in updated])
    return events

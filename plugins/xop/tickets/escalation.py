"""Escalation of tickets to a higher support level, for one ticket or thousands at once.

The ticket service (a person escalates) and the sweep (a breach escalates) both call
:func:`escalate_tickets`: one implementation of what escalation means (the transition table's
:func:`xop.tickets.model.escalation_clocks`): new level, urgency settled for L3, lower levels'
response clocks stopped, only the new owner's clocks started (paused while the ticket waits on
the customer; skipped levels' clocks never start), an event in the history and an email to the
end user naming the next level's email and phone and by when it responds (seed section 4).

Escalating beyond Level 4 reaches **Emergency**: ``emergency_at`` is set, the customer's email
names the emergency contact (mgmt@, the number that starts the emergency conference), and a
ticket event of kind ``emergency`` is written with the internal emergency email, in the same
transaction, once per ticket (:func:`emergency_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from xop.core.config import XopConfig
from xop.db.bulk import in_ids, insert_rows, update_rows, update_then_insert
from xop.sla.policy import effective_urgency
from xop.tickets import clocks
from xop.tickets.model import EMERGENCY, Actor, escalation_clocks
from xop.tickets.notices import (
    address,
    compose,
    contact_context,
    due_text,
    emergency_emails,
    enqueue_with_watchers,
)
from xop.tickets.records import event_row
from xop.tickets.search_doc import pg_add_words
from xop.tickets.tables import ticket_events, tickets
from xop.tickets.watching import Watchers


def insert_events(conn: Connection, events: list[dict[str, Any]]) -> None:
    for ev, event_id in zip(events, insert_rows(conn, ticket_events, events, returning="id"), strict=True):
        ev["id"] = event_id


def emergency_events(
    conn: Connection,
    cfg: XopConfig,
    items: Sequence[tuple[dict[str, Any], dict[str, Any], str, int]],
    *,
    actor: Actor,
    now: datetime,
    reached: bool,
    watchers: Watchers | None = None,
) -> list[dict[str, Any]]:
    """Write ``emergency`` events, each with its internal email, for (ticket, clock context,
    reason, from_level) items. Clock context: name and label, plus due_at and fraction of a
    missed clock.

    ``reached``: the tickets went beyond Level 4 (``emergency_at`` is set; once per ticket).
    Otherwise a notify breach on a critical ticket calls the emergency without moving the
    ticket: skipped for a ticket at Emergency or with an emergency event already (once per
    ticket). The emails are copied to the tickets' watchers (``watchers``: read for the batch
    already, else here). Returns the events written.
    """
    ids = list({t["id"] for t, *_ in items})
    if not ids:
        return []
    if reached:
        fresh = [i for i in items if i[0].get("emergency_at") is None]
    else:
        had = set(
            conn.execute(
                select(ticket_events.c.ticket_id).where(
                    in_ids(ticket_events.c.ticket_id, ids, conn), ticket_events.c.kind == "emergency"
                )
            ).scalars()
        )
        fresh = [i for i in items if i[0].get("emergency_at") is None and i[0]["id"] not in had]
    fresh = list({t["id"]: (t, c, r, lvl) for t, c, r, lvl in fresh}.values())
    if not fresh:
        return []
    if reached:
        update_rows(
            conn, tickets, [{"id": t["id"], "emergency_at": now, "updated_at": now} for t, *_ in fresh]
        )
    events = [
        event_row(
            t["id"],
            "emergency",
            actor,
            now,
            public=False,
            body=reason,
            payload={
                "clock": clock.get("name"),
                "reason": reason,
                "from_level": from_level,
                "cycle": t.get("reopen_count") or 0,
            },
        )
        for t, clock, reason, from_level in fresh
    ]
    insert_events(conn, events)
    emails = []
    for (t, clock, _reason, _lvl), ev in zip(fresh, events, strict=True):
        if reached:
            t["emergency_at"] = now
        emails += emergency_emails(cfg, t, ev, clock=clock, now=now)
    enqueue_with_watchers(conn, cfg, emails, watchers=watchers)
    return events


class Escalated(NamedTuple):
    """What :func:`escalate_tickets` wrote."""

    events: list[dict[str, Any]]
    tickets: list[dict[str, Any]]


def escalate_tickets(
    conn: Connection,
    cfg: XopConfig,
    rows: Sequence[dict[str, Any]],
    to_levels: Sequence[int],
    *,
    actor: Actor,
    now: datetime,
    reason: str = "",
    payloads: Sequence[dict[str, Any]] | None = None,
    clock_contexts: Sequence[dict[str, Any]] | None = None,
    book: clocks.ClockBook | None = None,
    watchers: Watchers | None = None,
) -> Escalated:
    """Escalate ``rows`` (ticket dicts, with their model ``level``) to ``to_levels``; returns the
    ``escalated`` events written and the tickets as written (stored level, urgency, times, next
    due, Emergency), in the order of ``rows``.

    Callers have checked the transition (:func:`xop.tickets.model.decide`) and hold the rows
    locked (PostgreSQL ``FOR UPDATE``) or the database write lock (SQLite). The clocks are read
    (or taken from the caller's ``book``, with its pending changes), changed in memory and written
    once; each ticket is written once, its order keys included. Each ticket's escalation email
    goes to its watchers too, also when the customer has nobody to send it to (``watchers``: the
    caller's batch of them, else read here in one query).
    """
    if not rows:
        return Escalated([], [])
    if book is None:
        book = clocks.ClockBook.load(conn, {t["id"]: t["customer"] for t in rows})
    updated: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    stops: dict[tuple[str, ...], list[int]] = {}
    for i, (t, to) in enumerate(zip(rows, to_levels, strict=True)):
        from_level = EMERGENCY if t.get("emergency_at") else t["level"]
        urgency = t["urgency"]
        if to >= 3 and urgency is None:
            urgency = effective_urgency(cfg, t["customer"], None, t["proposed_urgency"])
        stored = min(to, 4)
        new = dict(t) | {"level": stored, "urgency": urgency, "escalated_at": now, "updated_at": now}
        extra = payloads[i] if payloads else {}
        new["_from"] = from_level
        new["_clock"] = clock_contexts[i] if clock_contexts else None
        new["_to"] = to
        new["_payload"] = extra | {
            "from_level": from_level,
            "to_level": to,
            "urgency": urgency,
            "urgency_set": urgency != t["urgency"],
            "contact": contact_context(cfg, to),
        }
        updated.append(new)
        waiting = t["state"] == "waiting_customer"
        effects = escalation_clocks(
            from_level, to, waiting=waiting, recovered=t.get("recovered_at") is not None
        )
        stop = tuple(n for n, e in effects.items() if e == "stop")
        stops.setdefault(stop, []).append(t["id"])
        for name, effect in effects.items():
            if effect not in ("start", "start_paused"):
                continue
            starts.append(
                {
                    "ticket_id": t["id"],
                    "customer": t["customer"],
                    "name": name,
                    "cycle": t.get("reopen_count") or 0,
                    "urgency": effective_urgency(cfg, t["customer"], urgency, t["proposed_urgency"]),
                    "at": now,
                    "paused": effect == "start_paused",
                }
            )
    for names, ids in stops.items():
        if names:
            book.finish(cfg, ids, names, now, met=False)
    book.start(cfg, starts)
    book.flush(conn)
    written = [
        {
            "id": u["id"],
            "level": u["level"],
            "urgency": u["urgency"],
            "escalated_at": now,
            "updated_at": now,
            **book.keys(u["id"]),
        }
        for u in updated
    ]
    for u, w in zip(updated, written, strict=True):
        u["next_due_at"] = w["next_due_at"]
    events = [
        event_row(u["id"], "escalated", actor, now, public=True, body=reason, payload=u["_payload"])
        for u in updated
    ]
    # The tickets, then their events (one statement for one ticket); the reason's words go with
    # the tickets' UPDATE: the events' trigger then has nothing to add.
    ids = update_then_insert(
        conn,
        tickets,
        written,
        ticket_events,
        events,
        pg_also=pg_add_words(reason) if reason else None,
        returning="id",
    )
    for ev, event_id in zip(events, ids, strict=True):
        ev["id"] = event_id
    due = book.first_due([u["id"] for u in updated])
    emails = []
    for u, ev in zip(updated, events, strict=True):
        ticket = {k: v for k, v in u.items() if not k.startswith("_")} | {"level": u["_to"]}
        mail = compose(
            cfg,
            kind="ticket_escalated",
            ticket=ticket,
            event=ev,
            now=now,
            extra={
                "previous_level": u["_from"],
                "next_due": due_text(cfg, due.get(u["id"])),
            },
        )
        emails += [mail, *address(cfg, mail, ticket)]
    if watchers is None:
        watchers = Watchers.load(conn, [u["id"] for u in updated])
    enqueue_with_watchers(conn, cfg, emails, watchers=watchers)
    emergencies = [
        (
            u,
            u.get("_clock") or {"name": None, "label": "Escalation to Emergency"},
            reason or "escalated to Emergency",
            u["_from"],
        )
        for u, ev in zip(updated, events, strict=True)
        if u["_to"] == EMERGENCY
    ]
    if emergencies:
        emergency_events(conn, cfg, emergencies, actor=actor, now=now, reached=True, watchers=watchers)
    # emergency_events set emergency_at on the escalated tickets' dicts it was given
    return Escalated(events, [{k: v for k, v in u.items() if not k.startswith("_")} for u in updated])

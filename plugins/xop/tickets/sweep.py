"""The SLA sweep: warnings, breaches and automatic escalation, set-based.

One sweep claims the due tickets through the ``next_due_at`` index (``include/sql/``), reads
their due clocks in one query, decides in numpy which warning thresholds and due dates have
passed, and writes the outcome with a handful of set-based statements per batch: clock
updates, events, escalations (:func:`xop.tickets.escalation.escalate_tickets`) and outbox rows,
the copies for the staff watching the tickets included (their watchers read in one query per
batch: :class:`xop.tickets.watching.Watchers`).

Idempotent: a threshold is warned once (``warned_fraction``), a breach is handled once
(``breached_at``), and outbox rows are unique per (kind, ticket, event, recipient). On
PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets two sweeps run at once without taking the same
ticket; on SQLite the write lock serialises them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from xop.core.config import XopConfig
from xop.core.paths import REPO_ROOT
from xop.core.vocabulary import CLOCK_LABELS
from xop.db.bulk import in_ids
from xop.sla.policy import breach_action
from xop.sla.standing import reached, schedule
from xop.tickets import clocks
from xop.tickets.escalation import emergency_events, escalate_tickets, insert_events
from xop.tickets.model import EMERGENCY, Actor, decide, level_of
from xop.tickets.notices import address, compose, contact_context, enqueue_with_watchers, internal_recipients
from xop.tickets.records import event_row
from xop.tickets.tables import tickets
from xop.tickets.watching import Watchers

SQL_DIR = REPO_ROOT / "include" / "sql"
ACTOR = Actor.system("xop-sla-sweep")
#: Which clock's breach escalates to which level (when its policy action is ``escalate``).
ESCALATES_TO = {"l2_response": 3, "l3_recovery": 4, "l4_resolution": EMERGENCY}
#: Tickets claimed and handled per transaction.
BATCH_SIZE = 5000


@cache
def _sql(name: str) -> str:
    return (Path(SQL_DIR) / name).read_text()


@dataclass
class SweepStats:
    tickets: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    emergencies: int = 0
    retargeted: int = 0
    emails: int = 0
    seconds: float = 0.0
    escalated: list[str] = field(default_factory=list)


def sweep(engine: Engine, cfg: XopConfig, *, now: datetime, batch_size: int = BATCH_SIZE) -> SweepStats:
    """Act on every ticket due at ``now``; returns what was done.

    First, clocks computed under another SLA policy (the config was edited) are retargeted,
    keeping their starts and pauses, with an ``sla_retargeted`` event per ticket; then the due
    tickets are claimed and their warnings and breaches handled.
    """
    started = time.perf_counter()
    stats = SweepStats()
    while True:
        with engine.begin() as conn:
            n = _retarget_stale(conn, cfg, now, batch_size)
        stats.retargeted += n
        if n < batch_size:
            break
    seen: set[int] = set()
    while True:
        with engine.begin() as conn:
            due = _claim(conn, now, batch_size)
            fresh = [t for t in due if t["id"] not in seen]
            if not fresh:
                break
            seen.update(t["id"] for t in fresh)
            _process(conn, cfg, fresh, now, stats)
        if len(due) < batch_size:
            break
    stats.seconds = time.perf_counter() - started
    return stats


def _retarget_stale(conn: Connection, cfg: XopConfig, now: datetime, limit: int) -> int:
    """Retarget one batch of tickets whose running clocks carry an old policy fingerprint."""
    stale = clocks.stale_policy_tickets(conn, cfg, limit)
    if not stale:
        return 0
    if conn.dialect.name == "postgresql":  # hold them like a claim: no operation interleaves
        conn.execute(select(tickets.c.id).where(in_ids(tickets.c.id, stale, conn)).with_for_update())
    book = clocks.ClockBook.load(conn, list(stale))
    rows = book.retarget(cfg, stale)
    book.flush(conn)
    by_ticket: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_ticket.setdefault(r["ticket_id"], []).append(r)
    events = [
        event_row(
            tid,
            "sla_retargeted",
            ACTOR,
            now,
            public=False,
            body="The SLA policy changed: running clocks were recomputed (start and pauses kept).",
            payload={
                "policy_version": cfg.fingerprint,
                "clocks": [
                    {
                        "clock": r["name"],
                        "from_due_at": r["old_due_at"].isoformat() if r["old_due_at"] else None,
                        "to_due_at": r["due_at"].isoformat(),
                        "target_seconds": r["target_seconds"],
                    }
                    for r in rs
                ],
            },
        )
        for tid, rs in by_ticket.items()
    ]
    insert_events(conn, events)
    book.write_keys(conn, stale)
    return len(stale)


def _claim(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    sql = _sql("sla_due_tickets.sql")
    if conn.dialect.name == "postgresql":
        sql += "\nFOR UPDATE SKIP LOCKED"
    q = text(sql).bindparams(now=now, limit=limit).columns(**_ticket_types())
    return [dict(r._mapping) for r in conn.execute(q)]


@cache
def _ticket_types() -> dict[str, Any]:
    return {c: tickets.c[c].type for c in ("opened_at", "recovered_at", "emergency_at")}


def _due_clocks(book: clocks.ClockBook, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The running clocks of the claimed tickets whose next check (warning or due) has come."""
    return [
        r
        for r in book.running(sorted(ids))
        if r["breached_at"] is None and r["next_check_at"] is not None and r["next_check_at"] <= now
    ]


def _breach_action(cfg: XopConfig, r: dict[str, Any], t: dict[str, Any]) -> tuple[str, int | None]:
    """What a breach does: escalate to a level (the table must allow it) or notify."""
    action = breach_action(cfg, r["customer"], r["name"])
    to = ESCALATES_TO.get(r["name"]) if action == "escalate" else None
    if to is None or level_of(t) >= to or not decide("escalate", t, ACTOR, to_level=to):
        return "notify", None
    return "escalate", to


def _process(
    conn: Connection, cfg: XopConfig, due: list[dict[str, Any]], now: datetime, stats: SweepStats
) -> None:
    by_id = {t["id"]: t for t in due}
    # Every clock of the claimed tickets, read once: the breach marks, the escalation's stops
    # and starts and the tickets' next due times all work on these rows, written once each.
    book = clocks.ClockBook.load(conn, {tid: t["customer"] for tid, t in by_id.items()})
    rows = _due_clocks(book, list(by_id), now)
    stats.tickets += len(due)
    if not rows:  # claimed by an out-of-date next_due_at
        book.write_keys(conn, by_id)
        return
    breached, top_reached = reached(cfg, rows, now)
    warn_rows = []
    for r, b, f in zip(rows, breached, top_reached, strict=True):
        if not b and f > r["warned_fraction"]:
            r["fraction"] = float(f)
            warn_rows.append(r)
    breach_rows = [r for r, b in zip(rows, breached, strict=True) if b]
    # Every email below is about one of these tickets: their watchers, read once for the batch.
    watchers = Watchers.load(conn, {r["ticket_id"] for r in warn_rows + breach_rows})

    # Clock state first. Claimed tickets are locked (PostgreSQL FOR UPDATE) or the whole
    # database is (SQLite): no other sweep or ticket operation touches these clocks meanwhile.
    # A late sweep warns once, for the highest threshold reached; the lower ones count as passed.
    for r in warn_rows:
        warn_at = cfg.sla_for(r["customer"]).warn_at
        r["passed"] = [f for f in warn_at if r["warned_fraction"] < f < r["fraction"]]
        r["warned_fraction"] = r["fraction"]
    schedule(cfg, warn_rows)
    top = {r["customer"]: max(cfg.sla_for(r["customer"]).warn_at, default=0.0) for r in breach_rows}
    for r in breach_rows:
        r.update(breached_at=now, next_check_at=None, warned_fraction=top[r["customer"]])
    book.changed(warn_rows + breach_rows)

    # History: one internal event per warning and per breach, inserted in one statement.
    events = []
    for r in warn_rows:
        payload = {
            "clock": r["name"],
            "fraction": r["fraction"],
            "passed": r["passed"],
            "due_at": r["due_at"],
        }
        events.append(event_row(r["ticket_id"], "sla_warning", ACTOR, now, public=False, payload=payload))
    for r in breach_rows:
        t = by_id[r["ticket_id"]]
        r["action"], r["to_level"] = _breach_action(cfg, r, t)
        r["from_level"] = level_of(t)
        payload = {"clock": r["name"], "action": r["action"], "due_at": r["due_at"]}
        events.append(event_row(r["ticket_id"], "sla_breached", ACTOR, now, public=False, payload=payload))
    insert_events(conn, events)
    stats.warnings += len(warn_rows)
    stats.breaches += len(breach_rows)

    # Escalations through the one escalation implementation (a ticket escalates once per sweep).
    esc = list({r["ticket_id"]: r for r in breach_rows if r["to_level"]}.values())
    if esc:
        tickets_ = [by_id[r["ticket_id"]] for r in esc]
        done = escalate_tickets(
            conn,
            cfg,
            tickets_,
            [r["to_level"] for r in esc],
            actor=ACTOR,
            now=now,
            reason="Automatic escalation: the SLA target of the previous level was missed.",
            payloads=[
                {"breached_clock": r["name"], "reason": f"{CLOCK_LABELS[r['name']]} target missed"}
                for r in esc
            ],
            clock_contexts=[_clock_ctx(r, 1.0) for r in esc],
            book=book,
            watchers=watchers,
        )
        for t, written in zip(tickets_, done.tickets, strict=True):  # breach notices show them
            t.update(level=written["level"], emergency_at=written.get("emergency_at"))
        stats.emergencies += sum(r["to_level"] == EMERGENCY for r in esc)
        stats.escalations += len(done.events)
        stats.escalated.extend(t["number"] for t in tickets_)

    # Emergencies of notify breaches: only on a ticket classified critical (anything else tells
    # the owning level, never management), once per ticket.
    critical = [
        (
            by_id[r["ticket_id"]],
            _clock_ctx(r, 1.0),
            f"{CLOCK_LABELS[r['name']]} target missed",
            r["from_level"],
        )
        for r in breach_rows
        if r["action"] == "notify" and by_id[r["ticket_id"]]["urgency"] == "critical"
    ]
    called = emergency_events(conn, cfg, critical, actor=ACTOR, now=now, reached=False, watchers=watchers)
    emergency_ids = {ev["ticket_id"] for ev in called}
    stats.emergencies += len(called)

    # Emails, after the escalations so breach notices show the new level: warnings and notify
    # breaches to the owning level (an emergency's email went with its event); automatic
    # escalations in one digest. Queued in one statement with the watchers' copies. The digest
    # lists the batch's tickets: it is not a ticket's email and no watcher gets it (the watcher
    # of an escalated ticket got its escalation email, with the breach as the reason).
    emails = []
    digest = []
    for r, ev in zip(warn_rows + breach_rows, events, strict=True):
        t = by_id[r["ticket_id"]]
        if ev["kind"] == "sla_breached" and r["action"] == "escalate":
            digest.append((r, ev, t))
            continue
        if ev["kind"] == "sla_breached" and t["id"] in emergency_ids:
            continue
        clock_ctx = _clock_ctx(r, ev["payload"].get("fraction", 1.0))
        kind = "sla_warning" if ev["kind"] == "sla_warning" else "sla_breach"
        owner = contact_context(cfg, level_of(t))
        extra: dict[str, Any] = {"clock": clock_ctx, "contact": owner}
        if kind == "sla_breach":
            extra["action"] = r["action"]
        # The ticket's owner first; below the last warning threshold the owner alone (i16).
        last = max(cfg.sla_for(t["customer"]).warn_at, default=1.0)
        alone = kind == "sla_warning" and clock_ctx["fraction"] < last
        to = internal_recipients(cfg, t, level=level_of(t), owner_only=alone)
        mail = compose(cfg, kind=kind, ticket=t, event=ev, now=now, extra=extra)
        emails += [mail, *address(cfg, mail, t, to)]
    if digest:
        emails += _escalation_digest(cfg, digest, now)
    stats.emails += enqueue_with_watchers(conn, cfg, emails, watchers=watchers)
    book.flush(conn)  # the warnings and breaches of tickets that did not escalate
    escalated = {r["ticket_id"] for r in esc}  # their keys went with the escalation's UPDATE
    book.write_keys(conn, [tid for tid in by_id if tid not in escalated])


def _clock_ctx(r: dict[str, Any], fraction: float) -> dict[str, Any]:
    return {
        "name": r["name"],
        "label": CLOCK_LABELS[r["name"]],
        "due_at": r["due_at"],
        "fraction": fraction,
        "started_at": r["started_at"],
    }


def _escalation_digest(cfg: XopConfig, digest: list[tuple[dict, dict, dict]], now: datetime) -> list[dict]:
    """One internal email per batch listing the automatic escalations (not one per ticket:
    a mass breach would flood the support mailbox; each customer got their own email)."""
    rows = [
        {
            "number": t["number"],
            "subject": t["subject"],
            "customer": t["customer"],
            "urgency": t["urgency"],
            "from_level": r["from_level"],
            "to_level": r["to_level"],
            "clock_label": CLOCK_LABELS[r["name"]],
            "due_at": r["due_at"],
        }
        for r, _, t in digest
    ]
    first_event = min(ev["id"] for _, ev, _ in digest)
    recipients = dict.fromkeys(contact_context(cfg, level_of(t))["email"] for _, _, t in digest)
    context = {"escalations": rows, "contact": contact_context(cfg, level_of(digest[0][2])), "at": now}
    return [
        {
            "kind": "sla_escalations",
            "context": context,
            "recipient": rcpt,
            "audience": "internal",
            "dedup_key": f"sla_escalations:e{first_event}:{rcpt}",
            "now": now,
            "event_id": first_event,
            "sender": cfg.support.sender,
        }
        for rcpt in recipients
    ]

"""The SLA sweep: warnings, breaches and automatic escalation, set-based.

One sweep claims the due tickets through the ``next_due_at`` index (``include/sql/``), reads
their due clocks in one query, decides in numpy which warning thresholds and due dates have
passed, and writes the outcome with a handful of set-based statements per batch: clock
updates, events, escalations (:func:`xop.tickets.escalation.escalate_tickets`) and outbox rows.

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

import numpy as np
from sqlalchemy import Connection, Engine, select, text

from xop.core.config import XopConfig
from xop.core.paths import REPO_ROOT
from xop.db.bulk import in_ids, insert_rows, update_rows
from xop.sla.policy import breach_action, calendar
from xop.tickets import clocks
from xop.tickets.escalation import escalate_tickets
from xop.tickets.tables import ticket_clocks, ticket_events

SQL_DIR = REPO_ROOT / "include" / "sql"
ACTOR = "xop-sla-sweep"
#: Which clock's breach escalates to which level (when its policy action is ``escalate``).
ESCALATES_TO = {"l2_response": 3, "l3_recovery": 4}


@cache
def _sql(name: str) -> str:
    return (Path(SQL_DIR) / name).read_text()


@dataclass
class SweepStats:
    tickets: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    emails: int = 0
    seconds: float = 0.0
    escalated: list[str] = field(default_factory=list)


def sweep(engine: Engine, cfg: XopConfig, *, now: datetime, batch_size: int = 5000) -> SweepStats:
    """Act on every ticket due at ``now``; returns what was done."""
    started = time.perf_counter()
    stats = SweepStats()
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


def _claim(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    sql = _sql("sla_due_tickets.sql")
    if conn.dialect.name == "postgresql":
        sql += "\nFOR UPDATE SKIP LOCKED"
    q = text(sql).bindparams(now=now, limit=limit).columns(**_ticket_types())
    return [dict(r._mapping) for r in conn.execute(q)]


@cache
def _ticket_types() -> dict[str, Any]:
    from xop.tickets.tables import tickets

    return {c: tickets.c[c].type for c in ("opened_at", "recovered_at")}


def _due_clocks(conn: Connection, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The running clocks of the claimed tickets whose next check (warning or due) has come."""
    c = ticket_clocks.c
    q = (
        select(c.id, c.ticket_id, c.name, c.cycle, c.calendar, c.started_at, c.target_seconds)
        .add_columns(c.paused_seconds, c.paused_at, c.due_at, c.warned_fraction, c.breached_at)
        .where(in_ids(c.ticket_id, ids, conn), c.next_check_at <= now)
        .where(c.met_at.is_(None), c.stopped_at.is_(None), c.breached_at.is_(None))
        .order_by(c.ticket_id, c.id)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def _reached(cfg: XopConfig, rows: list[dict[str, Any]], now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Per clock: breached (bool) and the highest warning fraction reached (0 if none)."""
    breached = np.array([r["due_at"] <= now for r in rows], dtype=bool)
    reached = np.zeros(len(rows))
    now_ns = clocks._ns([now])[0]
    groups: dict[tuple[str, tuple[float, ...]], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["calendar"], cfg.sla_for(r["customer"]).warn_at), []).append(i)
    for (cal_name, warn_at), idx in groups.items():
        part = [rows[i] for i in idx]
        starts = clocks._ns(r["started_at"] for r in part).view("datetime64[ns]")
        target = np.array([r["target_seconds"] for r in part], dtype=np.int64) * 10**9
        paused = np.array([r["paused_seconds"] for r in part], dtype=np.int64) * 10**9
        cal = calendar(cfg, cal_name)
        best = np.zeros(len(part))
        for f in sorted(warn_at):
            at = cal.add_many(
                starts, (np.round(target * f).astype(np.int64) + paused).view("timedelta64[ns]")
            )
            best = np.where(at.view(np.int64) <= now_ns, f, best)
        reached[idx] = best
    return breached, reached


def _process(
    conn: Connection, cfg: XopConfig, due: list[dict[str, Any]], now: datetime, stats: SweepStats
) -> None:
    from xop.notify.outbox import enqueue_many
    from xop.tickets.notices import CLOCK_LABELS, contact_context, emails_for

    by_id = {t["id"]: t for t in due}
    rows = _due_clocks(conn, list(by_id), now)
    for r in rows:
        r["customer"] = by_id[r["ticket_id"]]["customer"]
    stats.tickets += len(due)
    if rows:
        breached, reached = _reached(cfg, rows, now)
        warn_rows = [
            r | {"fraction": f}
            for r, b, f in zip(rows, breached, reached, strict=True)
            if not b and f > r["warned_fraction"]
        ]
        breach_rows = [r for r, b in zip(rows, breached, strict=True) if b]

        # Clock state first. Claimed tickets are locked (PostgreSQL FOR UPDATE) or the whole
        # database is (SQLite): no other sweep or ticket operation touches these clocks meanwhile.
        for r in warn_rows:
            r["warned_fraction"] = r["fraction"]
        clocks.schedule(cfg, warn_rows)
        update_rows(
            conn,
            ticket_clocks,
            [
                {"id": r["id"], "warned_fraction": r["fraction"], "next_check_at": r["next_check_at"]}
                for r in warn_rows
            ],
        )
        top = {r["customer"]: max(cfg.sla_for(r["customer"]).warn_at, default=0.0) for r in breach_rows}
        update_rows(
            conn,
            ticket_clocks,
            [
                {
                    "id": r["id"],
                    "breached_at": now,
                    "next_check_at": None,
                    "warned_fraction": top[r["customer"]],
                }
                for r in breach_rows
            ],
        )

        # History: one internal event per warning and per breach, inserted in one statement.
        events = []
        for r in warn_rows + breach_rows:
            r["owner"] = contact_context(cfg, by_id[r["ticket_id"]]["level"])["email"]
        for r in warn_rows:
            events.append(
                _event(
                    r,
                    "sla_warning",
                    {"clock": r["name"], "fraction": r["fraction"], "due_at": r["due_at"]},
                    now,
                )
            )
        for r in breach_rows:
            action = breach_action(cfg, r["customer"], r["name"])
            to = ESCALATES_TO.get(r["name"]) if action == "escalate" else None
            if to is not None and by_id[r["ticket_id"]]["level"] >= to:
                to, action = None, "notify"
            r["action"], r["to_level"] = action, to
            events.append(
                _event(r, "sla_breached", {"clock": r["name"], "action": action, "due_at": r["due_at"]}, now)
            )
        for ev, eid in zip(events, insert_rows(conn, ticket_events, events, returning="id"), strict=True):
            ev["id"] = eid
        stats.warnings += len(warn_rows)
        stats.breaches += len(breach_rows)

        # Escalations, grouped by target level, through the one escalation implementation.
        esc = [r for r in breach_rows if r["to_level"]]
        if esc:
            tickets_ = [by_id[r["ticket_id"]] for r in esc]
            events_ = escalate_tickets(
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
            )
            for r, t in zip(esc, tickets_, strict=True):
                t["level"] = r["to_level"]
            stats.escalations += len(events_)
            stats.escalated.extend(t["number"] for t in tickets_)
        # Emails, after the escalations so breach notices show the new level: warnings to the
        # owning level; breaches to it, plus the emergency contact when the action is notify
        # (the end of the chain, or a policy that does not escalate). Queued in one statement.
        emergency = cfg.escalation.emergency
        emails = []
        digest = []
        for r, ev in zip(warn_rows + breach_rows, events, strict=True):
            t = by_id[r["ticket_id"]]
            if ev["kind"] == "sla_breached" and r["action"] == "escalate":
                digest.append((r, ev, t))
                continue
            clock_ctx = {
                "name": r["name"],
                "label": CLOCK_LABELS[r["name"]],
                "due_at": r["due_at"],
                "fraction": ev["payload"].get("fraction", 1.0),
                "started_at": r["started_at"],
            }
            if ev["kind"] == "sla_warning":
                kind = "sla_warning"
            else:
                kind = "emergency" if r["action"] == "notify" else "sla_breach"
            to = [r["owner"], emergency.email] if kind == "emergency" else [r["owner"]]
            extra: dict[str, Any] = {"clock": clock_ctx}
            if kind != "sla_warning":
                extra["action"] = r["action"]
            if kind == "emergency":
                extra |= {"contact": emergency.model_dump(), "owner": contact_context(cfg, t["level"])}
            emails += emails_for(cfg, kind=kind, ticket=t, event=ev, now=now, recipients=to, extra=extra)
        if digest:
            emails += _escalation_digest(cfg, digest, now)
        stats.emails += enqueue_many(conn, emails)
    clocks.refresh_next_due(conn, list(by_id))


def _escalation_digest(cfg: XopConfig, digest: list[tuple[dict, dict, dict]], now: datetime) -> list[dict]:
    """One internal email per batch listing the automatic escalations (not one per ticket:
    a mass breach would flood the support mailbox; each customer got their own email)."""
    from xop.tickets.notices import CLOCK_LABELS, contact_context

    rows = [
        {
            "number": t["number"],
            "subject": t["subject"],
            "customer": t["customer"],
            "urgency": t["urgency"],
            "from_level": r["to_level"] - 1 if r["to_level"] else t["level"],
            "to_level": t["level"],
            "clock_label": CLOCK_LABELS[r["name"]],
            "due_at": r["due_at"],
        }
        for r, _, t in digest
    ]
    first_event = min(ev["id"] for _, ev, _ in digest)
    recipients = dict.fromkeys(contact_context(cfg, t["level"])["email"] for _, _, t in digest)
    context = {"escalations": rows, "contact": contact_context(cfg, digest[0][2]["level"]), "at": now}
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


def _event(r: dict[str, Any], kind: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()}
    return {
        "ticket_id": r["ticket_id"],
        "at": now,
        "actor": ACTOR,
        "kind": kind,
        "public": False,
        "body": "",
        "payload": payload,
    }

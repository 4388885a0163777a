"""The emergency calls in the database: find new emergencies, claim before ringing, record outcomes.

Each function runs in the caller's transaction. The caller (:mod:`xop.emergency.run`) commits a
claim before it dials, and records each attempt in a transaction of its own right after the
attempt ends, so whatever happens to the process the database never says less than what rang.

Every write that a person should see is also a ticket event (internal):

* ``emergency_call_attempt``: one per attempt, payload = the attempt (answered, answered_at,
  duration_s, sip_code, reason, rtp_sent, error);
* ``emergency_call``: the final outcome (status, reason, attempts, and the answered attempt's
  figures), written with the follow-up email in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from xop.db.bulk import insert_rows
from xop.emergency.tables import emergency_calls
from xop.tickets.tables import ticket_events, tickets

ACTOR = "xop-emergency-call"
EVENT_KIND = "emergency"
ATTEMPT_KIND = "emergency_call_attempt"
OUTCOME_KIND = "emergency_call"

_c = emergency_calls.c
_e = ticket_events.c
_t = tickets.c

_TICKET_COLUMNS = (
    "id",
    "number",
    "customer",
    "system",
    "subject",
    "description",
    "urgency",
    "level",
    "state",
    "reporter_name",
    "reporter_email",
    "opened_at",
    "source",
    "emergency_at",
)


def new_emergencies(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """``emergency`` events that have no ``emergency_calls`` row yet, oldest first, with their ticket."""
    q = (
        select(
            _e.id.label("event_id"),
            _e.at.label("event_at"),
            _e.payload.label("payload"),
            *[_t[name].label(f"t_{name}") for name in _TICKET_COLUMNS],
        )
        .select_from(
            ticket_events.join(tickets, tickets.c.id == _e.ticket_id).outerjoin(
                emergency_calls, and_(_c.event_id == _e.id, _c.ticket_id == _e.ticket_id)
            )
        )
        .where(_e.kind == EVENT_KIND, _c.id.is_(None))
        .order_by(_e.id)
        .limit(limit)
    )
    out = []
    for row in conn.execute(q):
        data = dict(row._mapping)
        ticket = {name: data.pop(f"t_{name}") for name in _TICKET_COLUMNS}
        out.append(data | {"ticket": ticket})
    return out


def claim_new(
    conn: Connection,
    emergency: dict[str, Any],
    *,
    status: str,
    number: str,
    trunk: str,
    now: datetime,
    reason: str = "",
    audio: dict[str, Any] | None = None,
) -> int | None:
    """Insert the row of one emergency; None when another run already has it (nothing rings then)."""
    values = {
        "ticket_id": emergency["ticket"]["id"],
        "event_id": emergency["event_id"],
        "status": status,
        "reason": reason,
        "number": number,
        "trunk": trunk,
        "claimed_at": now,
        "attempt_count": 0,
        "attempts": [],
        "audio": audio or {},
    }
    if status == "waiting":
        values["next_attempt_at"] = now
    else:
        values["finished_at"] = now
    inserted = insert_rows(conn, emergency_calls, [values], returning="id", skip_conflicts=True)
    return inserted[0] if inserted else None


def claim_due(conn: Connection, *, now: datetime, limit: int = 100) -> list[int]:
    """Claim the calls whose next attempt is due: ``waiting`` → ``calling``, conditionally.

    The update names the status it expects, so two runs cannot both claim one retry.
    """
    due = conn.execute(
        select(_c.id)
        .where(_c.status == "waiting", _c.next_attempt_at <= now)
        .order_by(_c.next_attempt_at, _c.id)
        .limit(limit)
    ).scalars()
    claimed = []
    for call_id in due:
        result = conn.execute(
            update(emergency_calls)
            .where(_c.id == call_id, _c.status == "waiting")
            .values(status="calling", claimed_at=now, next_attempt_at=None)
        )
        if result.rowcount == 1:
            claimed.append(call_id)
    return claimed


def call_row(conn: Connection, call_id: int) -> dict[str, Any]:
    row = conn.execute(select(emergency_calls).where(_c.id == call_id)).one()
    return dict(row._mapping)


def ticket_of(conn: Connection, ticket_id: int) -> dict[str, Any]:
    row = conn.execute(select(*[_t[name] for name in _TICKET_COLUMNS]).where(_t.id == ticket_id)).one()
    return dict(row._mapping)


def event_of(conn: Connection, event_id: int) -> dict[str, Any]:
    row = conn.execute(select(_e.id, _e.at, _e.payload).where(_e.id == event_id)).one()
    return dict(row._mapping)


def add_event(
    conn: Connection, ticket_id: int, kind: str, payload: dict[str, Any], *, now: datetime, body: str = ""
) -> int:
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()}
    return insert_rows(
        conn,
        ticket_events,
        [
            {
                "ticket_id": ticket_id,
                "at": now,
                "actor": ACTOR,
                "kind": kind,
                "public": False,
                "body": body,
                "payload": payload,
            }
        ],
        returning="id",
    )[0]


def set_audio(conn: Connection, call_id: int, audio: dict[str, Any]) -> None:
    """How the announcement was made (method, codec, seconds, text), kept with the call."""
    conn.execute(update(emergency_calls).where(_c.id == call_id).values(audio=audio))


def record_attempt(
    conn: Connection,
    call: dict[str, Any],
    attempt: dict[str, Any],
    *,
    now: datetime,
    retry_at: datetime | None,
) -> dict[str, Any]:
    """Append ``attempt`` to the call, write its ticket event; ``retry_at`` schedules the next one."""
    attempts = [*call["attempts"], _json(attempt)]
    values: dict[str, Any] = {
        "attempts": attempts,
        "attempt_count": len(attempts),
        "final_sip_code": attempt.get("sip_code"),
        "rtp_sent": attempt.get("rtp_sent"),
    }
    if retry_at is not None:
        values |= {"status": "waiting", "next_attempt_at": retry_at}
    conn.execute(update(emergency_calls).where(_c.id == call["id"]).values(**values))
    add_event(conn, call["ticket_id"], ATTEMPT_KIND, _json(attempt) | {"call_id": call["id"]}, now=now)
    return call | values


def finish(
    conn: Connection,
    call: dict[str, Any],
    *,
    status: str,
    reason: str,
    now: datetime,
    answered: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the final status; write the ``emergency_call`` event. Returns the updated row."""
    values: dict[str, Any] = {"status": status, "reason": reason, "finished_at": now, "next_attempt_at": None}
    if answered is not None:
        values |= {
            "answered_at": _parse(answered.get("answered_at")),
            "duration_s": answered.get("duration_s"),
            "final_sip_code": answered.get("sip_code"),
            "rtp_sent": answered.get("rtp_sent"),
        }
    conn.execute(update(emergency_calls).where(_c.id == call["id"]).values(**values))
    row = call | values
    payload = {
        "call_id": call["id"],
        "emergency_event_id": call["event_id"],
        "status": status,
        "reason": reason,
        "number": call["number"],
        "trunk": call["trunk"],
        "attempts": row["attempt_count"],
        "answered_at": row.get("answered_at"),
        "duration_s": row.get("duration_s"),
        "final_sip_code": row.get("final_sip_code"),
        "rtp_sent": row.get("rtp_sent"),
    }
    row["outcome_event_id"] = add_event(conn, call["ticket_id"], OUTCOME_KIND, payload, now=now, body=reason)
    return row


def next_due(conn: Connection) -> datetime | None:
    """When the earliest waiting call is due (None when none waits)."""
    return conn.execute(select(func.min(_c.next_attempt_at)).where(_c.status == "waiting")).scalar()


def release(conn: Connection, call_id: int) -> None:
    """Give a claimed call back unattempted (``calling`` → ``waiting``, due now)."""
    conn.execute(
        update(emergency_calls)
        .where(_c.id == call_id, _c.status == "calling")
        .values(status="waiting", next_attempt_at=_c.claimed_at)
    )


def stale_calls(conn: Connection, *, now: datetime, older_than: timedelta) -> list[dict[str, Any]]:
    """Calls left ``calling`` by a dead process (claimed longer ago than any attempt lasts)."""
    q = select(emergency_calls).where(_c.status == "calling", _c.claimed_at < now - older_than)
    return [dict(r._mapping) for r in conn.execute(q)]


def calls_for(conn: Connection, ticket_id: int) -> list[dict[str, Any]]:
    q = select(emergency_calls).where(_c.ticket_id == ticket_id).order_by(_c.id)
    return [dict(r._mapping) for r in conn.execute(q)]


def _json(attempt: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in attempt.items()}


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


__all__ = [
    "ACTOR",
    "ATTEMPT_KIND",
    "EVENT_KIND",
    "OUTCOME_KIND",
    "add_event",
    "call_row",
    "calls_for",
    "claim_due",
    "claim_new",
    "event_of",
    "finish",
    "new_emergencies",
    "next_due",
    "record_attempt",
    "release",
    "set_audio",
    "stale_calls",
    "ticket_of",
]

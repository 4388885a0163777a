"""Rows of the ticket store as the service uses them: the :class:`Ticket` record, loading one
under a lock, appending an event, updating fields, numbering new tickets."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from xop.core.errors import InvalidInput, TicketNotFound
from xop.db.bulk import update_then_insert
from xop.tickets.model import Actor
from xop.tickets.search_doc import pg_add_words
from xop.tickets.tables import ticket_events, ticket_number_seq, tickets


@dataclass(frozen=True)
class Ticket:
    """A ticket as stored (one row of ``tickets``)."""

    id: int
    number: str
    customer: str
    system: str | None
    subject: str
    description: str
    reporter_name: str
    reporter_email: str
    source: str
    urgency: str | None
    proposed_urgency: str | None
    level: int
    state: str
    dedup_key: str | None
    opened_at: datetime
    updated_at: datetime
    escalated_at: datetime | None
    recovered_at: datetime | None
    rca_sent_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    next_due_at: datetime | None
    emergency_at: datetime | None = None
    owner: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls) if f.name in m})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ticket:
        """The ticket as an action left it (:func:`set_fields`' dict): no second read."""
        return cls(**{f.name: d[f.name] for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def format_number(n: int) -> str:
    return f"XOP-{n:06d}"


def checked_number(number: Any) -> str:
    """``number`` as stored (``XOP-000123``); anything but a non-blank string is refused."""
    if not isinstance(number, str) or not number.strip():
        raise InvalidInput("number", f"must be a ticket number like XOP-000123, got {number!r}")
    return number.strip().upper()


def load(conn: Connection, number: str, *, lock: bool = True) -> Ticket:
    """The ticket ``number`` (row-locked on PostgreSQL when ``lock``)."""
    q = select(tickets).where(tickets.c.number == checked_number(number))
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise TicketNotFound(f"no ticket {number!r}")
    return Ticket.from_row(row)


_INSERT_EVENT = insert(ticket_events).returning(ticket_events.c.id)  # built once: a hot path


def event_row(
    ticket_id: int, kind: str, actor: Actor, now: datetime, *, public: bool, body: str = "", payload: dict
) -> dict[str, Any]:
    """A ``ticket_events`` row (datetimes in the payload as ISO text, JSON-safe on both databases)."""
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()}
    return {
        "ticket_id": ticket_id,
        "at": now,
        "actor": actor.name,
        "actor_kind": actor.kind,
        "actor_level": actor.level,
        "kind": kind,
        "public": public,
        "body": body,
        "payload": payload,
    }


def add_event(
    conn: Connection,
    ticket_id: int,
    kind: str,
    *,
    actor: Actor,
    now: datetime,
    public: bool,
    body: str = "",
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append an event to the ticket's history; returns its row, ``id`` included."""
    row = event_row(ticket_id, kind, actor, now, public=public, body=body, payload=payload or {})
    row["id"] = conn.execute(_INSERT_EVENT, row).scalar_one()
    return row


def set_fields(
    conn: Connection,
    ticket: Ticket,
    now: datetime,
    *,
    keys: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    **values: Any,
) -> dict[str, Any]:
    """Update the ticket's columns (and ``updated_at``, and the order keys its clocks imply:
    :func:`xop.tickets.clocks.ticket_keys`); returns the ticket as a dict afterwards.

    ``event``: an :func:`event_row` of the ticket written with it (its ``id`` set here): on
    PostgreSQL one statement (:func:`update_then_insert`), the event's search words added by the
    ticket's UPDATE, so that the events' trigger does not write the ticket a second time."""
    keys = keys or {}
    columns = {"updated_at": now, **values, **keys}
    if event is not None:
        body = event["body"]
        (event["id"],) = update_then_insert(
            conn,
            tickets,
            [{"id": ticket.id, **columns}],
            ticket_events,
            [event],
            pg_also=pg_add_words(body) if body else None,
            returning="id",
        )
    else:
        conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**columns))
    shown = {"next_due_at": keys["next_due_at"]} if keys else {}
    return ticket.as_dict() | values | shown | {"updated_at": now}


def next_number(conn: Connection) -> str:
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(ticket_number_seq)
    stmt = ins.values(id=1, last_value=1).on_conflict_do_update(
        index_elements=["id"], set_={"last_value": ticket_number_seq.c.last_value + 1}
    )
    value = conn.execute(stmt.returning(ticket_number_seq.c.last_value)).scalar_one()
    return format_number(value)

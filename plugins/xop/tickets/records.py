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
from xop.db.bulk import update_rows
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
    row = {
        "ticket_id": ticket_id,
        "at": now,
        "actor": actor.name,
        "actor_kind": actor.kind,
        "actor_level": actor.level,
        "kind": kind,
        "public": public,
        "body": body,
        "payload": payload or {},
    }
    row["id"] = conn.execute(_INSERT_EVENT, row).scalar_one()
    return row


def set_fields(
    conn: Connection,
    ticket: Ticket,
    now: datetime,
    *,
    keys: dict[str, Any] | None = None,
    words: str = "",
    **values: Any,
) -> dict[str, Any]:
    """Update the ticket's columns (and ``updated_at``, and the order keys its clocks imply:
    :func:`xop.tickets.clocks.ticket_keys`); returns the ticket as a dict afterwards.

    ``words``: the body of the event the caller inserts next; on PostgreSQL its search words go
    with this UPDATE, so that the event's trigger does not write the ticket a second time."""
    keys = keys or {}
    columns = {"updated_at": now, **values, **keys}
    if words:  # the UPDATE of many rows, with its extra SET item (PostgreSQL), for this one row
        update_rows(conn, tickets, [{"id": ticket.id, **columns}], pg_also=pg_add_words(words))
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

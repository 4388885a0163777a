"""Small readers of the intake's results for the tests."""

from __future__ import annotations

import sqlalchemy as sa

from xop.intake.tables import inbound_messages, notification_bounces
from xop.notify.tables import notifications
from xop.tickets.tables import attachments, ticket_events, tickets


def rows(engine: sa.Engine, table: sa.Table, *where) -> list[dict]:
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(table).where(*where).order_by(table.c.id))]


def inbound(engine):
    return rows(engine, inbound_messages)


def all_tickets(engine):
    return rows(engine, tickets)


def events(engine, number: str | None = None):
    if number is None:
        return rows(engine, ticket_events)
    with engine.connect() as c:
        tid = c.execute(sa.select(tickets.c.id).where(tickets.c.number == number)).scalar_one()
    return rows(engine, ticket_events, ticket_events.c.ticket_id == tid)


def outbox(engine):
    return rows(engine, notifications)


def files(engine):
    return rows(engine, attachments)


def bounces(engine):
    return rows(engine, notification_bounces)

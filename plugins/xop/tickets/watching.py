"""Watchers: XOP staff following a ticket get its updates by email (i16).

A watcher is a staff user with their own address under ``staff.emails`` in the config; every
email the ticket sends its customer (updates, escalation, recovery, RCA, resolution, closing
report) is copied to each watcher as an internal email through the same templates
(:func:`xop.tickets.notices.watcher_copies`, queued with the original in its transaction).
Customers and monitoring never watch, and no address outside ``staff.emails`` ever becomes a
watcher: the copies go to XOP's people only. Watching moves no state and no clock and writes no
history (it is a person's subscription, not something that happened to the ticket).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select

from xop.core.errors import InvalidTransition
from xop.tickets import validation
from xop.tickets.model import Actor
from xop.tickets.tables import ticket_watchers

if TYPE_CHECKING:
    from xop.tickets.records import Ticket


def watchers_of(conn: Connection, ticket_id: int) -> list[str]:
    """The user names watching the ticket, the earliest first."""
    q = (
        select(ticket_watchers.c.watcher)
        .where(ticket_watchers.c.ticket_id == ticket_id)
        .order_by(ticket_watchers.c.since, ticket_watchers.c.watcher)
    )
    return list(conn.execute(q).scalars())


class WatchActions:
    """watch, unwatch: a mixin of :class:`xop.tickets.service.TicketService`."""

    def watch(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """The acting staff user follows the ticket: its customer emails are copied to them."""
        now, who = validation.check_now(now), self._actor(actor)
        if who.kind != "staff":
            raise InvalidTransition(f"{number}: XOP staff watch tickets; a {who.kind} cannot")
        address = self.cfg.staff.email_of(who.name)
        if address is None:
            raise InvalidTransition(
                f"{number}: {who.name!r} has no email address to send the ticket's updates to:"
                f" add it under staff.emails in the configuration"
            )
        with self._tx() as conn:
            t = self._load(conn, number)
            if who.name in watchers_of(conn, t.id):
                raise InvalidTransition(f"{t.number}: you already watch this ticket")
            conn.execute(
                insert(ticket_watchers).values(ticket_id=t.id, watcher=who.name, email=address, since=now)
            )
        return self.get(t.number)

    def unwatch(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """Stop following the ticket."""
        now, who = validation.check_now(now), self._actor(actor)
        with self._tx() as conn:
            t = self._load(conn, number)
            gone = conn.execute(
                delete(ticket_watchers).where(
                    ticket_watchers.c.ticket_id == t.id, ticket_watchers.c.watcher == who.name
                )
            ).rowcount
            if not gone:
                raise InvalidTransition(f"{t.number}: you do not watch this ticket")
        return self.get(t.number)

    # typing aids for the mixin (implemented by TicketService)
    if TYPE_CHECKING:
        cfg: Any

        def _actor(self, actor: Actor | str) -> Actor: ...
        def _tx(self) -> Any: ...
        def _load(self, conn: Any, number: str, *, lock: bool = True) -> Ticket: ...
        def get(self, number: str) -> Ticket: ...

"""Watchers: XOP staff following a ticket get every update of it by email, once each (i16).

A watcher is a staff user with their own address under ``staff.emails`` in the config. They get,
as internal emails (:func:`xop.tickets.notices.watcher_copies`, queued with the original in its
transaction, through the same templates, saying why they came):

- every email the ticket sends its customer (updates, escalation, recovery, RCA, resolution,
  closing report), and the customer's own replies, even when the customer has nobody to send
  them to (a monitoring ticket of a customer without management contacts);
- every internal note (``ticket_note``), monitoring's notes on its tickets included;
- every internal email about the ticket: SLA warnings and breaches, emergencies and the
  emergency bridge's follow-up. The sweep's per-batch escalation digest lists many tickets and
  is not copied; the watcher of an escalated ticket gets that ticket's own escalation email.

Never to the watcher whose action caused the update, never a second copy to a watcher who is a
recipient already (an owner's warning), one copy per (kind, event, watcher): its key makes a
rerun queue nothing twice. Customers and monitoring never watch; a copy goes only to the
address ``staff.emails`` gives the watcher now (a user removed from it gets nothing) and never to
an address the ticket's customer is reached at. The sweep reads the watchers of a whole batch
in one query (:class:`Watchers`). Watching moves no state and no clock and writes no history
(it is a person's subscription, not something that happened to the ticket).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, delete, insert, select

from xop.core.errors import InvalidTransition
from xop.db.bulk import in_ids
from xop.tickets import validation
from xop.tickets.model import Actor
from xop.tickets.tables import ticket_watchers, tickets

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


class Watcher(NamedTuple):
    watcher: str  # the staff user name
    owner: str | None  # who owns the watched ticket (named in the copies)


class Watchers:
    """The watchers of a set of tickets, read in one query per set (a sweep batch: one query for
    its 10,000 tickets, not one per ticket), then reused by every email of the batch."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._of: dict[int, list[Watcher]] = {}

    @classmethod
    def load(cls, conn: Connection, ticket_ids: Iterable[int]) -> Watchers:
        book = cls(conn)
        book.need(ticket_ids)
        return book

    @classmethod
    def of_new(cls, conn: Connection, ticket_ids: Iterable[int]) -> Watchers:
        """Tickets created in this transaction: nobody watches them yet (no query)."""
        return cls.known(conn, {int(i): [] for i in ticket_ids})

    @classmethod
    def known(cls, conn: Connection, of: dict[int, list[Watcher]]) -> Watchers:
        """Watchers the caller read already (:func:`xop.tickets.loading.load_for_action`)."""
        book = cls(conn)
        book._of.update(of)
        return book

    def need(self, ticket_ids: Iterable[int]) -> None:
        """Read the watchers of those of ``ticket_ids`` not read yet (one query, or none)."""
        missing = sorted({int(i) for i in ticket_ids} - self._of.keys())
        if not missing:
            return
        w = ticket_watchers
        q = (
            select(w.c.ticket_id, w.c.watcher, tickets.c.owner)
            .join(tickets, tickets.c.id == w.c.ticket_id)
            .where(in_ids(w.c.ticket_id, missing, self._conn))
            .order_by(w.c.ticket_id, w.c.since, w.c.watcher)
        )
        self._of.update((i, []) for i in missing)
        for ticket_id, watcher, owner in self._conn.execute(q):
            self._of[ticket_id].append(Watcher(watcher, owner))

    def of(self, ticket_id: int) -> list[Watcher]:
        """The ticket's watchers, the earliest first (read with :meth:`need` first)."""
        if ticket_id not in self._of:
            self.need([ticket_id])
        return self._of[ticket_id]


class WatchActions:
    """watch, unwatch: a mixin of :class:`xop.tickets.service.TicketService`."""

    def watch(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """The acting staff user follows the ticket: its updates are emailed to them."""
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

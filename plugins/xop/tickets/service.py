"""The ticket service: every lifecycle operation of a trouble ticket.

Each public method runs in one transaction: it validates its input, asks the transition table
(:mod:`xop.tickets.model`) whether the actor may do it, updates the ticket, appends its event,
moves the SLA clocks as the table's decision says and writes the emails to the outbox — all or
nothing. A refused operation raises a :class:`~xop.core.errors.TicketError` subclass and changes
nothing.

Every action takes ``actor: Actor | str``; a plain string is a staff user whose level comes from
the config's ``staff:`` (unknown users act as Level 2). The module is split by responsibility:
this class holds the plumbing, the reads and ``open``; :mod:`xop.tickets.lifecycle` the actions
on an existing ticket, :mod:`xop.tickets.monitoring` the monitoring entry points,
:mod:`xop.tickets.closing` the closing report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from xop.core.config import XopConfig
from xop.core.errors import InvalidInput, InvalidTransition
from xop.sla.policy import effective_urgency
from xop.tickets import clocks, records, validation
from xop.tickets.lifecycle import LifecycleActions
from xop.tickets.loading import Loaded, load_for_action
from xop.tickets.model import ALL_CLOCKS, LEVEL_LABELS, Actor, Decision, actions_for, decide, level_of
from xop.tickets.monitoring import MonitoringEntryPoints
from xop.tickets.notices import local_time, notify, sla_targets
from xop.tickets.ownership import OwnershipActions  # i16: take / assign / unassign
from xop.tickets.preview import DryRun  # i16: what an action would do (the page's confirmation)
from xop.tickets.records import Ticket, format_number
from xop.tickets.tables import ticket_clocks, ticket_events, tickets
from xop.tickets.watching import WatchActions, Watchers  # i16: staff follow a ticket by email

__all__ = ["Ticket", "TicketService", "format_number", "service_on"]


class TicketService(LifecycleActions, MonitoringEntryPoints, OwnershipActions, DryRun, WatchActions):
    """Lifecycle operations on tickets in the XOP database."""

    def __init__(self, engine: Engine, config: XopConfig) -> None:
        self.engine = engine
        self.cfg = config

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _load(self, conn: Connection, number: str, *, lock: bool = True) -> Ticket:
        return records.load(conn, number, lock=lock)

    def _load_for_action(self, conn: Connection, number: str) -> Loaded:
        """The ticket locked, with its clocks and watchers (one statement on PostgreSQL)."""
        return load_for_action(conn, number)

    def _event(self, conn: Connection, t: Ticket, kind: str, **kw: Any) -> dict[str, Any]:
        return records.add_event(conn, t.id, kind, **kw)

    def _new_event(
        self,
        t: Ticket,
        kind: str,
        *,
        actor: Actor,
        now: datetime,
        public: bool,
        body: str = "",
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An event row of the ticket, not yet written: :meth:`_set` writes it with the ticket."""
        return records.event_row(t.id, kind, actor, now, public=public, body=body, payload=payload or {})

    def _set(
        self,
        conn: Connection,
        t: Ticket,
        now: datetime,
        *,
        book: clocks.ClockBook | None = None,
        event: dict[str, Any] | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """Update the ticket's fields, and its order keys from ``book`` (the clocks just changed);
        ``event``: an event row written with the ticket (:func:`xop.tickets.records.set_fields`)."""
        return records.set_fields(conn, t, now, keys=book.keys(t.id) if book else None, event=event, **values)

    def _notify(
        self, conn: Connection, kind: str, ticket: dict, event: dict, now: datetime, **kw: Any
    ) -> None:
        notify(conn, self.cfg, kind=kind, ticket=ticket, event=event, now=now, **kw)

    def _actor(self, actor: Actor | str) -> Actor:
        return validation.actor(self.cfg, actor)

    def _require(self, t: Ticket, action: str, actor: Actor, *, to_level: int | None = None) -> Decision:
        """The transition table's decision for this ticket; refused → :class:`InvalidTransition`."""
        d = decide(action, t, actor, to_level=to_level)
        if not d:
            who = f"Level {actor.level} staff" if actor.kind == "staff" else actor.kind
            raise InvalidTransition(
                f"{t.number}: cannot {action} a ticket that is {t.state} at {LEVEL_LABELS[level_of(t)]}"
                f" as {who} {actor.name!r}: {d.why_not}"
            )
        return d

    def _starts(self, t: Ticket, names: list[str], now: datetime, *, cycle: int) -> list[dict[str, Any]]:
        """The clock starts of ``names`` for the ticket, measured by its effective urgency."""
        urgency = effective_urgency(self.cfg, t.customer, t.urgency, t.proposed_urgency)
        return [
            {
                "ticket_id": t.id,
                "customer": t.customer,
                "name": n,
                "cycle": cycle,
                "urgency": urgency,
                "at": now,
            }
            for n in names
        ]

    def _apply(
        self,
        conn: Connection,
        t: Ticket,
        decision: Decision,
        now: datetime,
        *,
        book: clocks.ClockBook,
        cycle: int | None = None,
    ) -> clocks.ClockBook:
        """Do to the clocks what the table's decision says (starts in ``cycle``, default the
        ticket's), in ``book`` (the ticket's clocks, :meth:`_load_for_action`), written here;
        pass the book to :meth:`_set`, which stores the ticket's order keys with its fields in
        one UPDATE."""
        ids = [t.id]
        effects = decision.clocks
        everything = effects.get(ALL_CLOCKS)
        if everything == "resume":
            book.resume(self.cfg, ids, now)
        met = [n for n, e in effects.items() if e == "meet" and n != ALL_CLOCKS]
        stop = [n for n, e in effects.items() if e == "stop" and n != ALL_CLOCKS]
        if met:
            book.finish(self.cfg, ids, met, now, met=True)
        if stop or everything == "stop":
            book.finish(self.cfg, ids, None if everything == "stop" else stop, now, met=False)
        start = [n for n, e in effects.items() if e == "start"]
        if start:
            book.start(
                self.cfg, self._starts(t, start, now, cycle=t.reopen_count if cycle is None else cycle)
            )
        if everything == "pause":
            book.pause(ids, now)
        book.flush(conn)
        return book

    # -- reads ---------------------------------------------------------------------------

    def get(self, number: str) -> Ticket:
        with self.engine.connect() as conn:
            return self._load(conn, number, lock=False)

    def history(self, number: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            t = self._load(conn, number, lock=False)
            q = select(ticket_events).where(ticket_events.c.ticket_id == t.id).order_by(ticket_events.c.id)
            return [dict(r._mapping) for r in conn.execute(q)]

    def clocks(self, number: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            t = self._load(conn, number, lock=False)
            q = select(ticket_clocks).where(ticket_clocks.c.ticket_id == t.id).order_by(ticket_clocks.c.id)
            return [dict(r._mapping) for r in conn.execute(q)]

    def actions_for(self, number: str, actor: Actor | str) -> list[str]:
        """What ``actor`` may do to the ticket now (the transition table's action hints)."""
        return actions_for(self.get(number), self._actor(actor))

    # -- opening -------------------------------------------------------------------------

    def open(
        self,
        *,
        customer: str,
        subject: str,
        reporter_name: str,
        reporter_email: str,
        now: datetime,
        source: str | None = None,
        description: str = "",
        system: str | None = None,
        level: int = 2,
        urgency: str | None = None,
        proposed_urgency: str | None = None,
        actor: Actor | str | None = None,
        dedup_key: str | None = None,
    ) -> Ticket:
        """Open a ticket at Level 2 (or Level 1: worked by the customer's own staff, no XOP clock).

        Without ``actor`` the ticket is opened by its reporter as the customer (or by monitoring
        when ``source="monitoring"``). Only staff and monitoring set ``urgency`` and ``source``; a
        customer may give ``proposed_urgency``.
        """
        now = validation.check_now(now)
        if actor is None:
            actor = (
                Actor.monitoring()
                if source == "monitoring"
                else Actor.customer(str(reporter_email or "customer"))
            )
        who = self._actor(actor)
        cust = validation.customer(self.cfg, customer)
        if system is not None and system not in {s.id for s in cust.systems}:
            raise InvalidInput("system", f"customer {customer!r} has no system {system!r}")
        source, urgency_, proposed = validation.open_fields(
            self.cfg, who, source=source, level=level, urgency_=urgency, proposed=proposed_urgency
        )
        values = {
            "customer": customer,
            "system": system,
            "subject": validation.text("subject", subject, max_len=200),
            "description": validation.text("description", description, max_len=20000, required=False),
            "reporter_name": validation.text("reporter_name", reporter_name, max_len=120),
            "reporter_email": validation.email("reporter_email", reporter_email),
            "source": source,
            "urgency": urgency_,
            "proposed_urgency": proposed,
            "level": level,
            "state": "open",
            "dedup_key": validation.text("dedup_key", dedup_key, max_len=200)
            if dedup_key is not None
            else None,
            "opened_at": now,
            "updated_at": now,
        }
        with self._tx() as conn:
            values["number"] = records.next_number(conn)
            t = Ticket.from_row(conn.execute(insert(tickets).returning(*tickets.c), values).one())
            ev = self._event(
                conn,
                t,
                "opened",
                actor=who,
                now=now,
                public=True,
                body=values["description"],
                payload={"level": level, "source": source, "urgency": urgency_, "proposed_urgency": proposed},
            )
            book = clocks.ClockBook([])  # a new ticket has no clocks yet
            if level >= 2:
                book.start(self.cfg, self._starts(t, ["l2_response"], now, cycle=0))
                book.flush(conn)
                book.write_keys(conn, [t.id])
                t = replace(t, next_due_at=book.keys(t.id)["next_due_at"])
            self._notify(
                conn,
                "ticket_opened",
                t.as_dict(),
                ev,
                now,
                extra=self._ack(t, book),
                watchers=Watchers.of_new(conn, [t.id]),
            )
        return t

    def _ack(self, t: Ticket, book: clocks.ClockBook) -> dict[str, Any]:
        """The acknowledgement's commitments: none at Level 1; the first response due time in the
        support calendar's zone; targets by urgency (for unclassified tickets, with the note that
        they depend on the classification)."""
        if t.level < 2:
            return {"sla_targets": [], "level1": True}
        shown = effective_urgency(self.cfg, t.customer, t.urgency, t.proposed_urgency)
        due = book.first_due([t.id]).get(t.id)
        return {
            "sla_targets": sla_targets(self.cfg, t.customer, shown),
            "urgency_shown": shown,
            "classified": t.urgency is not None,
            "first_due": local_time(self.cfg, due["due_at"]) if due else None,
        }


class _OneConnection:
    """An engine-shaped view of one open connection: the ticket service's transactions become
    savepoints of the caller's transaction, so the service's writes commit with the caller's
    (the intake's record of a message, the portal's attachments), or nothing does."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        self.url = conn.engine.url

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._conn.begin_nested():
            yield self._conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._conn


def service_on(conn: Connection, cfg: XopConfig) -> TicketService:
    """A ticket service whose every action runs inside ``conn``'s transaction."""
    return TicketService(_OneConnection(conn), cfg)  # type: ignore[arg-type]

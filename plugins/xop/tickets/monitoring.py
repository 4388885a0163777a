"""Monitoring's entry points to the ticket service (a mixin of
:class:`xop.tickets.service.TicketService`): one ticket per monitored problem, notes after."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from xop.core.errors import InvalidTransition
from xop.core.vocabulary import ACTIVE_STATES
from xop.tickets.model import Actor
from xop.tickets.records import Ticket
from xop.tickets.tables import tickets


def _monitoring(actor: Actor | str) -> Actor:
    """Monitoring acts as itself: a plain string names the monitoring actor."""
    return actor if isinstance(actor, Actor) else Actor.monitoring(actor)


class MonitoringEntryPoints:
    def report_problem(
        self,
        *,
        dedup_key: str,
        customer: str,
        system: str | None,
        subject: str,
        description: str,
        urgency: str,
        now: datetime,
        actor: Actor | str = "xop-monitoring",
    ) -> tuple[Ticket, bool]:
        """Open one monitoring ticket per ``dedup_key``; while one is active, add a note to it.

        Returns the ticket and whether it was created. The partial unique index on active
        ``dedup_key`` makes this safe when two DAG runs report the same problem at once. The
        reporter is the customer's first management contact; a customer without one gets no
        customer email at all (the reporter is then XOP's internal address).
        """
        who = _monitoring(actor)
        for _ in range(2):
            existing = self.active_for(dedup_key)
            if existing is not None:
                return self.note(
                    existing.number, actor=who, body=f"{subject}\n\n{description}", now=now
                ), False
            cust = self.cfg.customer(customer) if customer in {c.id for c in self.cfg.customers} else None
            contact = cust.management_contacts[0] if cust and cust.management_contacts else None
            try:
                t = self.open(
                    customer=customer,
                    system=system,
                    subject=subject,
                    description=description,
                    reporter_name=contact.name if contact else "XOP monitoring",
                    reporter_email=contact.email if contact else self.cfg.support.internal_recipients[0],
                    source="monitoring",
                    urgency=urgency,
                    actor=who,
                    dedup_key=dedup_key,
                    now=now,
                )
            except IntegrityError:
                continue  # another run opened it between our look and our insert: note on it
            return t, True
        raise InvalidTransition(f"could not open or find the monitoring ticket {dedup_key!r}")

    def report_recovery(
        self, *, dedup_key: str, body: str, now: datetime, actor: Actor | str = "xop-monitoring"
    ) -> Ticket | None:
        """Note a recovery on the active ticket of ``dedup_key`` (a person closes it); None if none."""
        t = self.active_for(dedup_key)
        if t is None:
            return None
        return self.note(t.number, actor=_monitoring(actor), body=body, now=now)

    def active_for(self, dedup_key: str) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tickets).where(tickets.c.dedup_key == dedup_key, tickets.c.state.in_(ACTIVE_STATES))
            ).first()
        return Ticket.from_row(row) if row else None

    if TYPE_CHECKING:
        cfg: Any
        engine: Any

        def open(self, **kw: Any) -> Ticket: ...
        def note(self, number: str, *, actor: Actor | str, body: str, now: datetime) -> Ticket: ...

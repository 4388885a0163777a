"""The ticket service: every lifecycle operation of a trouble ticket.

Each public method runs in one transaction: it validates its input, checks the transition,
updates the ticket, appends its event, moves the SLA clocks and writes the emails to the
outbox — all or nothing. A refused operation raises a :class:`~xop.core.errors.TicketError` subclass
and changes nothing.

Levels follow the seed: 1 is the customer's own staff (no XOP clock runs), 2 and 3 are XOP
support, 4 is product development. States: open → (waiting_customer ⇄) → recovered →
resolved → closed; resolved and closed tickets can be reopened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from xop.core.config import XopConfig
from xop.core.errors import InvalidInput, InvalidTransition, TicketNotFound
from xop.core.vocabulary import ACTIVE_STATES, CLOCK_LABELS, SOURCES, URGENCY_ORDER
from xop.sla.policy import effective_urgency
from xop.tickets import clocks
from xop.tickets.escalation import escalate_tickets
from xop.tickets.notices import notify, sla_targets
from xop.tickets.tables import (
    ticket_clocks,
    ticket_events,
    ticket_number_seq,
    tickets,
)

_email = TypeAdapter(EmailStr)


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

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def format_number(n: int) -> str:
    return f"XOP-{n:06d}"


def _check_now(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput("now", f"must be a timezone-aware datetime, got {now!r}")
    return now


def _text(field: str, value: Any, *, max_len: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"is {len(value)} characters long; the limit is {max_len}")
    return value


def _urgency(field: str, value: Any, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if value not in URGENCY_ORDER:
        raise InvalidInput(field, f"must be one of {', '.join(URGENCY_ORDER)}; got {value!r}")
    return value


class TicketService:
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
        if not isinstance(number, str) or not number.strip():
            raise InvalidInput("number", f"must be a ticket number like XOP-000123, got {number!r}")
        q = select(tickets).where(tickets.c.number == number.strip().upper())
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise TicketNotFound(f"no ticket {number!r}")
        return Ticket.from_row(row)

    def _event(
        self,
        conn: Connection,
        ticket: Ticket | dict,
        kind: str,
        *,
        actor: str,
        now: datetime,
        public: bool,
        body: str = "",
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        tid = ticket.id if isinstance(ticket, Ticket) else ticket["id"]
        row = {
            "ticket_id": tid,
            "at": now,
            "actor": actor,
            "kind": kind,
            "public": public,
            "body": body,
            "payload": payload or {},
        }
        row["id"] = conn.execute(insert(ticket_events).returning(ticket_events.c.id), row).scalar_one()
        return row

    def _set(self, conn: Connection, ticket: Ticket, now: datetime, **values: Any) -> dict[str, Any]:
        conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(updated_at=now, **values))
        return ticket.as_dict() | values | {"updated_at": now}

    def _notify(
        self, conn: Connection, kind: str, ticket: dict, event: dict, now: datetime, **kw: Any
    ) -> None:
        notify(conn, self.cfg, kind=kind, ticket=ticket, event=event, now=now, **kw)

    @staticmethod
    def _actor(actor: Any) -> str:
        return _text("actor", actor, max_len=120)

    def _require(self, t: Ticket, states: tuple[str, ...], action: str) -> None:
        if t.state not in states:
            raise InvalidTransition(
                f"{t.number}: cannot {action} a ticket that is {t.state} (allowed when {', '.join(states)})"
            )

    def _next_number(self, conn: Connection) -> str:
        ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(ticket_number_seq)
        stmt = ins.values(id=1, last_value=1).on_conflict_do_update(
            index_elements=["id"], set_={"last_value": ticket_number_seq.c.last_value + 1}
        )
        value = conn.execute(stmt.returning(ticket_number_seq.c.last_value)).scalar_one()
        return format_number(value)

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

    # -- lifecycle -----------------------------------------------------------------------

    def open(
        self,
        *,
        customer: str,
        subject: str,
        reporter_name: str,
        reporter_email: str,
        now: datetime,
        source: str = "customer",
        description: str = "",
        system: str | None = None,
        level: int = 2,
        urgency: str | None = None,
        proposed_urgency: str | None = None,
        actor: str | None = None,
        dedup_key: str | None = None,
    ) -> Ticket:
        """Open a ticket (customer, staff or monitoring). Opened at L2 unless the customer keeps it at L1."""
        now = _check_now(now)
        if source not in SOURCES:
            raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}; got {source!r}")
        if not isinstance(customer, str):
            raise InvalidInput("customer", f"must be a customer id, got {customer!r}")
        try:
            cust = self.cfg.customer(customer)
        except Exception:
            known = ", ".join(c.id for c in self.cfg.customers) or "none configured"
            raise InvalidInput("customer", f"unknown customer {customer!r} (known: {known})") from None
        if system is not None and system not in {s.id for s in cust.systems}:
            raise InvalidInput("system", f"customer {customer!r} has no system {system!r}")
        if level not in (1, 2) or isinstance(level, bool):
            raise InvalidInput(
                "level", f"a ticket opens at level 1 or 2 (escalate it afterwards); got {level!r}"
            )
        values = {
            "customer": customer,
            "system": system,
            "subject": _text("subject", subject, max_len=200),
            "description": _text("description", description, max_len=20000, required=False),
            "reporter_name": _text("reporter_name", reporter_name, max_len=120),
            "source": source,
            "urgency": _urgency("urgency", urgency, required=False),
            "proposed_urgency": _urgency("proposed_urgency", proposed_urgency, required=False),
            "level": level,
            "state": "open",
            "dedup_key": _text("dedup_key", dedup_key, max_len=200) if dedup_key is not None else None,
            "opened_at": now,
            "updated_at": now,
        }
        try:
            values["reporter_email"] = str(_email.validate_python(reporter_email))
        except ValidationError:
            raise InvalidInput("reporter_email", f"not a valid email address: {reporter_email!r}") from None
        actor = self._actor(actor or values["reporter_name"])
        with self._tx() as conn:
            values["number"] = self._next_number(conn)
            values["id"] = conn.execute(insert(tickets).returning(tickets.c.id), values).scalar_one()
            t = Ticket.from_row(conn.execute(select(tickets).where(tickets.c.id == values["id"])).one())
            ev = self._event(
                conn,
                t,
                "opened",
                actor=actor,
                now=now,
                public=True,
                body=values["description"],
                payload={"level": level, "source": source, "urgency": values["urgency"]},
            )
            if level >= 2:
                self._start(conn, t, ["l2_response"], now, cycle=0)
            urgency_shown = effective_urgency(self.cfg, customer, t.urgency, t.proposed_urgency)
            self._notify(
                conn,
                "ticket_opened",
                t.as_dict(),
                ev,
                now,
                extra={
                    "sla_targets": sla_targets(self.cfg, customer, urgency_shown),
                    "urgency_shown": urgency_shown,
                },
            )
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def _start(
        self, conn: Connection, t: Ticket | dict, names: list[str], now: datetime, cycle: int = 0
    ) -> None:
        d = t.as_dict() if isinstance(t, Ticket) else t
        urgency = effective_urgency(self.cfg, d["customer"], d["urgency"], d["proposed_urgency"])
        clocks.start_clocks(
            conn,
            self.cfg,
            [
                {
                    "ticket_id": d["id"],
                    "customer": d["customer"],
                    "name": n,
                    "cycle": cycle,
                    "urgency": urgency,
                    "at": now,
                }
                for n in names
            ],
        )

    def respond(self, number: str, *, actor: str, body: str, now: datetime) -> Ticket:
        """A public reply by the owning level; the first one meets that level's response clock."""
        now, actor = _check_now(now), self._actor(actor)
        body = _text("body", body, max_len=20000)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, (*ACTIVE_STATES, "resolved"), "respond to")
            ev = self._event(
                conn, t, "responded", actor=actor, now=now, public=True, body=body, payload={"level": t.level}
            )
            response_clock = {2: "l2_response", 3: "l3_response"}.get(t.level)
            if response_clock:
                clocks.finish_clocks(conn, self.cfg, [t.id], [response_clock], now, met=True)
            d = self._set(conn, t, now)
            self._notify(conn, "ticket_updated", d, ev, now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def note(self, number: str, *, actor: str, body: str, now: datetime) -> Ticket:
        """An internal note: history only, no email, no clock."""
        now, actor = _check_now(now), self._actor(actor)
        body = _text("body", body, max_len=20000)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._event(conn, t, "note", actor=actor, now=now, public=False, body=body)
            self._set(conn, t, now)
        return self.get(t.number)

    def classify(self, number: str, *, urgency: str, actor: str, now: datetime, reason: str = "") -> Ticket:
        """Set or change the urgency; running clocks keep their start and pauses, targets change."""
        now, actor = _check_now(now), self._actor(actor)
        urgency = _urgency("urgency", urgency)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ACTIVE_STATES, "classify")
            if t.urgency == urgency:
                raise InvalidTransition(f"{t.number}: urgency is already {urgency}")
            self._event(
                conn,
                t,
                "classified",
                actor=actor,
                now=now,
                public=False,
                body=_text("reason", reason, max_len=2000, required=False),
                payload={"from": t.urgency, "to": urgency},
            )
            self._set(conn, t, now, urgency=urgency)
            clocks.retarget_clocks(conn, self.cfg, {t.id: urgency})
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def escalate(
        self, number: str, *, actor: str, now: datetime, to_level: int | None = None, reason: str = ""
    ) -> Ticket:
        """Move the ticket up (default: the next level), start that level's clocks, tell the customer."""
        now, actor = _check_now(now), self._actor(actor)
        reason = _text("reason", reason, max_len=2000, required=False)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ACTIVE_STATES, "escalate")
            if t.level >= 4 and to_level is None:
                raise InvalidTransition(
                    f"{t.number}: already at level 4 (product development); nothing above it"
                )
            target = t.level + 1 if to_level is None else to_level
            if isinstance(target, bool) or not isinstance(target, int) or not 2 <= target <= 4:
                raise InvalidInput("to_level", f"must be 2, 3 or 4; got {to_level!r}")
            if target <= t.level:
                raise InvalidTransition(
                    f"{t.number}: is at level {t.level}; escalation must go up, not to {target}"
                )
            escalate_tickets(conn, self.cfg, [t.as_dict()], [target], actor=actor, now=now, reason=reason)
        return self.get(t.number)

    def pause(self, number: str, *, actor: str, now: datetime, reason: str = "") -> Ticket:
        """Waiting on the customer: every running clock stops counting until resumed."""
        now, actor = _check_now(now), self._actor(actor)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ("open", "recovered"), "pause")
            self._event(
                conn,
                t,
                "paused",
                actor=actor,
                now=now,
                public=False,
                body=_text("reason", reason, max_len=2000, required=False),
                payload={"from_state": t.state},
            )
            self._set(conn, t, now, state="waiting_customer")
            clocks.pause_clocks(conn, [t.id], now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def resume(self, number: str, *, actor: str, now: datetime) -> Ticket:
        now, actor = _check_now(now), self._actor(actor)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ("waiting_customer",), "resume")
            state = "recovered" if t.recovered_at else "open"
            self._event(conn, t, "resumed", actor=actor, now=now, public=False, payload={"to_state": state})
            self._set(conn, t, now, state=state)
            clocks.resume_clocks(conn, self.cfg, [t.id], now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def recover(self, number: str, *, actor: str, now: datetime, body: str = "") -> Ticket:
        """Service is restored (not yet the permanent fix): meets recovery, starts the RCA clock at L3+."""
        now, actor = _check_now(now), self._actor(actor)
        body = _text("body", body, max_len=20000, required=False)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ("open", "waiting_customer"), "recover")
            if t.state == "waiting_customer":
                clocks.resume_clocks(conn, self.cfg, [t.id], now)
            ev = self._event(conn, t, "recovered", actor=actor, now=now, public=True, body=body)
            d = self._set(conn, t, now, state="recovered", recovered_at=now)
            clocks.finish_clocks(conn, self.cfg, [t.id], ["l3_recovery"], now, met=True)
            if t.level >= 3:
                self._start(conn, d, ["l3_rca"], now, cycle=t.reopen_count)
            self._notify(conn, "ticket_recovered", d, ev, now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def send_rca(
        self, number: str, *, actor: str, now: datetime, cause: str, extent: str, actions: str, plan: str
    ) -> Ticket:
        """Record the RCA email (cause, extent, actions taken, resolution plan) and send it."""
        now, actor = _check_now(now), self._actor(actor)
        rca = {
            "cause": _text("cause", cause, max_len=20000),
            "extent": _text("extent", extent, max_len=20000),
            "actions": _text("actions", actions, max_len=20000),
            "plan": _text("plan", plan, max_len=20000),
        }
        with self._tx() as conn:
            t = self._load(conn, number)
            if t.recovered_at is None:
                raise InvalidTransition(
                    f"{t.number}: an RCA follows recovery; mark the ticket recovered first"
                )
            self._require(t, (*ACTIVE_STATES, "resolved"), "send the RCA of")
            ev = self._event(conn, t, "rca_sent", actor=actor, now=now, public=True, payload=rca)
            d = self._set(conn, t, now, rca_sent_at=now)
            clocks.finish_clocks(conn, self.cfg, [t.id], ["l3_rca"], now, met=True)
            self._notify(
                conn,
                "rca",
                d,
                ev,
                now,
                extra={"rca": rca | {"actions_taken": rca["actions"], "resolution_plan": rca["plan"]}},
            )
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def resolve(self, number: str, *, actor: str, now: datetime, body: str) -> Ticket:
        """The permanent fix is delivered: meets resolution (and recovery); response clocks stop."""
        now, actor = _check_now(now), self._actor(actor)
        body = _text("body", body, max_len=20000)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ACTIVE_STATES, "resolve")
            ev = self._event(conn, t, "resolved", actor=actor, now=now, public=True, body=body)
            d = self._set(conn, t, now, state="resolved", resolved_at=now, recovered_at=t.recovered_at or now)
            clocks.finish_clocks(conn, self.cfg, [t.id], ["l4_resolution", "l3_recovery"], now, met=True)
            clocks.finish_clocks(conn, self.cfg, [t.id], ["l2_response", "l3_response"], now, met=False)
            self._notify(conn, "ticket_resolved", d, ev, now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def close(self, number: str, *, actor: str, now: datetime, report: str) -> Ticket:
        """Close with a closing report to the reporter and the customer's management contacts."""
        now, actor = _check_now(now), self._actor(actor)
        report = _text("report", report, max_len=20000)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, (*ACTIVE_STATES, "resolved"), "close")
            ev = self._event(conn, t, "closed", actor=actor, now=now, public=True, body=report)
            d = self._set(conn, t, now, state="closed", closed_at=now)
            clocks.finish_clocks(conn, self.cfg, [t.id], None, now, met=False)
            self._notify(
                conn, "ticket_closed", d, ev, now, extra={"report": self._closing_report(conn, t, report)}
            )
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    def _closing_report(self, conn: Connection, t: Ticket, summary: str) -> dict[str, Any]:
        """Summary, public timeline and how each SLA clock ended, for the customer's management."""
        events = conn.execute(
            select(ticket_events.c.at, ticket_events.c.actor, ticket_events.c.kind, ticket_events.c.body)
            .where(ticket_events.c.ticket_id == t.id, ticket_events.c.public.is_(True))
            .order_by(ticket_events.c.id)
        ).all()
        rows = conn.execute(
            select(ticket_clocks).where(ticket_clocks.c.ticket_id == t.id).order_by(ticket_clocks.c.id)
        ).all()
        sla = []
        for c in rows:
            c = c._mapping
            result = "breached" if c["breached_at"] else "met" if c["met_at"] else "not needed"
            if c["breached_at"] and c["met_at"]:
                result = "met late"
            sla.append(
                {
                    "label": CLOCK_LABELS[c["name"]],
                    "target": f"due {c['due_at']:%Y-%m-%d %H:%M} UTC",
                    "result": result,
                }
            )
        timeline = [{"at": e.at, "actor": e.actor, "body": f"{e.kind}: {e.body}".strip(": ")} for e in events]
        return {"summary": summary, "timeline": timeline, "sla": sla}

    def reopen(self, number: str, *, actor: str, now: datetime, reason: str) -> Ticket:
        """Reopen a resolved or closed ticket: a new L2 response clock starts; met clocks stay met."""
        now, actor = _check_now(now), self._actor(actor)
        reason = _text("reason", reason, max_len=20000)
        with self._tx() as conn:
            t = self._load(conn, number)
            self._require(t, ("resolved", "closed"), "reopen")
            cycle = t.reopen_count + 1
            ev = self._event(
                conn, t, "reopened", actor=actor, now=now, public=True, body=reason, payload={"cycle": cycle}
            )
            d = self._set(
                conn,
                t,
                now,
                state="open",
                reopen_count=cycle,
                resolved_at=None,
                closed_at=None,
                recovered_at=None,
            )
            if t.level >= 2:
                self._start(conn, d, ["l2_response"], now, cycle=cycle)
            self._notify(conn, "ticket_updated", d, ev, now)
            clocks.refresh_next_due(conn, [t.id])
        return self.get(t.number)

    # -- monitoring ----------------------------------------------------------------------

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
        actor: str = "xop-monitoring",
    ) -> tuple[Ticket, bool]:
        """Open one monitoring ticket per ``dedup_key``; while one is active, add a note to it.

        Returns the ticket and whether it was created. The partial unique index on active
        ``dedup_key`` makes this safe when two DAG runs report the same problem at once.
        """
        for _ in range(2):
            existing = self.active_for(dedup_key)
            if existing is not None:
                return self.note(
                    existing.number, actor=actor, body=f"{subject}\n\n{description}", now=now
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
                    actor=actor,
                    dedup_key=dedup_key,
                    now=now,
                )
            except IntegrityError:
                continue  # another run opened it between our look and our insert: note on it
            return t, True
        raise InvalidTransition(f"could not open or find the monitoring ticket {dedup_key!r}")

    def report_recovery(
        self, *, dedup_key: str, body: str, now: datetime, actor: str = "xop-monitoring"
    ) -> Ticket | None:
        """Note a recovery on the active ticket of ``dedup_key`` (a person closes it); None if none."""
        t = self.active_for(dedup_key)
        if t is None:
            return None
        return self.note(t.number, actor=actor, body=body, now=now)

    def active_for(self, dedup_key: str) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tickets).where(tickets.c.dedup_key == dedup_key, tickets.c.state.in_(ACTIVE_STATES))
            ).first()
        return Ticket.from_row(row) if row else None

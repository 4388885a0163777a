"""The actions on an existing ticket (a mixin of :class:`xop.tickets.service.TicketService`).

Each one: validate the input, load and lock the ticket, ask the transition table, then write
the event, the ticket's fields, the clock effects of the table's decision and the emails, in
one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from xop.core.errors import InvalidInput, InvalidTransition
from xop.tickets import validation
from xop.tickets.closing import closing_report, public_name
from xop.tickets.escalation import escalate_tickets
from xop.tickets.model import EMERGENCY, MODEL_LEVELS, Actor, level_of
from xop.tickets.notices import compose, enqueue_with_watchers, local_time
from xop.tickets.records import Ticket

_LONG = 20000
_SHORT = 2000


class LifecycleActions:
    """respond, note, classify, escalate, pause, resume, recover, send_rca, resolve, close, reopen."""

    def respond(self, number: str, *, actor: Actor | str, body: str, now: datetime) -> Ticket:
        """A public reply. Staff of the owning level meet its response clock; a customer's update
        meets no XOP clock and resumes a ticket that waits on the customer."""
        now, who = validation.check_now(now), self._actor(actor)
        body = validation.text("body", body, max_len=_LONG)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "respond", who)
            book = self._apply(conn, t, decision, now, book=book)
            # The ticket and the reply together, the reply's search words with the ticket.
            state = {"state": decision.state} if decision.state else {}
            ev = self._new_event(
                t, "responded", actor=who, now=now, public=True, body=body, payload={"level": level_of(t)}
            )
            d = self._set(conn, t, now, book=book, event=ev, **state)
            if who.kind == "customer":
                # The customer is not emailed their own words; the staff watching are (i16).
                reply = compose(
                    self.cfg,
                    kind="ticket_updated",
                    ticket=d,
                    event=ev,
                    now=now,
                    extra={"update": "customer_reply"},
                )
                enqueue_with_watchers(conn, self.cfg, [reply], watchers=watchers)
                if decision.state:  # waiting on the customer, and the customer answered
                    resumed = self._event(
                        conn,
                        t,
                        "resumed",
                        actor=who,
                        now=now,
                        public=False,
                        payload={"to_state": decision.state},
                    )
                    self._notify(
                        conn,
                        "ticket_updated",
                        d,
                        resumed,
                        now,
                        extra={"update": "resumed"},
                        watchers=watchers,
                    )
            else:
                self._notify(conn, "ticket_updated", d, ev, now, extra={"update": "reply"}, watchers=watchers)
        return Ticket.from_dict(d)

    def note(self, number: str, *, actor: Actor | str, body: str, now: datetime) -> Ticket:
        """An internal note: no clock, no customer email; emailed to the staff who watch the
        ticket (``ticket_note``), not to its author (i16)."""
        now, who = validation.check_now(now), self._actor(actor)
        body = validation.text("body", body, max_len=_LONG)
        with self._tx() as conn:
            t, _, watchers = self._load_for_action(conn, number)
            self._require(t, "note", who)
            ev = self._new_event(t, "note", actor=who, now=now, public=False, body=body)
            d = self._set(conn, t, now, event=ev)  # see respond
            note = compose(self.cfg, kind="ticket_note", ticket=d, event=ev, now=now)
            enqueue_with_watchers(conn, self.cfg, [note], watchers=watchers)
        return Ticket.from_dict(d)

    def classify(
        self, number: str, *, urgency: str, actor: Actor | str, now: datetime, reason: str = ""
    ) -> Ticket:
        """Set or change the urgency; running clocks keep their start and pauses, targets change.
        The customer is told the new classification and what it means for the commitments."""
        now, who = validation.check_now(now), self._actor(actor)
        urgency = validation.urgency("urgency", urgency)
        reason = validation.text("reason", reason, max_len=_SHORT, required=False)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            self._require(t, "classify", who)
            if t.urgency == urgency:
                raise InvalidTransition(f"{t.number}: urgency is already {urgency}")
            ev = self._new_event(
                t,
                "classified",
                actor=who,
                now=now,
                public=True,
                body=reason,
                payload={"from": t.urgency, "to": urgency},
            )
            book.retarget(self.cfg, {t.id: urgency})
            book.flush(conn)
            d = self._set(conn, t, now, book=book, event=ev, urgency=urgency)
            due = book.first_due([t.id]).get(t.id)
            self._notify(
                conn,
                "ticket_updated",
                d,
                ev,
                now,
                extra={
                    "update": "classified",
                    "previous_urgency": t.urgency,
                    "next_due": local_time(self.cfg, due["due_at"]) if due and not due["paused"] else None,
                },
                watchers=watchers,
            )
        return Ticket.from_dict(d)

    def escalate(
        self, number: str, *, actor: Actor | str, now: datetime, to_level: int | None = None, reason: str = ""
    ) -> Ticket:
        """Move the ticket up (default: the next level; 5 is Emergency), start only the new owner's
        clocks (paused while waiting on the customer), tell the customer who takes over."""
        now, who = validation.check_now(now), self._actor(actor)
        reason = validation.text("reason", reason, max_len=_SHORT, required=False)
        if to_level is not None and (isinstance(to_level, bool) or to_level not in MODEL_LEVELS[1:]):
            raise InvalidInput("to_level", f"must be 2, 3, 4 or {EMERGENCY} (Emergency); got {to_level!r}")
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            self._require(t, "escalate", who, to_level=to_level)
            target = level_of(t) + 1 if to_level is None else to_level
            done = escalate_tickets(
                conn,
                self.cfg,
                [t.as_dict()],
                [target],
                actor=who,
                now=now,
                reason=reason,
                book=book,
                watchers=watchers,
            )
        return Ticket.from_dict(done.tickets[0])

    def pause(self, number: str, *, actor: Actor | str, now: datetime, reason: str = "") -> Ticket:
        """Waiting on the customer: every running clock stops counting until resumed."""
        now, who = validation.check_now(now), self._actor(actor)
        reason = validation.text("reason", reason, max_len=_SHORT, required=False)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "pause", who)
            ev = self._new_event(
                t,
                "paused",
                actor=who,
                now=now,
                public=True,
                body=reason,
                payload={"from_state": t.state},
            )
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(conn, t, now, book=book, event=ev, state=decision.state)
            self._notify(conn, "ticket_updated", d, ev, now, extra={"update": "waiting"}, watchers=watchers)
        return Ticket.from_dict(d)

    def resume(self, number: str, *, actor: Actor | str, now: datetime) -> Ticket:
        """The wait is over: paused clocks run again, due dates moved by the paused business time."""
        now, who = validation.check_now(now), self._actor(actor)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "resume", who)
            ev = self._new_event(
                t, "resumed", actor=who, now=now, public=True, payload={"to_state": decision.state}
            )
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(conn, t, now, book=book, event=ev, state=decision.state)
            self._notify(conn, "ticket_updated", d, ev, now, extra={"update": "resumed"}, watchers=watchers)
        return Ticket.from_dict(d)

    def recover(self, number: str, *, actor: Actor | str, now: datetime, body: str = "") -> Ticket:
        """Service is restored (not yet the permanent fix): meets recovery, starts the RCA clock at
        L3 and above. Recorded once: a second recover is refused."""
        now, who = validation.check_now(now), self._actor(actor)
        body = validation.text("body", body, max_len=_LONG, required=False)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "recover", who)
            ev = self._new_event(t, "recovered", actor=who, now=now, public=True, body=body)
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(conn, t, now, book=book, event=ev, state="recovered", recovered_at=now)
            rca = next(iter(book.running([t.id], ["l3_rca"])), None)
            self._notify(
                conn,
                "ticket_recovered",
                d,
                ev,
                now,
                extra={
                    "rca_due_at": rca["due_at"] if rca else None,
                    "rca_due": local_time(self.cfg, rca["due_at"]) if rca else None,
                },
                watchers=watchers,
            )
        return Ticket.from_dict(d)

    def send_rca(
        self,
        number: str,
        *,
        actor: Actor | str,
        now: datetime,
        cause: str,
        extent: str,
        actions: str,
        plan: str,
    ) -> Ticket:
        """Record the RCA email (cause, extent, actions taken, resolution plan) and send it."""
        now, who = validation.check_now(now), self._actor(actor)
        rca = {
            "cause": validation.text("cause", cause, max_len=_LONG),
            "extent": validation.text("extent", extent, max_len=_LONG),
            "actions": validation.text("actions", actions, max_len=_LONG),
            "plan": validation.text("plan", plan, max_len=_LONG),
        }
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "rca", who)
            ev = self._new_event(t, "rca_sent", actor=who, now=now, public=True, payload=rca)
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(conn, t, now, book=book, event=ev, rca_sent_at=now)
            extra = {"rca": rca | {"actions_taken": rca["actions"], "resolution_plan": rca["plan"]}}
            self._notify(conn, "rca", d, ev, now, extra=extra, watchers=watchers)
        return Ticket.from_dict(d)

    def resolve(self, number: str, *, actor: Actor | str, now: datetime, body: str) -> Ticket:
        """The permanent fix is delivered: meets resolution (and recovery); response clocks stop;
        an RCA not yet sent stays owed (its clock keeps running, the sweep still handles it)."""
        now, who = validation.check_now(now), self._actor(actor)
        body = validation.text("body", body, max_len=_LONG)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "resolve", who)
            ev = self._new_event(t, "resolved", actor=who, now=now, public=True, body=body)
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(
                conn,
                t,
                now,
                book=book,
                event=ev,
                state="resolved",
                resolved_at=now,
                recovered_at=t.recovered_at or now,
            )
            self._notify(conn, "ticket_resolved", d, ev, now, watchers=watchers)
        return Ticket.from_dict(d)

    def close(self, number: str, *, actor: Actor | str, now: datetime, report: str) -> Ticket:
        """Close: every clock stops; the closing report goes to the reporter and the customer's
        management contacts, with each clock's outcome as computed now."""
        now, who = validation.check_now(now), self._actor(actor)
        report = validation.text("report", report, max_len=_LONG)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "close", who)
            summary = closing_report(conn, self.cfg, t, report, now)  # outcomes before the clocks stop
            ev = self._new_event(t, "closed", actor=who, now=now, public=True, body=report)
            book = self._apply(conn, t, decision, now, book=book)
            d = self._set(conn, t, now, book=book, event=ev, state="closed", closed_at=now)
            closed_by = (
                t.reporter_name if who.kind == "customer" else public_name(who.kind, who.level, who.name)
            )
            self._notify(
                conn,
                "ticket_closed",
                d,
                ev,
                now,
                extra={"report": summary, "closed_by": closed_by},
                watchers=watchers,
            )
        return Ticket.from_dict(d)

    def reopen(self, number: str, *, actor: Actor | str, now: datetime, reason: str) -> Ticket:
        """Reopen a resolved or closed ticket: the owning level's clocks start a new cycle; met
        clocks of the earlier cycle stay met."""
        now, who = validation.check_now(now), self._actor(actor)
        reason = validation.text("reason", reason, max_len=_LONG)
        with self._tx() as conn:
            t, book, watchers = self._load_for_action(conn, number)
            decision = self._require(t, "reopen", who)
            cycle = t.reopen_count + 1
            ev = self._new_event(
                t, "reopened", actor=who, now=now, public=True, body=reason, payload={"cycle": cycle}
            )
            book.finish(self.cfg, [t.id], None, now, met=False)  # e.g. an RCA still owed
            book = self._apply(conn, t, decision, now, book=book, cycle=cycle)
            d = self._set(
                conn,
                t,
                now,
                book=book,
                event=ev,
                state="open",
                reopen_count=cycle,
                resolved_at=None,
                closed_at=None,
                recovered_at=None,
                rca_sent_at=None,
            )
            self._notify(conn, "ticket_updated", d, ev, now, extra={"update": "reopened"}, watchers=watchers)
        return Ticket.from_dict(d)

    # typing aids for the mixin (implemented by TicketService)
    if TYPE_CHECKING:
        cfg: Any

        def _actor(self, actor: Actor | str) -> Actor: ...
        def _tx(self) -> Any: ...
        def _load(self, conn: Any, number: str, *, lock: bool = True) -> Ticket: ...
        def _load_for_action(self, conn: Any, number: str) -> Any: ...
        def _event(self, conn: Any, t: Ticket, kind: str, **kw: Any) -> dict[str, Any]: ...
        def _new_event(self, t: Ticket, kind: str, **kw: Any) -> dict[str, Any]: ...
        def _set(
            self, conn: Any, t: Ticket, now: datetime, *, book: Any = None, event: Any = None, **values: Any
        ) -> dict[str, Any]: ...
        def _notify(
            self, conn: Any, kind: str, ticket: dict, event: dict, now: datetime, **kw: Any
        ) -> None: ...
        def _require(self, t: Ticket, action: str, actor: Actor, *, to_level: int | None = None) -> Any: ...
        def _apply(
            self,
            conn: Any,
            t: Ticket,
            decision: Any,
            now: datetime,
            *,
            book: Any,
            cycle: int | None = None,
        ) -> Any: ...
        def get(self, number: str) -> Ticket: ...

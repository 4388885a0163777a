"""Read side of the API: listing and filtering tickets, and the standing of their SLA clocks.

Reads only (SQLAlchemy Core); every write goes through :class:`xop.tickets.TicketService`.
Clock standings are computed for a whole page at once with the calendar's vectorised
``elapsed_many``: one call per calendar, not one per clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from xop.core.config import XopConfig
from xop.sla.standing import clock_standings
from xop.tickets import clocks, search
from xop.tickets.model import Actor, actions_for
from xop.tickets.tables import attachments, ticket_clocks, ticket_events, tickets
from xop.tickets.watching import watchers_of

#: Sort keys of the list endpoint: column and direction. ``next_due`` (the sweep's next check)
#: puts tickets without a running clock last. The default, :data:`URGENT`, is
#: :func:`urgent_order`.
URGENT = "urgent"
SORTS = {
    "next_due": (tickets.c.next_due_at, "asc"),
    "opened_at": (tickets.c.opened_at, "asc"),
    "-opened_at": (tickets.c.opened_at, "desc"),
    "updated_at": (tickets.c.updated_at, "asc"),
    "-updated_at": (tickets.c.updated_at, "desc"),
}


UNASSIGNED = ""  # TicketFilter.owner: nobody owns the ticket


@dataclass(frozen=True)
class TicketFilter:
    states: Sequence[str] = ()
    levels: Sequence[int] = ()
    urgencies: Sequence[str] = ()
    customer: str | None = None
    breached: bool | None = None
    due_within_minutes: int | None = None
    #: A user name (the board's "mine"), or :data:`UNASSIGNED` for tickets nobody owns.
    owner: str | None = None
    #: Free text (xop.tickets.search): every word in the number, subject, description or an event.
    q: str | None = None


def _running():
    return and_(ticket_clocks.c.met_at.is_(None), ticket_clocks.c.stopped_at.is_(None))


def _overdue(now: datetime):
    """Tickets with a breached running clock: flagged by the sweep, or past due (a paused clock
    is judged at the instant it was paused). The stored order keys say it: the most urgent
    clock's time (:func:`xop.tickets.clocks.ticket_keys`) has passed (index-served)."""
    return and_(tickets.c.urgent_rank == clocks.RANK_DUE, tickets.c.urgent_at <= now)


def _where(f: TicketFilter, now: datetime, dialect: str = "postgresql") -> list[Any]:
    cond: list[Any] = []
    if f.q:
        cond.append(search.matches(dialect, f.q))
    if f.states:
        cond.append(tickets.c.state.in_(list(f.states)))
    if f.levels:
        cond.append(tickets.c.level.in_(list(f.levels)))
    if f.urgencies:
        cond.append(tickets.c.urgency.in_(list(f.urgencies)))
    if f.customer:
        cond.append(tickets.c.customer == f.customer)
    if f.owner is not None:
        cond.append(tickets.c.owner.is_(None) if f.owner == UNASSIGNED else tickets.c.owner == f.owner)
    mine = ticket_clocks.c.ticket_id == tickets.c.id
    if f.breached is not None:
        cond.append(_overdue(now) if f.breached else ~_overdue(now))
    if f.due_within_minutes is not None:
        horizon = now + timedelta(minutes=f.due_within_minutes)
        cond.append(
            exists().where(
                mine, _running(), ticket_clocks.c.paused_at.is_(None), ticket_clocks.c.due_at <= horizon
            )
        )
    return cond


def urgent_order() -> list[Any]:
    """The board's "most urgent first", read from the ticket's stored order keys
    (:func:`xop.tickets.clocks.ticket_keys`) in the order of the index ``ix_tickets_urgent``:
    breached tickets first, the longest overdue leading, then by time left, i.e. by the due time
    of the ticket's most urgent counting or breached clock; tickets whose clocks all wait on the
    customer next, tickets without a running clock last."""
    return [tickets.c.urgent_rank, tickets.c.urgent_at, tickets.c.id]


def urgent_key(t: dict[str, Any]) -> tuple[int, datetime | None, int]:
    """A listed ticket's place in the :data:`URGENT` order (``list_tickets(after=...)``)."""
    return (t["urgent_rank"], t["urgent_at"], t["id"])


def _after_urgent(key: tuple[int, datetime | None, int]):
    """Tickets after ``key`` in (urgent_rank, urgent_at, id) order; ``urgent_at`` is set exactly
    when the rank is :data:`~xop.tickets.clocks.RANK_DUE`, so within the other ranks the id alone
    orders (SQL's row comparison would be NULL there)."""
    rank, at, tid = key
    r, a, i = tickets.c.urgent_rank, tickets.c.urgent_at, tickets.c.id
    within = or_(a > at, and_(a == at, i > tid)) if at is not None else i > tid
    return or_(r > rank, and_(r == rank, within))


@dataclass(frozen=True)
class Listing:
    """A page of tickets and how many match: exactly, or (a search matching more than
    :data:`xop.tickets.search.COUNT_CAP` tickets) ``total_exact`` false and ``total`` the cap."""

    total: int
    total_exact: bool
    items: list[dict[str, Any]]


def list_tickets(
    conn: Connection,
    cfg: XopConfig,
    f: TicketFilter,
    *,
    now: datetime,
    sort: str = URGENT,
    limit: int = 50,
    offset: int = 0,
    after: tuple[int, datetime | None, int] | None = None,
    counted: bool = True,
) -> Listing:
    """One page of tickets (dicts with ``breached`` and ``next_clock``) and the count: exact
    without free text; with free text counted up to ``search.COUNT_CAP``.

    A search is read in two steps so that a rare word does not hang on the planner's guess:
    first the ids of up to ``COUNT_CAP + 1`` matches in any order (a GIN bitmap for a rare word,
    a scan that stops early for a common one), which give the count; when that is all of them,
    the page is those rows sorted (at most 1,000 primary-key reads and order keys). Only a
    broader match reads the page with the match as a filter, in the order of the sort's index
    (``ix_tickets_urgent``, ``ix_tickets_next_due_at``): more than one row in 1,000 matches, so a
    page of 50 is found within about 50,000 rows at 1,000,000 tickets.

    ``after`` (the :data:`URGENT` order only): the page after the ticket with that order key
    (:func:`urgent_key`), read from the index where it left off instead of counting ``offset``
    rows again; with ``counted`` false the count of a list without free text is not taken
    (``total`` is the page's length, not exact): the CSV export reads the board that way.
    """
    cond = _where(f, now, conn.dialect.name)
    if after is not None:
        if sort != URGENT:
            raise ValueError("after= reads the urgent order only")
        cond.append(_after_urgent(after))
    if sort == URGENT:
        order = urgent_order()
    else:
        column, direction = SORTS[sort]
        key = column.asc() if direction == "asc" else column.desc()
        order = [key.nulls_last(), tickets.c.id]
    page = select(tickets).order_by(*order).limit(limit).offset(offset)
    if f.q:
        ids = conn.execute(select(tickets.c.id).where(*cond).limit(search.COUNT_CAP + 1)).scalars().all()
        total, exact = min(len(ids), search.COUNT_CAP), len(ids) <= search.COUNT_CAP
        # With the ids, cond again: a ticket changed between the two statements still obeys it.
        page = page.where(tickets.c.id.in_(ids), *cond) if exact else page.where(*cond)
    else:
        page = page.where(*cond)
        total = None  # the page's length when not counted
        if counted:
            total = conn.execute(select(func.count()).select_from(tickets).where(*cond)).scalar_one()
        exact = counted
    rows = conn.execute(page).all() if total or not f.q else []
    items = [dict(r._mapping) for r in rows]
    if total is None:
        total = len(items)
    clock_rows = _clock_rows(conn, [t["id"] for t in items], running_only=True)
    standings = clock_standings(cfg, clock_rows, now)
    by_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row, view in zip(clock_rows, standings, strict=True):
        by_ticket[row["ticket_id"]].append(view)
    for t in items:
        _attach_clock_summary(t, by_ticket.get(t["id"], []))
    return Listing(total, exact, items)


def ticket_detail(
    conn: Connection, cfg: XopConfig, number: str, *, now: datetime, actor: Actor | str | None = None
) -> dict[str, Any] | None:
    """The ticket with its clocks (standings at ``now``), its events and the actions ``actor`` may
    take, read from the transition table (:func:`xop.tickets.model.actions_for`). A plain string
    is a staff user (level from ``staff:``); no actor: a staff user of the default level."""
    row = conn.execute(select(tickets).where(tickets.c.number == number.strip().upper())).first()
    if row is None:
        return None
    t = dict(row._mapping)
    clock_rows = _clock_rows(conn, [t["id"]], running_only=False)
    t["clocks"] = clock_standings(cfg, clock_rows, now)
    _attach_clock_summary(t, [c for c in t["clocks"] if c["status"] in ("running", "paused", "breached")])
    t["events"] = [
        dict(r._mapping)
        for r in conn.execute(
            select(ticket_events).where(ticket_events.c.ticket_id == t["id"]).order_by(ticket_events.c.id)
        )
    ]
    _attach_files(conn, t)
    if not isinstance(actor, Actor):
        name = actor or "staff"
        actor = Actor.staff(name, cfg.staff_level(name) if actor else cfg.staff.default_level)
    t["actions"] = actions_for(t, actor)
    t["watchers"] = watchers_of(conn, t["id"])
    t["watching"] = actor.name in t["watchers"]
    return t


def _attach_files(conn: Connection, t: dict[str, Any]) -> None:
    """Each event's files (by email or from the portal), without their bytes."""
    by_event: dict[int, list[dict[str, Any]]] = {}
    cols = [c for c in attachments.c if c.name not in ("content", "path")]
    for r in conn.execute(select(*cols).where(attachments.c.ticket_id == t["id"]).order_by(attachments.c.id)):
        a = dict(r._mapping)
        a["via"] = "portal" if a["inbound_message_id"] is None else "email"
        by_event.setdefault(a["event_id"], []).append(a)
    for e in t["events"]:
        e["attachments"] = by_event.get(e["id"], [])


def _attach_clock_summary(t: dict[str, Any], live: list[dict[str, Any]]) -> None:
    t["breached"] = any(c["status"] == "breached" for c in live)
    t["next_clock"] = min(live, key=lambda c: (c["status"] == "paused", c["remaining_seconds"]), default=None)


def _clock_rows(conn: Connection, ticket_ids: list[int], *, running_only: bool) -> list[dict[str, Any]]:
    if not ticket_ids:
        return []
    q = (
        select(ticket_clocks, tickets.c.customer)
        .join(tickets, tickets.c.id == ticket_clocks.c.ticket_id)
        .where(ticket_clocks.c.ticket_id.in_(ticket_ids))
        .order_by(ticket_clocks.c.ticket_id, ticket_clocks.c.id)
    )
    if running_only:
        q = q.where(_running())
    return [dict(r._mapping) for r in conn.execute(q)]

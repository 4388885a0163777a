"""The stored clocks, tickets and events a report needs, read set-based into pandas frames.

Three queries per report window, whatever the number of tickets: the clocks that may be
decided in the window (with their ticket's columns), the tickets opened in it, and the events
that move urgencies, cycles and recoveries. Datetimes come back as ``datetime64[ns, UTC]``.

Columns from a fixed vocabulary (clock name and calendar, event kind, urgencies) come back as
``pandas.Categorical`` with the vocabulary's order as categories: the database sends the
position (a ``CASE``), so neither the driver nor pandas handles one string per row, and the
figures group on the integer codes without hashing strings (``bench/bench_sla_report.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, case, or_, select

from xop.core.config import ClockPolicy
from xop.core.vocabulary import ACTIVE_STATES, CLOCK_NAMES, URGENCY_ORDER
from xop.reports.outcomes import DT_COLUMNS
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

#: Events the figures read: urgency changes, cycle starts and ends, recoveries.
EVENT_KINDS = ("opened", "reopened", "classified", "escalated", "recovered", "resolved", "closed")
TICKET_COLUMNS = ("number", "customer", "system", "source", "subject", "level", "state", "opened_at")
CALENDARS: tuple[str, ...] = get_args(ClockPolicy.model_fields["calendar"].annotation)
#: Column -> its vocabulary, sent by the database as the position in it (-1: null or unknown).
CODED = {
    "name": CLOCK_NAMES,
    "calendar": CALENDARS,
    "kind": EVENT_KINDS,
    "urgency": URGENCY_ORDER,
    "ticket_urgency": URGENCY_ORDER,
    "proposed_urgency": URGENCY_ORDER,
}


@dataclass(frozen=True)
class Frames:
    clocks: pd.DataFrame
    tickets: pd.DataFrame
    events: pd.DataFrame


def coded(column, label: str):
    """``column`` as its position in ``CODED[label]`` (-1 for null or a value outside it)."""
    return case({v: i for i, v in enumerate(CODED[label])}, value=column, else_=-1).label(label)


def categorical(codes, label: str) -> pd.Categorical:
    """Positions in ``CODED[label]`` (-1: missing) as a Categorical of that vocabulary."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(CODED[label]))


def _frame(conn: Connection, query, dt_columns: tuple[str, ...]) -> pd.DataFrame:
    result = conn.execute(query)
    df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in dt_columns:
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True).dt.as_unit("ns")
    for col in CODED:
        if col in df:
            df[col] = categorical(df[col].to_numpy(dtype=np.int64) if len(df) else [], col)
    return df


def load_frames(conn: Connection, start: datetime, end: datetime, customer: str | None = None) -> Frames:
    """Clocks decided (or still undecided) in ``[start, end)``, tickets and events, of one customer or all."""
    c, t, e = ticket_clocks.c, tickets.c, ticket_events.c
    scope = [t.customer == customer] if customer else []
    clock_where = [
        c.started_at < end,
        or_(and_(c.met_at.is_(None), c.stopped_at.is_(None)), c.met_at >= start, c.stopped_at >= start),
        *scope,
    ]
    clock_q = (
        select(
            c.id,
            c.ticket_id,
            coded(c.name, "name"),
            c.cycle,
            coded(c.calendar, "calendar"),
            c.started_at,
            c.target_seconds,
            c.paused_seconds,
            c.paused_at,
            c.due_at,
            c.met_at,
            c.breached_at,
            c.stopped_at,
            *(t[k] for k in TICKET_COLUMNS if k != "level"),
            t.level.label("ticket_level"),
            coded(t.urgency, "ticket_urgency"),
            coded(t.proposed_urgency, "proposed_urgency"),
        )
        .join(tickets, tickets.c.id == c.ticket_id)
        .where(*clock_where)
        .order_by(c.id)
    )
    ticket_q = (
        select(tickets.c.id, *(t[k] for k in TICKET_COLUMNS), coded(t.urgency, "urgency"), t.reopen_count)
        .where(t.opened_at < end, *scope)
        .where(or_(t.opened_at >= start, t.state.in_(ACTIVE_STATES)))
        .order_by(tickets.c.id)
    )
    in_window = (
        select(e.ticket_id)
        .join(tickets, tickets.c.id == e.ticket_id)
        .where(e.at >= start, e.at < end, *scope)
        .union(select(c.ticket_id).join(tickets, tickets.c.id == c.ticket_id).where(*clock_where))
    )
    event_q = (
        select(
            e.ticket_id,
            e.at,
            coded(e.kind, "kind"),
            # The urgency an event sets: a reclassification's "to", else the payload's "urgency".
            coded(
                case(
                    (e.kind == "classified", e.payload["to"].as_string()),
                    else_=e.payload["urgency"].as_string(),
                ),
                "urgency",
            ),
        )
        .where(e.kind.in_(EVENT_KINDS), e.at < end, e.ticket_id.in_(in_window))
        .order_by(e.id)
    )
    clocks = _frame(conn, clock_q, DT_COLUMNS)
    ticket_frame = _frame(conn, ticket_q, ("opened_at",))
    events = _frame(conn, event_q, ("at",))
    return Frames(clocks, ticket_frame, events)


__all__ = ["CALENDARS", "CODED", "EVENT_KINDS", "Frames", "categorical", "coded", "load_frames"]

"""The board's filters as one FastAPI dependency: the list route and the CSV export take the same
query parameters and build the same :class:`~xop.api.queries.TicketFilter`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import Field

from xop.api import queries
from xop.api.deps import UserDep
from xop.api.schemas import State, Text, Urgency
from xop.tickets import search


def board_filter(
    user: UserDep,
    state: Annotated[list[State] | None, Query(description="Repeat to match any of several states.")] = None,
    level: Annotated[list[Annotated[int, Field(ge=1, le=4)]] | None, Query()] = None,
    urgency: Annotated[list[Urgency] | None, Query()] = None,
    customer: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
    breached: Annotated[bool | None, Query(description="Has (or has not) a running clock past due.")] = None,
    due_within: Annotated[
        int | None,
        Query(
            ge=0,
            le=525_600,
            description="Minutes: a running clock falls due within this time (or is overdue).",
        ),
    ] = None,
    owner: Annotated[
        Text | None,  # a user name reaches the database: no NUL, no lone surrogate
        Query(
            min_length=1,
            max_length=120,
            description="`mine` (the requesting user), `unassigned` (nobody), or a user name.",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Free text: every word in the number, subject, description or an update.",
        ),
    ] = None,
) -> queries.TicketFilter:
    if q is not None:
        search.tokens(q)  # refused here (422 naming q), before a streamed answer has started
    owned = {"mine": user.get_name(), "unassigned": queries.UNASSIGNED}.get(owner or "", owner)
    return queries.TicketFilter(
        q=q,
        owner=owned,
        states=state or (),
        levels=level or (),
        urgencies=urgency or (),
        customer=customer,
        breached=breached,
        due_within_minutes=due_within,
    )


BoardFilter = Annotated[queries.TicketFilter, Depends(board_filter)]

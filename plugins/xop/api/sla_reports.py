"""REST routes of the SLA reports feature: a ticket's clock timeline and the compliance view.

``GET /api/tickets/{number}/timeline``: per clock, every step that explains where it stands
(start, pauses, reclassifications, escalations, support-hours gaps, due, outcome) with the
business time used at each. ``?public=true`` gives the customer's view (no internal events, no
actors). ``GET /api/compliance``: this month so far per level and clock, open tickets by level
and age, breaches of this week: the monthly report's figures, computed by the same code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder

from xop.api.deps import NowDep, ServiceDep, UserDep
from xop.api.routes import ERRORS
from xop.api.schemas import NUMBER_PATTERN
from xop.reports.live import compliance_view, ticket_timeline

router = APIRouter(prefix="/api", tags=["sla"], responses=ERRORS)


@router.get("/tickets/{number}/timeline", summary="The explainable timeline of a ticket's SLA clocks")
def timeline(
    svc: ServiceDep,
    now: NowDep,
    _user: UserDep,
    number: str = Path(pattern=NUMBER_PATTERN, description="Ticket number, e.g. XOP-000123."),
    public: bool = Query(False, description="the customer's view: public events only, no actors"),
) -> dict[str, Any]:
    with svc.engine.connect() as conn:
        return jsonable_encoder(ticket_timeline(conn, svc.cfg, number, now=now, public_only=public))


@router.get("/compliance", summary="SLA compliance: this month per level and clock, open tickets, breaches")
def compliance(svc: ServiceDep, now: NowDep, _user: UserDep) -> dict[str, Any]:
    with svc.engine.connect() as conn:
        return jsonable_encoder(compliance_view(conn, svc.cfg, now=now))

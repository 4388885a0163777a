"""REST routes under ``/xop/api``: list, read, open and every lifecycle action of a ticket."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from xop.api import auth, idempotency, queries
from xop.api.deps import CreatorDep, NowDep, ReaderDep, ServiceDep, StaffDep, UserDep
from xop.api.filters import BoardFilter
from xop.api.schemas import (
    NUMBER_PATTERN,
    ActionPreview,
    AssignBody,
    BodyText,
    ClassifyBody,
    CloseBody,
    EmptyBody,
    ErrorBody,
    EscalateBody,
    Me,
    OpenTicketBody,
    OptionalBodyText,
    RcaBody,
    ReasonBody,
    RequiredReasonBody,
    TicketDetail,
    TicketPage,
)
from xop.core.errors import TicketNotFound
from xop.tickets import Actor, TicketService, decide
from xop.tickets.model import ACTIONS, level_of
from xop.tickets.ownership import colleagues, ownership_actions_for
from xop.tickets.preview import METHODS as PREVIEWED

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be parsed (not UTF-8 JSON)."},
    401: {"model": ErrorBody, "description": "No valid Airflow token."},
    403: {"model": ErrorBody, "description": "Read only: names the permission missing."},
    404: {"model": ErrorBody, "description": "No such ticket."},
    409: {"model": ErrorBody, "description": "The ticket's state or level does not allow this action."},
    422: {"model": ErrorBody, "description": "Invalid input; `detail[].loc` names the field."},
}

router = APIRouter(prefix="/api", responses={400: ERRORS[400], 401: ERRORS[401]})

Number = Annotated[str, Path(pattern=NUMBER_PATTERN, description="Ticket number, e.g. XOP-000123.")]
IdemKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Retrying a POST with the same key replays the first answer instead of acting twice.",
    ),
]


def _detail(
    svc: TicketService, number: str, now: datetime, actor: Actor, refusal: auth.Refusal | None = None
) -> dict[str, Any]:
    """The ticket as ``actor`` sees it: the actions it may take, and why not the others (all of
    them when the auth manager does not let the user act at all)."""
    with svc.engine.connect() as conn:
        detail = queries.ticket_detail(conn, svc.cfg, number, now=now, actor=actor)
    if detail is None:
        raise TicketNotFound(f"no ticket {number!r}")
    refused = {a: decide(a, detail, actor).why_not for a in ACTIONS if a not in detail["actions"]}
    if refusal is not None:
        refused = {a: refusal.message for a in detail["actions"]} | refused
        detail["actions"] = []
    detail["refused_actions"] = [{"action": a, "why": refused[a]} for a in ACTIONS if a in refused]
    detail["ownership_actions"] = [] if refusal else ownership_actions_for(svc.cfg, detail, actor)
    detail["colleagues"] = colleagues(svc.cfg, level_of(detail))
    detail["may_watch"] = refusal is None and svc.cfg.staff.email_of(actor.name) is not None
    return TicketDetail.model_validate(detail).model_dump(mode="json")


def _post(
    request: Request,
    svc: TicketService,
    *,
    actor: Actor,
    key: str | None,
    body: Any,
    now: datetime,
    act: Callable[[], str],
    created: bool = False,
) -> JSONResponse:
    """Run ``act`` (returns the ticket number) once per Idempotency-Key; answer with the ticket."""
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    if key is not None:
        key = idempotency.check_key(key)
        fp = idempotency.fingerprint(request.method, request.url.path, jsonable_encoder(body))
        stored = idempotency.claim(svc.engine, actor=actor.name, key=key, fp=fp, now=now)
        if stored is not None:
            return _respond(request, stored.status_code, stored.body, replayed=True)
    try:
        number = act()
    except BaseException:
        if key is not None:  # refused: nothing changed, so the key may be used again
            idempotency.release(svc.engine, actor=actor.name, key=key)
        raise
    # From here on the action happened: a failure leaves the key "in progress", never free.
    payload = _detail(svc, number, now, actor)
    if key is not None:
        idempotency.complete(svc.engine, actor=actor.name, key=key, status_code=code, body=payload, now=now)
    return _respond(request, code, payload, replayed=False)


def _respond(request: Request, code: int, payload: dict[str, Any], *, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if code == status.HTTP_201_CREATED:
        headers["Location"] = str(request.url_for("get_ticket", number=payload["number"]))
    return JSONResponse(payload, status_code=code, headers=headers)


@router.get("/me", response_model=Me, summary="The authenticated user, as actions record them")
def me(user: UserDep, who: ReaderDep, svc: ServiceDep) -> Me:
    return Me(
        support_zone=svc.cfg.calendar.timezone,
        name=user.get_name(),
        roles=list(auth.user_roles(user)),
        level=who.actor.level,
        may_act=who.refusal is None,
        why_not=who.refusal.message if who.refusal else None,
    )


@router.get("/customers", summary="Customers and their systems (for forms)")
def customers(svc: ServiceDep, _user: UserDep) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "name": c.name, "systems": [{"id": s.id, "name": s.name} for s in c.systems]}
        for c in svc.cfg.customers
    ]


@router.get(
    "/tickets",
    response_model=TicketPage,
    summary="List tickets, most urgent first: breached first, then by time left",
)
def list_tickets(
    svc: ServiceDep,
    _user: UserDep,
    now: NowDep,
    f: BoardFilter,
    sort: Annotated[
        Literal["urgent", "next_due", "opened_at", "-opened_at", "updated_at", "-updated_at"],
        Query(description="`urgent`: breached first, then by time left; `next_due`: the sweep's next check."),
    ] = "urgent",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> TicketPage:
    with svc.engine.connect() as conn:
        page = queries.list_tickets(conn, svc.cfg, f, now=now, sort=sort, limit=limit, offset=offset)
    return TicketPage.model_validate(
        {
            "total": page.total,
            "total_exact": page.total_exact,
            "limit": limit,
            "offset": offset,
            "now": now,
            "items": page.items,
        }
    )


@router.get(
    "/tickets/{number}",
    response_model=TicketDetail,
    name="get_ticket",
    summary="One ticket with its history and SLA clocks",
    responses={404: ERRORS[404], 422: ERRORS[422]},
)
def get_ticket(number: Number, svc: ServiceDep, who: ReaderDep, now: NowDep) -> dict[str, Any]:
    return _detail(svc, number, now, who.actor, who.refusal)


_ACTION_ERRORS = {k: ERRORS[k] for k in (403, 404, 409, 422)}


@router.post(
    "/tickets",
    response_model=TicketDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Open a ticket",
    responses={403: ERRORS[403], 409: ERRORS[409], 422: ERRORS[422]},
)
def open_ticket(
    request: Request,
    body: OpenTicketBody,
    svc: ServiceDep,
    actor: CreatorDep,
    now: NowDep,
    key: IdemKey = None,
) -> JSONResponse:
    def act() -> str:
        return svc.open(**body.model_dump(), actor=actor, now=now).number

    return _post(request, svc, actor=actor, key=key, body=body.model_dump(), now=now, act=act, created=True)


def _action(name: str, summary: str, body_model: type, method: str, args: Callable[[Any], dict]) -> None:
    """Register ``POST /tickets/{number}/<name>`` calling ``svc.<method>(number, actor=, now=,
    **args(body))``, and for the lifecycle actions its dry run ``POST .../<name>/preview`` (the
    same body and checks, nothing written: :mod:`xop.tickets.preview`)."""

    def endpoint(
        request: Request,
        number: Number,
        body: body_model,  # type: ignore[valid-type]
        svc: ServiceDep,
        actor: StaffDep,
        now: NowDep,
        key: IdemKey = None,
    ) -> JSONResponse:
        def act() -> str:
            return getattr(svc, method)(number, actor=actor, now=now, **args(body)).number

        return _post(request, svc, actor=actor, key=key, body=body.model_dump(), now=now, act=act)

    endpoint.__annotations__["body"] = body_model  # a local: resolve it here, not by name
    endpoint.__name__ = f"{name}_ticket"
    router.add_api_route(
        f"/tickets/{{number}}/{name}",
        endpoint,
        methods=["POST"],
        response_model=TicketDetail,
        summary=summary,
        responses=_ACTION_ERRORS,
        name=f"{name}_ticket",
    )
    if name not in PREVIEWED:
        return

    def preview(
        number: Number,
        body: body_model,  # type: ignore[valid-type]
        svc: ServiceDep,
        actor: StaffDep,
        now: NowDep,
    ) -> dict[str, Any]:
        done = svc.dry_run(name, number, actor=actor, now=now, **args(body))
        return ActionPreview.model_validate(asdict(done)).model_dump(mode="json")

    preview.__annotations__["body"] = body_model
    preview.__name__ = f"preview_{name}_ticket"
    router.add_api_route(
        f"/tickets/{{number}}/{name}/preview",
        preview,
        methods=["POST"],
        response_model=ActionPreview,
        summary=f"Dry run of {name}: who would be emailed, which clocks would stop or start",
        responses=_ACTION_ERRORS,
        name=f"preview_{name}_ticket",
    )


_action(
    "respond",
    "Public reply by the owning level (meets its response clock)",
    BodyText,
    "respond",
    lambda b: {"body": b.body},
)
_action("note", "Internal note (history only)", BodyText, "note", lambda b: {"body": b.body})
_action(
    "classify",
    "Set or change the urgency",
    ClassifyBody,
    "classify",
    lambda b: {"urgency": b.urgency, "reason": b.reason},
)
_action(
    "escalate",
    "Escalate to the next (or a given) level",
    EscalateBody,
    "escalate",
    lambda b: {"to_level": b.to_level, "reason": b.reason},
)
_action("pause", "Wait on the customer: clocks pause", ReasonBody, "pause", lambda b: {"reason": b.reason})
_action("resume", "The customer answered: clocks run again", EmptyBody, "resume", lambda b: {})
_action(
    "recover",
    "Service restored (meets recovery, starts the RCA clock at L3+)",
    OptionalBodyText,
    "recover",
    lambda b: {"body": b.body},
)
_action(
    "rca",
    "Send the root cause analysis",
    RcaBody,
    "send_rca",
    lambda b: {"cause": b.cause, "extent": b.extent, "actions": b.actions, "plan": b.plan},
)
_action("resolve", "Permanent fix delivered", BodyText, "resolve", lambda b: {"body": b.body})
_action("close", "Close with a closing report", CloseBody, "close", lambda b: {"report": b.report})
_action(
    "reopen",
    "Reopen a resolved or closed ticket",
    RequiredReasonBody,
    "reopen",
    lambda b: {"reason": b.reason},
)

# i16: ticket owners (xop.tickets.ownership)
_action("take", "Take the ticket (assign it to me)", EmptyBody, "take", lambda b: {})
_action(
    "assign",
    "Assign the ticket to a staff user of the owning level",
    AssignBody,
    "assign",
    lambda b: {"to": b.to},
)
_action("unassign", "Nobody owns the ticket any more", EmptyBody, "unassign", lambda b: {})

# i16: watchers (xop.tickets.watching)
_action(
    "watch",
    "Watch the ticket: get its updates by email (staff with an address)",
    EmptyBody,
    "watch",
    lambda b: {},
)
_action("unwatch", "Stop watching the ticket", EmptyBody, "unwatch", lambda b: {})

"""REST routes under ``/xop/api``: list, read, open and every lifecycle action of a ticket."""

from __future__ import annotations

from collections.abc import Callable
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


@router.get("/tickets", response_model=TicketPage, summary="List tickets, most urgent first")
def list_tickets(
    svc: ServiceDep,
    _user: UserDep,
    now: NowDep,
    f: BoardFilter,
    sort: Annotated[
        Literal["next_due", "opened_at", "-opened_at", "updated_at", "-updated_at"], Query()
    ] = "next_due",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> TicketPage:
    with svc.engine.connect() as conn:
        total, items = queries.list_tickets(conn, svc.cfg, f, now=now, sort=sort, limit=limit, offset=offset)
    return TicketPage.model_validate(
        {"total": total, "limit": limit, "offset": offset, "now": now, "items": items}
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


def _action(name: str, summary: str, body_model: type, call: Callable[..., Any]) -> None:
    """Register ``POST /tickets/{number}/<name>`` calling ``call(svc, number, body, actor, now)``."""

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
            return call(svc, number, body, actor, now).number

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


_action(
    "respond",
    "Public reply by the owning level (meets its response clock)",
    BodyText,
    lambda s, n, b, a, now: s.respond(n, actor=a, body=b.body, now=now),
)
_action(
    "note",
    "Internal note (history only)",
    BodyText,
    lambda s, n, b, a, now: s.note(n, actor=a, body=b.body, now=now),
)
_action(
    "classify",
    "Set or change the urgency",
    ClassifyBody,
    lambda s, n, b, a, now: s.classify(n, urgency=b.urgency, reason=b.reason, actor=a, now=now),
)
_action(
    "escalate",
    "Escalate to the next (or a given) level",
    EscalateBody,
    lambda s, n, b, a, now: s.escalate(n, to_level=b.to_level, reason=b.reason, actor=a, now=now),
)
_action(
    "pause",
    "Wait on the customer: clocks pause",
    ReasonBody,
    lambda s, n, b, a, now: s.pause(n, reason=b.reason, actor=a, now=now),
)
_action(
    "resume",
    "The customer answered: clocks run again",
    EmptyBody,
    lambda s, n, b, a, now: s.resume(n, actor=a, now=now),
)
_action(
    "recover",
    "Service restored (meets recovery, starts the RCA clock at L3+)",
    OptionalBodyText,
    lambda s, n, b, a, now: s.recover(n, body=b.body, actor=a, now=now),
)
_action(
    "rca",
    "Send the root cause analysis",
    RcaBody,
    lambda s, n, b, a, now: s.send_rca(
        n, cause=b.cause, extent=b.extent, actions=b.actions, plan=b.plan, actor=a, now=now
    ),
)
_action(
    "resolve",
    "Permanent fix delivered",
    BodyText,
    lambda s, n, b, a, now: s.resolve(n, body=b.body, actor=a, now=now),
)
_action(
    "close",
    "Close with a closing report",
    CloseBody,
    lambda s, n, b, a, now: s.close(n, report=b.report, actor=a, now=now),
)
_action(
    "reopen",
    "Reopen a resolved or closed ticket",
    RequiredReasonBody,
    lambda s, n, b, a, now: s.reopen(n, reason=b.reason, actor=a, now=now),
)

# i16: ticket owners (xop.tickets.ownership)
_action(
    "take",
    "Take the ticket (assign it to me)",
    EmptyBody,
    lambda s, n, b, a, now: s.take(n, actor=a, now=now),
)
_action(
    "assign",
    "Assign the ticket to a staff user of the owning level",
    AssignBody,
    lambda s, n, b, a, now: s.assign(n, to=b.to, actor=a, now=now),
)
_action(
    "unassign",
    "Nobody owns the ticket any more",
    EmptyBody,
    lambda s, n, b, a, now: s.unassign(n, actor=a, now=now),
)

"""REST routes of the mail intake: the quarantine (list, read, accept, reject) and a ticket's mail.

``GET /api/quarantine`` lists the messages the intake kept for a person; ``POST
/api/quarantine/{id}/accept`` opens a ticket for a customer or attaches the message to a ticket
(as the sender's public update); ``POST /api/quarantine/{id}/reject`` marks it rejected. Nothing
is ever deleted: ``GET /api/inbound/{id}/source`` returns any message byte for byte.
``GET /api/tickets/{number}/mail``: the ticket's attachments, the messages that reached it and
the bounces of the emails it sent; ``GET /api/attachments/{id}`` downloads one attachment.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from xop.api.deps import ActorDep, NowDep, ServiceDep, UserDep
from xop.api.routes import ERRORS
from xop.api.schemas import NUMBER_PATTERN
from xop.core.errors import InvalidInput, TicketNotFound
from xop.intake import quarantine
from xop.intake.tables import OUTCOMES
from xop.tickets.attachments import content_disposition, read

router = APIRouter(prefix="/api", tags=["mail intake"], responses=ERRORS)

#: Row ids are BIGINT: larger values are refused with 422 rather than reaching the database.
MAX_ID = 2**63 - 1
InboundId = Annotated[int, Path(ge=1, le=MAX_ID, description="Id of the inbound message.")]


class AcceptBody(BaseModel):
    """Either ``ticket`` (attach to it) or ``customer`` (open a ticket for it)."""

    model_config = ConfigDict(extra="forbid")
    ticket: str | None = Field(None, pattern=NUMBER_PATTERN, description="attach to this ticket")
    customer: str | None = Field(None, max_length=64, description="open a ticket for this customer")
    system: str | None = Field(None, max_length=64)
    reporter_email: str | None = Field(None, max_length=254, description="when the message has no sender")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=2000)


def _safe(rows: Any) -> Any:
    return jsonable_encoder(rows)


@router.get("/quarantine", summary="Messages the intake kept for a person (newest first)")
def list_quarantine(
    svc: ServiceDep,
    _user: UserDep,
    outcome: str = Query("quarantined", description=f"one of {', '.join(OUTCOMES)}"),
    limit: int = Query(100, ge=1, le=500),
    before_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise InvalidInput("outcome", f"must be one of {', '.join(OUTCOMES)}; got {outcome!r}")
    items = quarantine.list_messages(svc.engine, outcome=outcome, limit=limit, before_id=before_id)
    return {"items": _safe(items), "total": quarantine.count(svc.engine, outcome)}


@router.get("/inbound/{inbound_id}", summary="One inbound message: its record and readable text")
def get_inbound(inbound_id: InboundId, svc: ServiceDep, _user: UserDep) -> dict[str, Any]:
    return _safe(quarantine.message(svc.engine, inbound_id))


@router.get("/inbound/{inbound_id}/source", summary="The original message, byte for byte")
def inbound_source(inbound_id: InboundId, svc: ServiceDep, _user: UserDep) -> Response:
    raw = quarantine.source(svc.engine, inbound_id)
    return Response(
        raw,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="inbound-{inbound_id}.eml"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/quarantine/{inbound_id}/accept", summary="Accept: open a ticket, or attach to one")
def accept(
    inbound_id: InboundId, body: AcceptBody, svc: ServiceDep, actor: ActorDep, now: NowDep
) -> dict[str, Any]:
    return _safe(
        quarantine.accept(
            svc.engine,
            svc.cfg,
            inbound_id,
            staff=actor,
            now=now,
            ticket=body.ticket,
            customer=body.customer,
            system=body.system,
            reporter_email=body.reporter_email,
        )
    )


@router.post("/quarantine/{inbound_id}/reject", summary="Reject: keep the message, marked rejected")
def reject(
    inbound_id: InboundId, body: RejectBody, svc: ServiceDep, actor: ActorDep, now: NowDep
) -> dict[str, Any]:
    return _safe(quarantine.reject(svc.engine, inbound_id, staff=actor, now=now, reason=body.reason))


@router.get("/tickets/{number}/mail", summary="A ticket's attachments, inbound messages and bounces")
def ticket_mail(
    svc: ServiceDep,
    _user: UserDep,
    number: str = Path(pattern=NUMBER_PATTERN, description="Ticket number, e.g. XOP-000123."),
) -> dict[str, Any]:
    return _safe(quarantine.ticket_mail(svc.engine, number))


@router.get("/attachments/{attachment_id}", summary="Download an attachment (checked against its sha256)")
def attachment(
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: ServiceDep, _user: UserDep
) -> Response:
    found = read(svc.engine, svc.cfg, attachment_id)
    if found is None:
        raise TicketNotFound(f"no attachment {attachment_id}")
    meta, data = found
    return Response(
        data,
        media_type="application/octet-stream",  # never rendered by the browser as the sender typed it
        headers={
            "Content-Disposition": content_disposition(meta["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "X-Checksum-SHA256": meta["sha256"],
        },
    )

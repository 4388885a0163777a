"""The ticket pages of a signed-in contact: one ticket, its L1 actions, opening a new one.

Every action goes through :class:`~xop.tickets.service.TicketService` as the customer actor. A
ticket of another customer, or outside a link session's one ticket, is a 404 exactly like a
ticket that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection, func, select
from starlette.concurrency import run_in_threadpool

from xop.core.errors import InvalidInput, InvalidTransition, TicketError
from xop.core.vocabulary import URGENCY_ORDER
from xop.portal import mailer
from xop.portal.contacts import find_contact
from xop.portal.forms import (
    FILES_FIELD,
    UnreadableForm,
    Upload,
    clean_number,
    csrf_refusal,
    read_form,
    read_upload_form,
)
from xop.portal.pages import message, render
from xop.portal.routes_auth import follow_link, signin_page
from xop.portal.state import LIMITS, Portal, portal_of
from xop.portal.views import public_attachment, ticket_customer, ticket_view, upload_rules
from xop.reports.live import public_timeline
from xop.tickets import Actor, attachments
from xop.tickets.service import service_on
from xop.tickets.tables import ticket_events

router = APIRouter()

NOTICES = {
    "replied": "Your reply was added.",
    "closed": "The ticket is closed. Thank you.",
    "escalated": "The ticket is escalated to XOP Networks support (Level 2).",
    "opened": "Your ticket is open. We emailed you the acknowledgement.",
}
URGENCY_TEXT = {
    "critical": "Critical: service is down or badly degraded",
    "major": "Major: needs correcting, service still works",
    "minor": "Minor: a complaint, e.g. wrong time of day",
}


def _not_found(request: Request, number: str | None) -> Response:
    portal_of(request).log(request, "view_ticket", "not_found", ticket=number)
    return message(request, "Not found", "There is nothing here, or it is not yours to see.", status=404)


def _visible(request: Request, raw: str, *, look: bool = True) -> tuple[str | None, Response | None]:
    """(number, None) if the signed-in contact may see the ticket; else (None, the page to show).
    ``look=False`` leaves the ticket's customer to the caller (the page reads the ticket anyway)."""
    number = clean_number(raw)
    session = request.state.session
    if session is None:
        return None, signin_page(request, f"/tickets/{number}" if number else "/", status=401)
    if number is None or (session.ticket is not None and session.ticket != number):
        return None, _not_found(request, number or raw[:16])
    if look:
        customer = ticket_customer(portal_of(request).engine, number)
        if customer is None or not session.may_see(customer, number):
            return None, _not_found(request, number)
    return number, None


def _ticket_page(
    request: Request, number: str, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    portal = portal_of(request)
    session = request.state.session
    view = ticket_view(portal.cfg, portal.engine, number, session.email)
    if view is None or not session.may_see(view.customer, number):
        return _not_found(request, number)
    timeline = public_timeline(portal.engine, portal.cfg, number, now=portal.now())  # i17: clock timeline
    return render(
        request,
        "ticket.html",
        {
            "title": number,
            "t": view,
            "notice": notice,
            "error": error,
            "limits": LIMITS,
            "timeline": timeline,
            "files": upload_rules(portal.cfg),
        },
        status=status,
    )


@router.get("/tickets/{number}")
def ticket(
    request: Request, background: BackgroundTasks, number: str, k: str | None = None, done: str | None = None
) -> Response:
    if k is not None:
        clean = clean_number(number)
        if clean is None:
            return _not_found(request, number[:16])
        return follow_link(request, clean, k)
    number, refused = _visible(request, number, look=False)
    if refused:
        return refused
    page = _ticket_page(request, number, notice=NOTICES.get(done or ""))
    if page.status_code == 200:
        background.add_task(portal_of(request).log, request, "view_ticket", "ok", ticket=number)
    return page


ACTIONS = {
    # action: (form field, required, limit, done)
    "reply": ("body", True, LIMITS["body"], "replied"),
    "close": ("note", True, LIMITS["note"], "closed"),
    "escalate": ("reason", False, LIMITS["note"], "escalated"),
}


def _unreadable(request: Request, exc: UnreadableForm) -> Response:
    portal_of(request).log(request, "upload", "refused", detail=str(exc))
    limit = portal_of(request).cfg.portal.max_attachments
    return message(
        request,
        "The form could not be read",
        f"Attachments: at most {limit} files at once. Nothing was saved. Go back and choose fewer files.",
        status=400,
    )


def _check_files(portal: Portal, uploads: list[Upload], stored: int = 0) -> None:
    """The portal's count and type limits and the intake's byte limits (``InvalidInput``)."""
    attachments.check_new(
        portal.cfg,
        uploads,
        stored=stored,
        field=FILES_FIELD,
        max_count=portal.cfg.portal.max_attachments,
        types=portal.cfg.portal.attachment_types,
    )


def _file_error(exc: InvalidInput) -> str:
    """The refusal of a file, naming the field as the page labels it."""
    reason = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
    return f"Attachments: {reason}. Nothing was saved; please choose the files again."


def _newest_event(conn: Connection, ticket_id: int, kind: str) -> int:
    """The event just written by this transaction (the ticket's row is locked until it commits)."""
    return conn.execute(
        select(func.max(ticket_events.c.id)).where(
            ticket_events.c.ticket_id == ticket_id, ticket_events.c.kind == kind
        )
    ).scalar_one()


@router.post("/tickets/{number}/{action}")
async def act(request: Request, number: str, action: str, background: BackgroundTasks) -> Response:
    uploads: list[Upload] = []
    if action == "reply":
        try:
            form, uploads = await read_upload_form(request)
        except UnreadableForm as exc:
            return _unreadable(request, exc)
    else:
        form = await read_form(request)
    return await run_in_threadpool(_act, request, number, action, background, form, uploads)


def _act(
    request: Request,
    number: str,
    action: str,
    background: BackgroundTasks,
    form: dict[str, str],
    uploads: list[Upload],
) -> Response:
    if action not in ACTIONS:
        return message(request, "Not found", "There is nothing here, or it is not yours to see.", status=404)
    number, refused = _visible(request, number)
    if refused:
        return refused
    portal = portal_of(request)
    if refused := csrf_refusal(request, form, action, number):
        return refused
    field, required, limit, done = ACTIONS[action]
    text = form.get(field, "").strip()
    if required and not text:
        return _ticket_page(request, number, error="Please write something first.", status=422)
    if len(text) > limit:
        return _ticket_page(
            request, number, error=f"That is {len(text)} characters; the limit is {limit}.", status=422
        )
    who, now, svc = Actor.customer(request.state.session.email), portal.now(), portal.service
    try:
        _check_files(portal, uploads)
    except InvalidInput as exc:
        portal.log(request, action, "refused", ticket=number, detail=str(exc))
        return _ticket_page(request, number, error=_file_error(exc), status=422)
    try:
        if action == "reply":
            _reply(portal, number, who, text, uploads, now)
        elif action == "close":
            svc.close(number, actor=who, report=text, now=now)
        else:
            svc.escalate(number, actor=who, now=now, to_level=2, reason=text)
    except InvalidInput as exc:
        portal.log(request, action, "refused", ticket=number, detail=str(exc))
        if exc.field == FILES_FIELD:
            return _ticket_page(request, number, error=_file_error(exc), status=422)
        return _ticket_page(request, number, error=_plain(exc), status=409)
    except InvalidTransition as exc:
        portal.log(request, action, "refused", ticket=number, detail=str(exc))
        return _ticket_page(request, number, error=_plain(exc), status=409)
    portal.log(request, action, "ok", ticket=number, detail=_files_note(uploads))
    background.add_task(mailer.deliver_now, portal.engine)
    return RedirectResponse(f"/tickets/{number}?done={done}", status_code=303)


def _reply(portal: Portal, number: str, who: Actor, text: str, uploads: list[Upload], now) -> None:
    """The reply and its files in one transaction: both, or (a limit refused) neither."""
    with portal.engine.begin() as conn:
        t = service_on(conn, portal.cfg).respond(number, actor=who, body=text, now=now)
        if uploads:
            _check_files(portal, uploads, attachments.stored_bytes(conn, t.id))
            event = _newest_event(conn, t.id, "responded")
            attachments.save(conn, portal.cfg, uploads, ticket_id=t.id, event_id=event, now=now)


def _files_note(uploads: list[Upload]) -> str:
    return f"{len(uploads)} attachment(s)" if uploads else ""


def _plain(exc: TicketError) -> str:
    """The service's reason without the internal ticket number prefix and state names."""
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("XOP-") and ": " in text else text


def _new_page(request: Request, values: dict, error: str | None = None, status: int = 200) -> Response:
    portal, session = portal_of(request), request.state.session
    systems = [(s.id, s.name) for s in portal.cfg.customer(session.customer).systems]
    return render(
        request,
        "new.html",
        {
            "title": "Open a ticket",
            "systems": systems,
            "values": values,
            "error": error,
            "urgencies": [(u, URGENCY_TEXT[u]) for u in URGENCY_ORDER],
            "files": upload_rules(portal.cfg),
        },
        status=status,
    )


def _full_session(request: Request) -> Response | None:
    session = request.state.session
    if session is None:
        return signin_page(request, "/new", status=401)
    if not session.full:
        return message(
            request,
            "Sign in to open tickets",
            "The link in an email opens that one ticket. Sign in with your email to open new ones.",
            status=403,
            form="signin",
            next_path="/new",
        )
    return None


@router.get("/new")
def new_ticket(request: Request, background: BackgroundTasks) -> Response:
    if refused := _full_session(request):
        portal_of(request).log(request, "new_ticket_form", "refused")
        return refused
    background.add_task(portal_of(request).log, request, "new_ticket_form", "ok")
    return _new_page(
        request, {"system": "", "subject": "", "description": "", "proposed_urgency": "major", "level": "2"}
    )


@router.post("/new")
async def open_ticket(request: Request, background: BackgroundTasks) -> Response:
    try:
        form, uploads = await read_upload_form(request)
    except UnreadableForm as exc:
        return _unreadable(request, exc)
    return await run_in_threadpool(_open_ticket, request, background, form, uploads)


def _open_ticket(
    request: Request, background: BackgroundTasks, form: dict[str, str], uploads: list[Upload]
) -> Response:
    if refused := _full_session(request):
        return refused
    portal, session = portal_of(request), request.state.session
    if refused := csrf_refusal(request, form, "open_ticket"):
        return refused
    values = {k: form.get(k, "") for k in ("system", "subject", "description", "proposed_urgency", "level")}
    systems = {s.id for s in portal.cfg.customer(session.customer).systems}
    error = None
    if not values["subject"].strip():
        error = "Please give the ticket a subject."
    elif len(values["subject"]) > LIMITS["subject"] or len(values["description"]) > LIMITS["description"]:
        error = (
            f"The subject is limited to {LIMITS['subject']} characters, "
            f"the description to {LIMITS['description']}."
        )
    elif values["system"] and values["system"] not in systems:
        error = "Please choose one of your systems."
    elif values["proposed_urgency"] not in URGENCY_ORDER:
        error = "Please choose how urgent it is."
    elif values["level"] not in ("1", "2"):
        error = "Please choose who works on it first."
    else:
        try:
            _check_files(portal, uploads)
        except InvalidInput as exc:
            error = _file_error(exc)
    if error:
        return _new_page(request, values, error, status=422)
    contact = find_contact(portal.cfg, portal.engine, session.email)
    now = portal.now()
    try:
        with portal.engine.begin() as conn:  # the ticket and its files: both or neither
            t = service_on(conn, portal.cfg).open(
                customer=session.customer,
                subject=values["subject"],
                description=values["description"],
                system=values["system"] or None,
                proposed_urgency=values["proposed_urgency"],
                level=int(values["level"]),
                reporter_name=contact.name if contact else session.email,
                reporter_email=session.email,
                actor=Actor.customer(session.email),
                now=now,
            )
            if uploads:
                event = _newest_event(conn, t.id, "opened")
                attachments.save(conn, portal.cfg, uploads, ticket_id=t.id, event_id=event, now=now)
    except InvalidInput as exc:
        return _new_page(request, values, str(exc), status=422)
    portal.log(request, "open_ticket", "ok", ticket=t.number, detail=_files_note(uploads))
    background.add_task(mailer.deliver_now, portal.engine)
    return RedirectResponse(f"/tickets/{t.number}?done=opened", status_code=303)


@router.get("/tickets/{number}/attachments/{attachment_id}")
def download(request: Request, background: BackgroundTasks, number: str, attachment_id: str) -> Response:
    """A file of the ticket's public history, as a download only (never shown by the browser).
    Another customer's file, an internal one, or none at all: the same 404."""
    number_, refused = _visible(request, number)
    if refused:
        return refused
    portal = portal_of(request)
    aid = int(attachment_id) if attachment_id.isdigit() and len(attachment_id) <= 18 else None
    if aid is None or not public_attachment(portal.engine, number_, aid):
        return _not_found(request, number_)
    found = attachments.read(portal.engine, portal.cfg, aid)
    if found is None:
        return _not_found(request, number_)
    meta, data = found
    # Logged after the response, as the ticket page is: off the download's time.
    background.add_task(portal.log, request, "download", "ok", ticket=number_, detail=f"attachment {aid}")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": attachments.content_disposition(meta["filename"]),
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )

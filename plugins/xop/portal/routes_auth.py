"""Signing in: the email form, the one-time link, the session; and fresh links for expired ones.

Nothing tells a visitor whether an address is known: the answer to a sign-in request is the
same page either way, and the lookup and the email happen after the response is sent.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from xop.core.config import XopConfig
from xop.notify.links import LinkExpired, LinkInvalid, portal_base, read_ticket_link
from xop.portal import mailer, store
from xop.portal.contacts import find_contact, is_contact_of
from xop.portal.forms import clean_email, clean_next, csrf_refusal, read_form
from xop.portal.pages import message, render
from xop.portal.security import ANON_COOKIE, SESSION_COOKIE, clear_cookie, client_of, set_cookie
from xop.portal.state import Portal, portal_of
from xop.portal.views import company_tickets, ticket_customer

router = APIRouter()


def _limited(portal: Portal, request: Request, scope: str, address: str | None) -> Response | None:
    """The 429 page once this client or this address asked too often; None otherwise."""
    now, p = portal.now(), portal.cfg.portal
    ok = store.hit(portal.engine, f"{scope}-client", client_of(request), p.per_client, now=now)
    if address is not None:
        ok = store.hit(portal.engine, f"{scope}-address", address, p.per_address, now=now) and ok
    if ok:
        return None
    portal.log(request, scope, "rate_limited", email=address)
    minutes = max(p.per_client.minutes, p.per_address.minutes)
    return message(
        request,
        "Too many requests",
        f"Too many requests from here or for this address. Wait up to {minutes} minutes and try again.",
        status=429,
    )


def signin_page(request: Request, next_path: str = "/", *, status: int = 200) -> Response:
    p = portal_of(request).cfg.portal
    return render(
        request,
        "signin.html",
        {"title": "Sign in", "next_path": next_path, "signin_minutes": p.signin_minutes},
        status=status,
    )


@router.get("/")
def home(request: Request, background: BackgroundTasks) -> Response:
    portal, session = portal_of(request), request.state.session
    if session is None:
        return signin_page(request)
    if not session.full:
        return RedirectResponse(f"/tickets/{session.ticket}", status_code=303)
    background.add_task(portal.log, request, "list", "ok")  # after the response: off the page time
    return render(
        request,
        "list.html",
        {"title": "Your tickets", "tickets": company_tickets(portal.cfg, portal.engine, session.customer)},
    )


def _send_signin(portal: Portal, *, email: str, next_path: str, client: str) -> None:
    now, cfg = portal.now(), portal.cfg
    contact = find_contact(cfg, portal.engine, email)
    store.record(
        portal.engine,
        now=now,
        client=client,
        action="signin_request",
        outcome="sent" if contact else "unknown",
        email=email,
        customer=contact and contact.customer,
    )
    if contact is None:
        return
    token = store.issue_signin(
        portal.engine,
        email=email,
        customer=contact.customer,
        next_path=next_path,
        now=now,
        minutes=cfg.portal.signin_minutes,
    )
    mailer.queue(
        portal.engine,
        cfg,
        kind="portal_signin",
        recipient=email,
        now=now,
        context={
            "contact": {"name": contact.name, "email": email},
            "signin_url": f"{portal_base(cfg)}/signin/{token}",
            "minutes": cfg.portal.signin_minutes,
        },
    )
    store.prune(portal.engine, now=now)
    mailer.deliver_now(portal.engine)


@router.post("/signin")
async def request_signin(request: Request, background: BackgroundTasks) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_request_signin, request, background, form)


def _request_signin(request: Request, background: BackgroundTasks, form: dict[str, str]) -> Response:
    portal = portal_of(request)
    if refused := csrf_refusal(request, form, "signin_request"):
        return refused
    next_path = clean_next(form.get("next"))
    email = clean_email(form.get("email"))
    if email is None:
        return message(
            request,
            "Sign in",
            "That is not an email address. Please check it and try again.",
            status=422,
            form="signin",
            next_path=next_path,
        )
    if limited := _limited(portal, request, "signin_request", email):
        return limited
    background.add_task(_send_signin, portal, email=email, next_path=next_path, client=client_of(request))
    return message(
        request,
        "Check your email",
        f"If {email} is an address we know, a sign-in link is on its way to it. "
        f"It works once, for {portal.cfg.portal.signin_minutes} minutes.",
    )


_SIGNIN_TROUBLE = {
    "used": ("This sign-in link was already used", "Each sign-in link works once. Ask for a new one below."),
    "expired": (
        "This sign-in link has expired",
        "Sign-in links work for a short time. Ask for a new one below.",
    ),
    "invalid": (
        "This sign-in link is not valid",
        "Check that the whole link was copied, or ask for a new one.",
    ),
}


def _signin_trouble(request: Request, outcome: str) -> Response:
    title, text = _SIGNIN_TROUBLE[outcome]
    return message(request, title, text, status=400 if outcome == "invalid" else 410, form="signin")


@router.get("/signin/{token}")
def confirm_signin(request: Request, token: str) -> Response:
    """Show a button rather than sign in on GET: link scanners in mail systems must not use it up."""
    portal = portal_of(request)
    state = store.peek_signin(portal.engine, token[:100], now=portal.now())
    if state.outcome != "ok":
        portal.log(request, "signin", state.outcome, email=state.email, customer=state.customer)
        return _signin_trouble(request, state.outcome)
    return message(
        request,
        "Sign in",
        "One more step: confirm that it is you.",
        form="consume",
        token=token,
        email=state.email,
    )


@router.post("/signin/{token}")
async def use_signin(request: Request, token: str) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_use_signin, request, token, form)


def _use_signin(request: Request, token: str, form: dict[str, str]) -> Response:
    portal = portal_of(request)
    if refused := csrf_refusal(request, form, "signin"):
        return refused
    state = store.use_signin(portal.engine, token[:100], now=portal.now())
    portal.log(request, "signin", state.outcome, email=state.email, customer=state.customer)
    if state.outcome != "ok":
        return _signin_trouble(request, state.outcome)
    return _signed_in(
        request,
        email=state.email,
        customer=state.customer,
        ticket=None,
        to=state.next_path,
        hours=portal.cfg.portal.session_hours,
    )


def _signed_in(
    request: Request, *, email: str, customer: str, ticket: str | None, to: str, hours: float
) -> Response:
    """Start a new session (a fresh cookie: never reuse the pre-sign-in one) and go to ``to``."""
    portal = portal_of(request)
    old = request.state.session
    if old is not None:
        store.end_session(portal.engine, old, now=portal.now())
    sid, _ = store.start_session(
        portal.engine, email=email, customer=customer, ticket=ticket, now=portal.now(), hours=hours
    )
    response = RedirectResponse(to, status_code=303)
    set_cookie(response, SESSION_COOKIE, sid, max_age=int(hours * 3600))
    clear_cookie(response, ANON_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_signout, request, form)


def _signout(request: Request, form: dict[str, str]) -> Response:
    portal = portal_of(request)
    if refused := csrf_refusal(request, form, "signout"):
        return refused
    if request.state.session is not None:
        portal.log(request, "signout", "ok")
        store.end_session(portal.engine, request.state.session, now=portal.now())
    response = RedirectResponse("/", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


# -- ticket links from emails ------------------------------------------------------------------


def follow_link(request: Request, number: str, token: str) -> Response:
    """Open the ticket of a signed email link: a session for that ticket (or the contact's own
    full session, kept), then a redirect that takes the token out of the address bar."""
    portal = portal_of(request)
    now = portal.now()
    try:
        claims = read_ticket_link(portal.cfg, token, now=now)
        if claims.ticket != number:
            raise LinkInvalid("the link names another ticket")
    except LinkExpired as exc:
        portal.log(request, "link", "expired", email=exc.claims.email, ticket=number)
        return message(
            request,
            "This link has expired",
            "Links in our emails work for a limited time. We can email you a fresh one.",
            status=410,
            form="renew",
            token=token,
        )
    except LinkInvalid:
        portal.log(request, "link", "invalid", ticket=number)
        return message(
            request,
            "This link is not valid",
            "The link was changed or cut short. Sign in with your email address instead.",
            status=400,
            form="signin",
            next_path=f"/tickets/{number}",
        )
    customer = ticket_customer(portal.engine, number)
    contact = is_contact_of(portal.cfg, portal.engine, claims.email, customer) if customer else None
    if contact is None:
        portal.log(request, "link", "not_found", email=claims.email, ticket=number)
        return message(request, "Not found", "There is nothing here, or it is not yours to see.", status=404)
    portal.log(request, "link", "ok", email=claims.email, customer=customer, ticket=number)
    session = request.state.session
    if (
        session is not None
        and session.full
        and session.email == claims.email
        and session.customer == customer
    ):
        return RedirectResponse(f"/tickets/{number}", status_code=303)
    left = (claims.expires_at - now) / timedelta(hours=1)
    return _signed_in(
        request,
        email=claims.email,
        customer=customer,
        ticket=number,
        to=f"/tickets/{number}",
        hours=min(portal.cfg.portal.session_hours, left),
    )


def _send_fresh_link(portal: Portal, cfg: XopConfig, *, email: str, number: str, client: str) -> None:
    now = portal.now()
    customer = ticket_customer(portal.engine, number)
    contact = is_contact_of(cfg, portal.engine, email, customer) if customer else None
    store.record(
        portal.engine,
        now=now,
        client=client,
        action="link_request",
        outcome="sent" if contact else "unknown",
        email=email,
        customer=customer,
        ticket=number,
    )
    if contact is None:
        return
    subject = portal.service.get(number).subject
    mailer.queue(
        portal.engine,
        cfg,
        kind="portal_link",
        recipient=email,
        now=now,
        context={
            "ticket": {"number": number, "subject": subject},
            "contact": {"name": contact.name, "email": email},
        },
    )
    mailer.deliver_now(portal.engine)


@router.post("/links/renew")
async def renew_link(request: Request, background: BackgroundTasks) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_renew_link, request, background, form)


def _renew_link(request: Request, background: BackgroundTasks, form: dict[str, str]) -> Response:
    portal = portal_of(request)
    if refused := csrf_refusal(request, form, "link_request"):
        return refused
    try:
        claims = read_ticket_link(portal.cfg, form.get("token", ""), now=portal.now())
    except LinkExpired as exc:
        claims = exc.claims
    except LinkInvalid:
        portal.log(request, "link_request", "invalid")
        return message(
            request,
            "This link is not valid",
            "Sign in with your email address instead.",
            status=400,
            form="signin",
        )
    if limited := _limited(portal, request, "link_request", claims.email):
        return limited
    background.add_task(
        _send_fresh_link,
        portal,
        portal.cfg,
        email=claims.email,
        number=claims.ticket,
        client=client_of(request),
    )
    return message(
        request, "Check your email", "We are emailing a fresh link to the address the old link was sent to."
    )

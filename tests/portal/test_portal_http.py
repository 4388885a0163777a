"""The portal over HTTP (a real uvicorn process): what it refuses and what it never reveals.

Cookies are kept by hand (see ``Visitor``): a Secure cookie is exactly what a plain-http client
library would not send, and what the browser tests show a browser does send on loopback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.portal.conftest import ANN, CARL, GINA, Visitor, csrf_of, main_text, signed_in
from xop.notify.links import ticket_link
from xop.portal.tables import portal_access_log
from xop.tickets.tables import ticket_events


def events_of(portal, number: str) -> list[tuple[str, str]]:
    t = portal.service().get(number)
    with portal.engine.connect() as c:
        return [
            (r.kind, r.body)
            for r in c.execute(
                sa.select(ticket_events.c.kind, ticket_events.c.body).where(ticket_events.c.ticket_id == t.id)
            )
        ]


def test_pages_carry_strict_headers_and_cookies(portal, visitor):
    r = visitor.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in r.text
    assert re.match(r"app;dur=\d+(\.\d+)?$", r.headers["server-timing"])
    (cookie,) = visitor.set_cookie_headers
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"))


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(portal):
    number = portal.open_ticket(subject="CSRF target").number
    v = signed_in(portal, ANN)
    page = v.get(f"/tickets/{number}")
    assert page.status_code == 200
    before = events_of(portal, number)
    for data in ({"body": "forged"}, {"body": "forged", "csrf": "x" + csrf_of(page.text)[1:]}):
        r = v.post(f"/tickets/{number}/reply", data)
        assert r.status_code == 403
        assert "This form has expired" in r.text
    # Another visitor's genuine token is no good either.
    other = Visitor(portal.url)
    foreign = csrf_of(other.get("/").text)
    assert v.post(f"/tickets/{number}/reply", {"body": "forged", "csrf": foreign}).status_code == 403
    assert events_of(portal, number) == before
    # With it, the reply goes through the ticket service.
    r = v.post(f"/tickets/{number}/reply", {"body": "Genuine reply", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert ("responded", "Genuine reply") in events_of(portal, number)
    with portal.engine.connect() as c:
        outcomes = {
            (r.action, r.outcome, r.email)
            for r in c.execute(sa.select(portal_access_log).where(portal_access_log.c.ticket == number))
        }
    assert {("reply", "csrf", ANN), ("reply", "ok", ANN), ("view_ticket", "ok", ANN)} <= outcomes


def test_another_customers_ticket_looks_exactly_like_no_ticket(portal):
    theirs = portal.open_ticket(customer="globex", reporter=GINA, name="Gina Globex").number
    v = signed_in(portal, ANN)
    foreign, missing = v.get(f"/tickets/{theirs}"), v.get("/tickets/XOP-999999")
    assert foreign.status_code == missing.status_code == 404
    assert main_text(foreign.text) == main_text(missing.text)
    assert theirs not in foreign.text and "Globex" not in foreign.text
    # Acting on it is the same 404, and changes nothing.
    r = v.post(f"/tickets/{theirs}/close", {"note": "mine now", "csrf": csrf_of(foreign.text)})
    assert r.status_code == 404
    assert portal.service().get(theirs).state == "open"
    # The company list shows only acme's tickets.
    listing = v.get("/")
    assert theirs not in listing.text


def test_a_link_session_sees_only_its_ticket_and_a_link_moved_to_another_ticket_is_invalid(portal):
    first = portal.open_ticket(subject="First").number
    second = portal.open_ticket(subject="Second").number
    v = Visitor(portal.url)
    link = ticket_link(portal.cfg, CARL, first)
    r = v.get(link.removeprefix(portal.url))
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{first}"
    assert v.get(f"/tickets/{first}").status_code == 200
    assert v.get(f"/tickets/{second}").status_code == 404
    assert v.get("/new").status_code == 403  # opening tickets needs the email sign-in
    moved = link.removeprefix(portal.url).replace(first, second)
    r = Visitor(portal.url).get(moved)
    assert r.status_code == 400 and "This link is not valid" in r.text


def test_sign_in_requests_reveal_nothing_and_are_rate_limited(portal):
    v = Visitor(portal.url)
    token = csrf_of(v.get("/").text)
    known = v.post("/signin", {"csrf": token, "email": ANN, "next": "/"})
    unknown = v.post("/signin", {"csrf": token, "email": "nobody@nowhere.example", "next": "/"})
    assert known.status_code == unknown.status_code == 200
    assert main_text(known.text).replace(ANN, "X") == main_text(unknown.text).replace(
        "nobody@nowhere.example", "X"
    )
    portal.wait_for_mail(ANN, "sign-in link")
    allowed = portal.cfg.portal.per_address.count  # an hour, in the test config
    statuses = [
        v.post("/signin", {"csrf": token, "email": "flood@nowhere.example", "next": "/"}).status_code
        for _ in range(allowed + 1)
    ]
    assert statuses == [200] * allowed + [429]
    assert not portal.count_mail("nobody@nowhere.example", "")
    assert v.post("/signin", {"csrf": token, "email": "not an address"}).status_code == 422


def test_no_stack_trace_reaches_the_client(portal):
    v = Visitor(portal.url)
    v.get("/")
    r = v.client.post(
        "/signin",
        content=b'--x\r\nContent-Disposition: form-data; name="email\r\n\r\nbroken',
        headers={"Content-Type": "multipart/form-data; boundary=x", **v._headers()},
    )
    assert 400 <= r.status_code < 500
    assert "Traceback" not in r.text and 'File "' not in r.text
    big = v.client.post(
        "/signin",
        content=b"email=" + b"a" * 70000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413


def test_an_expired_sign_in_link_and_the_one_time_rule(portal):
    from xop.portal import store

    stale = store.issue_signin(
        portal.engine,
        email=ANN,
        customer="acme",
        next_path="/",
        now=datetime.now(UTC) - timedelta(minutes=16),
        minutes=15,
    )
    v = Visitor(portal.url)
    r = v.get(f"/signin/{stale}")
    assert r.status_code == 410 and "This sign-in link has expired" in r.text
    assert 'id="signin-form"' in r.text  # and a way to get a new one
    v2 = signed_in(portal, ANN)
    assert "Your tickets" in v2.get("/").text


def test_a_customer_reply_goes_through_the_model_as_the_customer_and_meets_no_xop_clock(portal):
    t = portal.open_ticket(subject="Clock check", level=2)
    v = Visitor(portal.url)
    v.follow(v.get(ticket_link(portal.cfg, CARL, t.number).removeprefix(portal.url)))
    page = v.get(f"/tickets/{t.number}")
    assert 'id="escalate-form"' not in page.text  # at Level 2 the customer has nothing to escalate
    r = v.post(f"/tickets/{t.number}/reply", {"body": "Any news?", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    (clock,) = [c for c in portal.service().clocks(t.number) if c["name"] == "l2_response"]
    assert clock["met_at"] is None and clock["stopped_at"] is None
    with portal.engine.connect() as c:
        kinds = {
            (r.kind, r.actor_kind, r.actor)
            for r in c.execute(
                sa.select(ticket_events.c.kind, ticket_events.c.actor_kind, ticket_events.c.actor).where(
                    ticket_events.c.ticket_id == t.id
                )
            )
        }
    assert ("responded", "customer", CARL) in kinds


def test_signing_out_ends_the_session_and_sign_in_returns_to_the_ticket_asked_for(portal):
    t = portal.open_ticket(subject="Sign-out check")
    v = Visitor(portal.url)
    asked = v.get(f"/tickets/{t.number}")
    assert asked.status_code == 401 and f'value="/tickets/{t.number}"' in asked.text  # sign in, then back
    seen = portal.count_mail(ANN, "sign-in link")
    v.post("/signin", {"csrf": csrf_of(asked.text), "email": ANN, "next": f"/tickets/{t.number}"})
    link = portal.link_in(portal.wait_for_mail(ANN, "sign-in link", seen=seen), "signin").removeprefix(
        portal.url
    )
    r = v.post(link, {"csrf": csrf_of(v.get(link).text)})
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{t.number}"
    page = v.get(f"/tickets/{t.number}")
    assert page.status_code == 200
    old = dict(v.cookies)
    assert v.post("/signout", {"csrf": csrf_of(page.text)}).status_code == 303
    replay = Visitor(portal.url)
    replay.cookies = old  # the old session cookie no longer signs anyone in
    assert replay.get(f"/tickets/{t.number}").status_code == 401

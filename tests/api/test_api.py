"""The ticket API through Airflow's API server app: auth, every action, every error path (PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api import harness
from tests.api.conftest import T0
from xop.api import idempotency
from xop.api.tables import idempotency_keys
from xop.notify.tables import notifications
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

BASE = "/xop/api"
NEW = {
    "customer": "acme",
    "system": "acme-conf1",
    "subject": "Bridge drops callers after 10 minutes",
    "description": "Every conference drops since this morning.",
    "reporter_name": "Carl Caller",
    "reporter_email": "carl@acme.example",
}


def counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (tickets, ticket_events, ticket_clocks, notifications, idempotency_keys)
        }


def open_ticket(client, **kw) -> dict:
    r = client.post(f"{BASE}/tickets", json=NEW | kw)
    assert r.status_code == 201, r.text
    return r.json()


def act(client, number: str, action: str, body: dict | None = None, status: int = 200) -> dict:
    r = client.post(f"{BASE}/tickets/{number}/{action}", json=body or {})
    assert r.status_code == status, r.text
    return r.json()


# ---------------------------------------------------------------------------- authentication

GETS = [
    "/xop/",
    "/xop/openapi.json",
    "/xop/static/app.js",
    f"{BASE}/me",
    f"{BASE}/customers",
    f"{BASE}/tickets",
]


def test_every_route_needs_an_airflow_user(client, airflow_app, tokens):
    number = open_ticket(client)["number"]
    del client.headers["Authorization"]
    from xop.api.routes import router

    posts = ["/xop" + r.path.replace("{number}", number) for r in router.routes if "POST" in r.methods]
    # open + 11 lifecycle actions and their previews + take, assign, unassign, watch, unwatch
    assert len(posts) == 28
    for bad in (None, "Bearer not-a-jwt", f"Bearer {tokens['alice'][:-4]}AAAA", f"Basic {tokens['alice']}"):
        headers = {"Authorization": bad} if bad else {}
        for path in [*GETS, f"{BASE}/tickets/{number}"]:
            r = client.get(path, headers=headers)
            assert r.status_code == 401, (path, bad, r.text)
        for path in posts:
            r = client.post(path, json={}, headers=headers)
            assert r.status_code == 401, (path, bad, r.text)
            assert r.headers["WWW-Authenticate"] == "Bearer"
    # An expired token is refused too (signed by Airflow's own key, so only the expiry is wrong).
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    expired = get_auth_manager().generate_jwt(
        SimpleAuthManagerUser(username="alice", role="admin"), expiration_time_in_seconds=-60
    )
    r = client.get(f"{BASE}/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401, r.text


def test_bearer_token_and_ui_cookie_both_authenticate(client, tokens):
    for path in GETS:
        assert client.get(path).status_code == 200, path
    assert client.get(f"{BASE}/me").json()["name"] == "alice"
    del client.headers["Authorization"]
    client.cookies.set("_token", tokens["victor"])  # what the Airflow UI holds after login
    assert client.get(f"{BASE}/me").json()["name"] == "victor"
    page = client.get("/xop/")
    assert page.status_code == 200 and "XOP tickets" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_cookie_cannot_be_ridden_by_a_cross_site_form(client, tokens, api_engine):
    """A plain HTML form can only post form or text bodies; the API takes JSON only, so a page
    elsewhere cannot act with the UI's cookie (which SameSite=Lax keeps at home anyway)."""
    del client.headers["Authorization"]
    client.cookies.set("_token", tokens["alice"])
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = client.post(f"{BASE}/tickets", content=json.dumps(NEW), headers={"Content-Type": content_type})
        assert r.status_code in (400, 422), (content_type, r.text)
    assert counts(api_engine)["tickets"] == 0


def test_page_without_session_offers_airflow_sign_in(client):
    del client.headers["Authorization"]
    r = client.get("/xop/")
    assert r.status_code == 401
    assert "/auth/login?next=" in r.text


def test_actions_record_the_acting_users_name(client, tokens):
    number = open_ticket(client)["number"]
    client.headers["Authorization"] = f"Bearer {tokens['ursula']}"
    t = act(client, number, "note", {"body": "looked at the logs"})
    assert [(e["kind"], e["actor"]) for e in t["events"]] == [("opened", "alice"), ("note", "ursula")]


def test_static_files_are_an_allow_list(client):
    assert client.get("/xop/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/xop/static/index.html").status_code == 404
    assert client.get("/xop/static/..%2f..%2fapi%2fapp.py").status_code == 404


def test_openapi_is_served_for_the_mounted_path(client):
    doc = client.get("/xop/openapi.json").json()
    assert doc["servers"] == [{"url": "/xop"}]
    assert "/api/tickets/{number}/rca" in doc["paths"]
    params = {p["name"] for p in doc["paths"]["/api/tickets/{number}/escalate"]["post"]["parameters"]}
    assert "Idempotency-Key" in params


# ---------------------------------------------------------------------------- reads


def test_open_then_get_with_clocks_in_business_time(client, clock):
    r = client.post(f"{BASE}/tickets", json=NEW | {"proposed_urgency": "critical"})
    assert r.status_code == 201
    t = r.json()
    assert r.headers["Location"].endswith(f"/xop/api/tickets/{t['number']}")
    assert t["state"] == "open" and t["level"] == 2 and t["source"] == "customer"
    (c,) = t["clocks"]
    assert (c["name"], c["status"], c["target_seconds"], c["remaining_seconds"]) == (
        "l2_response",
        "running",
        7200,
        7200,
    )

    clock.now = T0 + timedelta(minutes=30)  # Tuesday 10:30 Chicago: business time runs
    got = client.get(f"{BASE}/tickets/{t['number'].lower()}").json()
    c = got["clocks"][0]
    assert (c["used_seconds"], c["remaining_seconds"], c["percent_used"], c["ticking"]) == (
        1800,
        5400,
        25.0,
        True,
    )
    assert got["next_clock"]["name"] == "l2_response"
    assert got["events"][0]["kind"] == "opened" and got["events"][0]["actor"] == "alice"

    clock.now = T0 + timedelta(hours=8)  # Tuesday 18:00 Chicago: closed, 8 business hours used
    c = client.get(f"{BASE}/tickets/{t['number']}").json()["clocks"][0]
    assert (c["status"], c["remaining_seconds"], c["percent_used"], c["ticking"]) == (
        "breached",
        -21600,
        400.0,
        False,
    )
    clock.now = T0 + timedelta(hours=14)  # the night does not count
    assert client.get(f"{BASE}/tickets/{t['number']}").json()["clocks"][0]["remaining_seconds"] == -21600


def test_list_filters_paging_and_sort(client, clock):
    a = open_ticket(client, proposed_urgency="critical")["number"]
    b = open_ticket(client, customer="globex", system="globex-conf1")["number"]
    clock.now = T0 + timedelta(hours=1)
    c = open_ticket(client)["number"]
    act(client, c, "classify", {"urgency": "minor"})
    act(client, c, "escalate", {})
    d = open_ticket(client, level=1)["number"]  # no clock at L1
    e = open_ticket(client)["number"]
    act(client, e, "resolve", {"body": "fixed"})
    act(client, e, "close", {"report": "done"})

    def numbers(**params) -> list[str]:
        r = client.get(f"{BASE}/tickets", params=params)
        assert r.status_code == 200, r.text
        return [t["number"] for t in r.json()["items"]]

    assert numbers() == [a, b, c, d, e]  # next due first, tickets without running clocks last
    assert numbers(state=["open"]) == [a, b, c, d]
    assert numbers(state=["closed", "resolved"]) == [e]
    assert numbers(level=3) == [c]
    assert numbers(level=[1, 3]) == [c, d]
    assert numbers(urgency="minor") == [c]
    assert numbers(customer="globex") == [b]
    assert numbers(due_within=59) == []
    assert numbers(due_within=60) == [a, b]  # due 12:00 Chicago, now 11:00
    assert numbers(breached="true") == []
    assert numbers(sort="-opened_at") == [c, d, e, a, b]  # ties by id
    page = client.get(f"{BASE}/tickets", params={"limit": 2, "offset": 2}).json()
    assert (page["total"], [t["number"] for t in page["items"]]) == (5, [c, d])

    clock.now = T0 + timedelta(hours=2, seconds=1)  # a and b are past their 2 h L2 response
    assert numbers(breached="true") == [a, b]
    assert numbers(breached="false") == [c, d, e]
    board = client.get(f"{BASE}/tickets", params={"state": ["open"]}).json()["items"]
    assert [t["breached"] for t in board] == [True, True, False, False]
    assert board[2]["next_clock"]["name"] in ("l3_response", "l3_recovery")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"state": "pending"}, "state"),
        ({"level": 5}, "level"),
        ({"urgency": "urgent"}, "urgency"),
        ({"customer": "a b"}, "customer"),
        ({"breached": "maybe"}, "breached"),
        ({"due_within": -1}, "due_within"),
        ({"due_within": 10**9}, "due_within"),
        ({"sort": "subject"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_filters_name_the_parameter(client, params, field):
    r = client.get(f"{BASE}/tickets", params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["query", field]


# ---------------------------------------------------------------------------- every action


def test_whole_lifecycle_through_every_action(client, clock, api_engine):
    t = open_ticket(client)
    n = t["number"]
    steps = [
        ("respond", {"body": "We are on it."}, "open", "responded"),
        ("note", {"body": "Suspect the SBC."}, "open", "note"),
        ("classify", {"urgency": "critical", "reason": "all conferences down"}, "open", "classified"),
        ("escalate", {"reason": "needs L3"}, "open", "escalated"),
        ("pause", {"reason": "waiting for logs"}, "waiting_customer", "paused"),
        ("resume", {}, "open", "resumed"),
        ("recover", {"body": "Rerouted to the spare SBC."}, "recovered", "recovered"),
        ("resolve", {"body": "Firmware upgraded."}, "resolved", "resolved"),
        ("close", {"report": "Closed after the upgrade."}, "closed", "closed"),
        ("reopen", {"reason": "It happened again."}, "open", "reopened"),
    ]
    for i, (action, body, state, kind) in enumerate(steps, start=1):
        clock.now = T0 + timedelta(minutes=5 * i)
        if action == "resolve":  # the RCA email is Level 3's: alice acts as Level 2 (no staff: entry)
            rca = {"cause": "SBC firmware", "extent": "all calls", "actions": "rerouted", "plan": "upgrade"}
            refused = client.post(f"{BASE}/tickets/{n}/rca", json=rca)
            assert refused.status_code == 409 and "Level 3" in refused.text
        t = act(client, n, action, body)
        assert t["state"] == state, action
        assert (t["events"][-1]["kind"], t["events"][-1]["actor"]) == (kind, "alice"), action
    assert t["level"] == 3 and t["urgency"] == "critical" and t["reopen_count"] == 1
    by_name = {(c["name"], c["cycle"]): c["status"] for c in t["clocks"]}
    assert by_name[("l2_response", 0)] == "met"
    assert by_name[("l3_recovery", 0)] == "met"
    assert by_name[("l3_rca", 0)] == "stopped"  # closed before the RCA was sent
    # Reopened at Level 3: Level 3's clocks start a new cycle, no Level 2 clock.
    assert by_name[("l3_response", 1)] == "running" and by_name[("l3_recovery", 1)] == "running"
    assert ("l2_response", 1) not in by_name
    escalate_to_4 = act(client, n, "escalate", {"to_level": 4})
    assert escalate_to_4["level"] == 4
    assert counts(api_engine)["notifications"] > 0  # the service wrote its emails to the outbox


# ---------------------------------------------------------------------------- error paths


def _expect_unchanged(client, engine, method, path, body, status, loc_or_text):
    before = counts(engine)
    r = client.request(method, path, json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    if isinstance(loc_or_text, tuple):
        assert any(tuple(d["loc"][: len(loc_or_text)]) == loc_or_text for d in detail), detail
    else:
        assert loc_or_text in detail, detail
    assert counts(engine) == before
    return detail


@pytest.mark.parametrize(
    "body, loc",
    [
        ({k: v for k, v in NEW.items() if k != "subject"}, ("body", "subject")),
        (NEW | {"subject": "   "}, ("body", "subject")),
        (NEW | {"subject": "x" * 201}, ("body", "subject")),
        (NEW | {"subject": "nul\x00byte"}, ("body", "subject")),
        (NEW | {"customer": "initech"}, ("body", "customer")),
        (NEW | {"system": "globex-conf1"}, ("body", "system")),
        (NEW | {"reporter_email": "not-an-address"}, ("body", "reporter_email")),
        (NEW | {"urgency": "urgent"}, ("body", "urgency")),
        (NEW | {"level": 3}, ("body", "level")),
        (NEW | {"source": "fax"}, ("body", "source")),
        (NEW | {"priority": 1}, ("body", "priority")),
        (NEW | {"subject": 42}, ("body", "subject")),
    ],
)
def test_open_with_invalid_input_names_the_field_and_writes_nothing(client, api_engine, body, loc):
    _expect_unchanged(client, api_engine, "POST", f"{BASE}/tickets", body, 422, loc)


def test_action_errors_name_the_field_or_rule_and_change_nothing(client, api_engine):
    n = open_ticket(client)["number"]
    x = f"{BASE}/tickets/{n}"
    cases = [
        ("POST", f"{x}/respond", {}, 422, ("body", "body")),
        ("POST", f"{x}/respond", {"body": "  "}, 422, ("body", "body")),
        ("POST", f"{x}/respond", {"body": "nul\x00byte"}, 422, ("body", "body")),
        ("POST", f"{x}/assign", {"to": "\x00"}, 422, ("body", "to")),
        ("POST", f"{x}/note", {"body": "x" * 20001}, 422, ("body", "body")),
        ("POST", f"{x}/classify", {"urgency": "urgent"}, 422, ("body", "urgency")),
        ("POST", f"{x}/escalate", {"to_level": 7}, 422, ("body", "to_level")),
        ("POST", f"{x}/escalate", {"to_level": "three"}, 422, ("body", "to_level")),
        ("POST", f"{x}/rca", {"cause": "c", "extent": "e", "actions": "a"}, 422, ("body", "plan")),
        ("POST", f"{x}/close", {"report": ""}, 422, ("body", "report")),
        ("POST", f"{x}/reopen", {}, 422, ("body", "reason")),
        ("POST", f"{x}/resume", {"why": "x"}, 422, ("body", "why")),
        ("POST", f"{x}/resume", {}, 409, "cannot resume a ticket that is open"),
        ("POST", f"{x}/reopen", {"reason": "again"}, 409, "cannot reopen a ticket that is open"),
        ("POST", f"{x}/escalate", {"to_level": 2}, 409, "escalation must go up"),
        (
            "POST",
            f"{x}/rca",
            {"cause": "c", "extent": "e", "actions": "a", "plan": "p"},
            409,
            "Level 3",
        ),
        ("GET", f"{BASE}/tickets/XOP-999999", None, 404, "no ticket"),
        ("POST", f"{BASE}/tickets/XOP-999999/note", {"body": "hello"}, 404, "no ticket"),
        ("GET", f"{BASE}/tickets/ticket-1", None, 422, ("path", "number")),
        ("POST", f"{BASE}/tickets/XOP-1x/note", {"body": "hello"}, 422, ("path", "number")),
    ]
    for method, path, body, status, expected in cases:
        _expect_unchanged(client, api_engine, method, path, body, status, expected)
    act(client, n, "classify", {"urgency": "major"})
    _expect_unchanged(client, api_engine, "POST", f"{x}/classify", {"urgency": "major"}, 409, "already major")
    act(client, n, "close", {"report": "duplicate"})
    for action, body in [
        ("pause", {}),
        ("recover", {}),
        ("resolve", {"body": "b"}),
        ("close", {"report": "r"}),
    ]:
        _expect_unchanged(client, api_engine, "POST", f"{x}/{action}", body, 409, "closed")


def test_malformed_json_is_a_422(client, api_engine):
    before = counts(api_engine)
    r = client.post(f"{BASE}/tickets", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert counts(api_engine) == before


# ---------------------------------------------------------------------------- idempotency


def test_retried_open_with_the_same_key_opens_one_ticket(client, api_engine, tokens):
    key = {"Idempotency-Key": "retry-7f3a"}
    first = client.post(f"{BASE}/tickets", json=NEW, headers=key)
    again = client.post(f"{BASE}/tickets", json=NEW, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert counts(api_engine)["tickets"] == 1

    other = client.post(f"{BASE}/tickets", json=NEW | {"subject": "Another"}, headers=key)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    # Keys belong to a user: oscar's identical key is his own request.
    oscar = client.post(
        f"{BASE}/tickets", json=NEW, headers=key | {"Authorization": f"Bearer {tokens['oscar']}"}
    )
    assert oscar.status_code == 201 and oscar.json()["number"] != first.json()["number"]
    assert counts(api_engine)["tickets"] == 2


def test_retried_action_acts_once_and_refused_requests_free_their_key(client, api_engine):
    n = open_ticket(client)["number"]
    key = {"Idempotency-Key": "note-1"}
    for _ in range(3):
        r = client.post(f"{BASE}/tickets/{n}/note", json={"body": "once"}, headers=key)
        assert r.status_code == 200
    assert [e["kind"] for e in r.json()["events"]] == ["opened", "note"]

    key = {"Idempotency-Key": "open-after-typo"}
    bad = client.post(f"{BASE}/tickets", json=NEW | {"customer": "acmee"}, headers=key)
    assert bad.status_code == 422
    good = client.post(f"{BASE}/tickets", json=NEW, headers=key)
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers

    for bad_key in [b"", b"x" * 201, "naïve".encode()]:
        r = client.post(f"{BASE}/tickets", json=NEW, headers={"Idempotency-Key": bad_key})
        assert r.status_code == 422, (bad_key, r.text)
        assert r.json()["detail"][0]["loc"][:2] == ["header", "Idempotency-Key"]


def test_concurrent_claims_of_one_key_let_exactly_one_through(api_engine, client):
    """Two retries racing on PostgreSQL: one runs, the others are told it is in progress."""
    barrier = threading.Barrier(6)
    results: list[object] = []

    def race() -> None:
        barrier.wait()
        try:
            results.append(idempotency.claim(api_engine, actor="alice", key="race", fp="f" * 64, now=T0))
        except idempotency.IdempotencyKeyInProgress as exc:
            results.append(exc)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1
    assert sum(isinstance(r, idempotency.IdempotencyKeyInProgress) for r in results) == 5
    r = client.post(f"{BASE}/tickets", json=NEW, headers={"Idempotency-Key": "race"})
    assert r.status_code == 422  # same key, different request fingerprint


# ---------------------------------------------------------------------------- the plugin in Airflow


def test_airflow_lists_the_plugin_with_its_app_and_nav_entry(client):
    plugins = client.get("/api/v2/plugins").json()["plugins"]
    (xop,) = [p for p in plugins if p["name"] == "xop"]
    assert xop["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/xop", "name": "XOP tickets"}
    ]
    (view,) = xop["external_views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("xop/", "xop-tickets", "nav")


def test_without_an_injected_service_the_app_uses_the_xop_db_connection(
    client, airflow_app, api_db_url, monkeypatch
):
    from sqlalchemy.engine import make_url

    url = make_url(api_db_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB",
        f'{{"conn_type": "postgres", "host": "{url.host}", "port": {url.port}, '
        f'"login": "{url.username}", "schema": "{url.database}"}}',
    )
    open_ticket(client)
    app = harness.ticket_app_of(airflow_app)
    app.state.ticket_service = None
    try:
        page = client.get(f"{BASE}/tickets").json()
        assert page["total"] == 1
        assert app.state.ticket_service.engine.url.database == url.database
    finally:
        app.state.ticket_service.engine.dispose()

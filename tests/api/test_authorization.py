"""Who may change tickets: the role matrix of the simple auth manager on Airflow's real API server
app, and the same checks against a permission-based manager that honours the method."""

from __future__ import annotations

from typing import ClassVar

import pytest
from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

from tests.api.test_api import BASE, NEW, counts, open_ticket
from xop.api import auth
from xop.api.routes import router

#: Airflow role -> a user of the harness with it.
ROLE_USERS = {"viewer": "victor", "user": "ursula", "op": "oscar", "admin": "alice"}
#: A valid body for every POST route (the body is checked after the permission).
BODIES = {
    "respond": {"body": "We are on it."},
    "note": {"body": "internal"},
    "classify": {"urgency": "major"},
    "escalate": {"reason": "needs L3"},
    "pause": {"reason": "waiting for logs"},
    "resume": {},
    "recover": {"body": "restored"},
    "rca": {"cause": "c", "extent": "e", "actions": "a", "plan": "p"},
    "resolve": {"body": "fixed"},
    "close": {"report": "done"},
    "reopen": {"reason": "again"},
    "take": {},  # i16: ticket owners
    "assign": {"to": "lena"},
    "unassign": {},
    "watch": {},  # i16: watchers
    "unwatch": {},
}


def as_user(client, tokens, name: str) -> None:
    client.headers["Authorization"] = f"Bearer {tokens[name]}"


#: i16: the lifecycle actions' dry runs (POST .../<action>/preview) take the action's body.
PREVIEWED = [a for a in BODIES if a not in ("take", "assign", "unassign", "watch", "unwatch")]


def test_every_route_that_changes_something_is_covered():
    posts = {r.path.removesuffix("/preview").rsplit("/", 1)[-1] for r in router.routes if "POST" in r.methods}
    assert posts == {"tickets", *BODIES}
    previews = {r.path.split("/")[-2] for r in router.routes if r.path.endswith("/preview")}
    assert previews == set(PREVIEWED)


@pytest.mark.parametrize("role", ["viewer", "user", "op", "admin"])
def test_every_role_may_read(client, tokens, role):
    number = open_ticket(client)["number"]
    as_user(client, tokens, ROLE_USERS[role])
    for path in (f"{BASE}/tickets", f"{BASE}/tickets/{number}", f"{BASE}/customers", f"{BASE}/me", "/xop/"):
        r = client.get(path)
        assert r.status_code == 200, (role, path, r.text)


def test_a_viewer_changes_nothing_and_is_told_the_missing_permission(client, tokens, api_engine):
    number = open_ticket(client)["number"]
    before = counts(api_engine)
    as_user(client, tokens, "victor")
    attempts = [(f"{BASE}/tickets", NEW | {"urgency": "critical", "source": "monitoring"})]
    attempts += [(f"{BASE}/tickets/{number}/{action}", body) for action, body in BODIES.items()]
    attempts += [(f"{BASE}/tickets/{number}/{action}/preview", BODIES[action]) for action in PREVIEWED]
    attempts.append((f"{BASE}/tickets/{number}/escalate", {"to_level": 4}))
    for path, body in attempts:
        for key in (None, "viewer-retry-1"):
            headers = {"Idempotency-Key": key} if key else {}
            r = client.post(path, json=body, headers=headers)
            assert r.status_code == 403, (path, r.text)
            detail = r.json()["detail"]
            assert "'POST on DAG Runs'" in detail and "victor" in detail and "viewer" in detail, detail
    # Nothing changed: no ticket, event, clock, email or idempotency record.
    assert counts(api_engine) == before
    me = client.get(f"{BASE}/me").json()
    assert me["may_act"] is False and "'POST on DAG Runs'" in me["why_not"]
    assert me["roles"] == ["viewer"]


@pytest.mark.parametrize("role", ["user", "op", "admin"])
def test_user_op_and_admin_may_act(client, tokens, api_engine, role):
    as_user(client, tokens, ROLE_USERS[role])
    me = client.get(f"{BASE}/me").json()
    assert (me["name"], me["may_act"], me["why_not"], me["roles"]) == (ROLE_USERS[role], True, None, [role])
    number = open_ticket(client)["number"]
    for action in ("respond", "note", "escalate", "recover"):
        r = client.post(f"{BASE}/tickets/{number}/{action}", json=BODIES[action])
        assert r.status_code == 200, (role, action, r.text)
    events = client.get(f"{BASE}/tickets/{number}").json()["events"]
    assert {e["actor"] for e in events} == {ROLE_USERS[role]}


def test_the_level_rules_of_the_ticket_model_apply(client, tokens):
    """An L2 user's response does not meet an L3 clock; the L3 user's does."""
    number = open_ticket(client)["number"]
    client.post(f"{BASE}/tickets/{number}/escalate", json={"to_level": 3})

    def l3_response():
        return {c["name"]: c for c in client.get(f"{BASE}/tickets/{number}").json()["clocks"]}["l3_response"]

    as_user(client, tokens, "ursula")
    assert client.get(f"{BASE}/me").json()["level"] == 2
    seen = client.get(f"{BASE}/tickets/{number}").json()
    r = client.post(f"{BASE}/tickets/{number}/respond", json={"body": "L2 here"})
    assert r.status_code in (200, 409), r.text
    assert l3_response()["status"] == "running"
    if "respond" not in seen["actions"]:  # refused: the page was told why
        assert {x["action"] for x in seen["refused_actions"]} >= {"respond"}

    as_user(client, tokens, "omar")
    assert client.get(f"{BASE}/me").json()["level"] == 3
    assert "respond" in client.get(f"{BASE}/tickets/{number}").json()["actions"]
    act = client.post(f"{BASE}/tickets/{number}/respond", json={"body": "L3 engineer here"})
    assert act.status_code == 200, act.text
    assert l3_response()["status"] == "met"


def test_a_viewer_sees_every_action_refused_with_the_reason(client, tokens):
    number = open_ticket(client)["number"]
    as_user(client, tokens, "victor")
    t = client.get(f"{BASE}/tickets/{number}").json()
    assert t["actions"] == []
    why = {x["action"]: x["why"] for x in t["refused_actions"]}
    assert "'POST on DAG Runs'" in why["respond"] and "'POST on DAG Runs'" in why["close"]
    as_user(client, tokens, "ursula")
    t = client.get(f"{BASE}/tickets/{number}").json()
    assert "respond" in t["actions"] and "respond" not in {x["action"] for x in t["refused_actions"]}
    assert all(x["why"] for x in t["refused_actions"])  # reopen of an open ticket, etc.


# ------------------------------------------- the combination, for both kinds of auth manager


def test_the_simple_managers_custom_view_check_alone_would_let_a_viewer_write(airflow_app):
    """Why two checks: the simple manager ignores the method of a custom view."""
    manager = get_auth_manager()
    assert isinstance(manager, SimpleAuthManager)
    viewer = SimpleAuthManagerUser(username="victor", role="viewer")
    assert manager.is_authorized_custom_view(method="PUT", resource_name=auth.RESOURCE, user=viewer)
    assert not manager.is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN, user=viewer)
    refusal = auth.refusal_to_act(manager, viewer, method="PUT")
    assert refusal is not None and refusal.permission == "POST on DAG Runs"


class PermissionAuthManager(SimpleAuthManager):
    """An auth manager that decides from a permission store per (method, resource), as FAB and
    Keycloak do; here the store is a dict per role. Only the two checks the API asks differ from
    the simple manager."""

    READ = ("GET", auth.RESOURCE)
    ACT = frozenset({("PUT", auth.RESOURCE), ("POST", auth.RESOURCE)})
    PERMISSIONS: ClassVar[dict[str, set[tuple[str, str]]]] = {
        "viewer": {READ},
        "runner": {READ, ("POST", "DAG Runs")},  # may trigger DAGs, not act on tickets
        "ticket-clerk": {READ, *ACT},
        "support": {READ, *ACT, ("POST", "DAG Runs")},
    }

    def _has(self, user, method, resource) -> bool:
        return (method, resource) in self.PERMISSIONS.get(user.role, set())

    def is_authorized_custom_view(self, *, method, resource_name, user) -> bool:
        return self._has(user, method, resource_name)

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        if access_entity is DagAccessEntity.RUN:
            return self._has(user, method, "DAG Runs")
        return method == "GET"


@pytest.mark.parametrize(
    ("role", "method", "missing"),
    [
        ("viewer", "PUT", f"PUT on {auth.RESOURCE}"),
        ("viewer", "POST", f"POST on {auth.RESOURCE}"),
        ("runner", "PUT", f"PUT on {auth.RESOURCE}"),  # may trigger DAG runs, but not act on tickets
        ("ticket-clerk", "PUT", "POST on DAG Runs"),
        ("support", "PUT", None),
        ("support", "POST", None),
    ],
)
def test_a_permission_based_manager_is_asked_per_method(role, method, missing):
    user = SimpleAuthManagerUser(username="pat", role=role)
    refusal = auth.refusal_to_act(PermissionAuthManager(), user, method=method)
    if missing is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.permission == missing
        assert repr(missing) in refusal.message and "pat" in refusal.message


def test_role_names_from_any_kind_of_user():
    class Role:
        def __init__(self, name: str) -> None:
            self.name = name

    class FabLikeUser:
        roles: ClassVar[list[Role]] = [Role("Op"), Role("XOP L3")]

    assert auth.user_roles(SimpleAuthManagerUser(username="a", role="op")) == ("op",)
    assert auth.user_roles(FabLikeUser()) == ("Op", "XOP L3")
    assert auth.user_roles(object()) == ()


def test_no_route_of_the_app_lets_a_viewer_change_anything(client, tokens, airflow_app, api_engine):
    """Every non-GET route of the XOP app, whichever feature added it (tickets, quarantine, ...),
    answers a viewer 403 before it looks at the request."""
    from starlette.routing import Route

    from tests.api.harness import ticket_app_of

    number = open_ticket(client)["number"]
    before = counts(api_engine)
    as_user(client, tokens, "victor")
    changing = [
        (method, route.path)
        for route in ticket_app_of(airflow_app).routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method not in ("GET", "HEAD", "OPTIONS")
    ]
    assert len(changing) >= 12
    for method, path in changing:
        url = "/xop" + path.replace("{number}", number)
        for name in ("inbound_id", "attachment_id"):
            url = url.replace("{" + name + "}", "1")
        r = client.request(method, url, json={})
        assert r.status_code == 403, (method, url, r.text)
        assert "'POST on DAG Runs'" in r.json()["detail"]
    assert counts(api_engine) == before

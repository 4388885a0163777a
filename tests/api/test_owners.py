"""Ticket owners through the API: take, assign, unassign, the board's "mine" / "unassigned" filters."""

from __future__ import annotations

from tests.api.test_api import BASE, act, open_ticket


def test_take_assign_unassign_and_the_owner_filters(client, tokens):
    first = open_ticket(client)["number"]
    second = open_ticket(client, subject="Second bridge")["number"]
    detail = client.get(f"{BASE}/tickets/{first}").json()
    assert detail["owner"] is None and detail["ownership_actions"] == ["take", "assign"]
    taken = act(client, first, "take")
    assert taken["owner"] == "alice" and taken["ownership_actions"] == ["assign", "unassign"]
    assert [e["kind"] for e in taken["events"]][-1] == "taken"

    def numbers(**params) -> list[str]:
        r = client.get(f"{BASE}/tickets", params=params)
        assert r.status_code == 200, r.text
        return [t["number"] for t in r.json()["items"]]

    assert numbers(owner="mine") == [first]
    assert numbers(owner="unassigned") == [second]
    assert numbers(owner="alice") == [first]
    # a Level 3 colleague cannot take a Level 2 ticket; the refusal names why
    r = client.post(f"{BASE}/tickets/{first}/assign", json={"to": "omar"})
    assert r.status_code == 409 and "omar works at Level 3" in r.text
    assert act(client, first, "assign", {"to": "lena"})["owner"] == "lena"
    assert numbers(owner="mine") == []
    assert act(client, first, "unassign")["owner"] is None
    assert set(numbers(owner="unassigned")) == {first, second}
    r = client.post(f"{BASE}/tickets/{first}/assign", json={})
    assert r.status_code == 422


def test_search_through_the_list_route(client):
    bridge = open_ticket(client, subject="Bridge drops callers")["number"]
    other = open_ticket(client, subject="Echo on the line", description="Heavy echo")["number"]
    act(client, other, "note", {"body": "carrier kestrel trunk"})

    def numbers(**params) -> list[str]:
        r = client.get(f"{BASE}/tickets", params=params)
        assert r.status_code == 200, r.text
        return [t["number"] for t in r.json()["items"]]

    assert numbers(q="bridge") == [bridge]
    assert numbers(q="kestrel") == [other]
    assert numbers(q="echo", owner="unassigned") == [other]
    assert numbers(q="echo", owner="mine") == []
    r = client.get(f"{BASE}/tickets", params={"q": "***"})
    assert r.status_code == 422 and "q" in r.text

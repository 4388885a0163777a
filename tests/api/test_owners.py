"""Through the API: ticket owners (take, assign, unassign, "mine" / "unassigned"), search (q) and
the CSV export of the filtered board (formula-safe)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.api.test_api import BASE, act, open_ticket
from xop.api import export
from xop.tickets import search


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


def test_a_search_counts_up_to_the_cap_and_the_export_has_every_match(client, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 2)
    made = [open_ticket(client, subject=f"Bridge outage {i}")["number"] for i in range(4)]
    open_ticket(client, subject="Echo on the line")
    page = client.get(f"{BASE}/tickets", params={"q": "bridge", "limit": 3}).json()
    assert (page["total"], page["total_exact"], len(page["items"])) == (2, False, 3)
    page = client.get(f"{BASE}/tickets", params={"q": "bri*", "limit": 3, "offset": 3}).json()
    assert (page["total_exact"], [t["number"] for t in page["items"]]) == (False, made[3:])
    page = client.get(f"{BASE}/tickets", params={"q": "echo"}).json()
    assert (page["total"], page["total_exact"]) == (1, True)
    assert client.get(f"{BASE}/tickets").json()["total_exact"] is True  # no search: exact
    monkeypatch.setattr(export, "PAGE", 2)  # the export pages past the capped count
    rows = list(csv.reader(io.StringIO(client.get(f"{BASE}/tickets.csv", params={"q": "bridge"}).text)))
    assert sorted(r[0] for r in rows[1:]) == made


def test_export_is_the_filtered_board_and_formula_safe(client):
    evil = open_ticket(client, subject='=HYPERLINK("http://x.example","click")')["number"]
    plain = open_ticket(client, subject="@SUM(A1) -1 +1 Bridge")["number"]
    open_ticket(client, subject="Echo on the line")
    act(client, evil, "take")
    r = client.get(f"{BASE}/tickets.csv", params={"q": "hyperlink"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["number", "customer", "system", "subject"] and len(rows) == 2
    assert rows[1][0] == evil and rows[1][3].startswith("'=HYPERLINK") and rows[1][7] == "alice"
    rows = list(
        csv.reader(io.StringIO(client.get(f"{BASE}/tickets.csv", params={"owner": "unassigned"}).text))
    )
    assert {r[0] for r in rows[1:]} == {plain, rows[2][0]} and len(rows) == 3
    assert next(r for r in rows if r[0] == plain)[3] == "'@SUM(A1) -1 +1 Bridge"
    assert client.get(f"{BASE}/tickets.csv", params={"q": "***"}).status_code == 422


def test_the_export_pages_through_every_rank_once(client, clock, monkeypatch):
    """Pages of the export follow the board's index (after the last key, no offset): tickets in
    every rank (due, waiting on the customer, no running clock) and with equal due times come
    out once each, in the board's order."""
    t0 = clock.now
    numbers = []
    for i in range(7):
        numbers.append(open_ticket(client, subject=f"Same due time {i}")["number"])  # equal keys
    clock.now = t0 + timedelta(minutes=5)
    for i, n in enumerate(numbers[:3]):
        act(client, n, "pause" if i < 2 else "respond", {"reason": "logs"} if i < 2 else {"body": "done"})
    monkeypatch.setattr(export, "PAGE", 2)
    rows = list(csv.reader(io.StringIO(client.get(f"{BASE}/tickets.csv").text)))
    board = [t["number"] for t in client.get(f"{BASE}/tickets", params={"limit": 100}).json()["items"]]
    assert [r[0] for r in rows[1:]] == board and sorted(board) == sorted(numbers)

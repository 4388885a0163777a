"""Through the API, on SQLite and PostgreSQL: the board's order (breached first, then by time
left), the dry run of an action (who is emailed, which clocks stop or start, nothing written)
and watchers (watch / unwatch, copies of the ticket's updates by email to XOP addresses only)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api import harness
from tests.api.test_api import BASE, act, counts, open_ticket


@pytest.fixture
def both(session_client, airflow_app, db_engine, xop_config, clock, tokens, api_engine):
    """A client authenticated as alice on an empty ticket database: SQLite, then PostgreSQL."""
    from xop.api.tables import idempotency_keys

    idempotency_keys.create(db_engine, checkfirst=True)
    harness.attach(harness.ticket_app_of(airflow_app), db_engine, xop_config, clock)
    session_client.headers["Authorization"] = f"Bearer {tokens['alice']}"
    session_client.engine = db_engine
    yield session_client
    session_client.headers.pop("Authorization", None)
    session_client.cookies.clear()
    harness.attach(harness.ticket_app_of(airflow_app), api_engine, xop_config, clock)


def test_board_lists_breached_first_then_by_time_left(both, clock):
    t0 = clock.now
    late = open_ticket(both, subject="Opened first, breaches")["number"]
    clock.now = t0 + timedelta(minutes=40)
    soon = open_ticket(both, subject="Due next")["number"]
    clock.now = t0 + timedelta(minutes=50)
    waiting = open_ticket(both, subject="Waits on the customer")["number"]
    act(both, waiting, "pause", {"reason": "need logs"})
    clock.now = t0 + timedelta(minutes=60)
    later = open_ticket(both, subject="Due last")["number"]
    act(both, later, "respond", {"body": "On it"})  # its only clock is met: no running clock
    clock.now = t0 + timedelta(minutes=70)
    fresh = open_ticket(both, subject="Opened last")["number"]
    clock.now = t0 + timedelta(hours=2, minutes=10)  # the first ticket's 2 h L2 response is missed

    page = both.get(f"{BASE}/tickets").json()
    items = page["items"]
    assert [t["number"] for t in items] == [late, soon, fresh, waiting, later]
    assert [t["breached"] for t in items] == [True, False, False, False, False]
    left = [t["next_clock"]["remaining_seconds"] for t in items[1:3]]
    assert left == sorted(left) and items[0]["next_clock"]["remaining_seconds"] < 0
    assert items[3]["next_clock"]["status"] == "paused" and items[4]["next_clock"] is None
    # the older sort keys are still there
    by_open = both.get(f"{BASE}/tickets", params={"sort": "-opened_at"}).json()["items"]
    assert [t["number"] for t in by_open] == [fresh, later, waiting, soon, late]


def test_preview_says_who_is_emailed_and_which_clocks_move_and_writes_nothing(both, clock):
    number = open_ticket(both)["number"]
    before = counts(both.engine)
    r = both.post(f"{BASE}/tickets/{number}/escalate/preview", json={"reason": "needs engineering"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["state_before"], p["state_after"]) == ("open", "open")
    assert (p["level_before"], p["level_after"]) == ("Level 2", "Level 3")
    assert {(c["name"], c["change"]) for c in p["clocks"]} == {
        ("l2_response", "stops"),
        ("l3_response", "starts"),
        ("l3_recovery", "starts"),
    }
    assert [(e["recipient"], e["audience"], e["kind"]) for e in p["emails"]] == [
        ("carl@acme.example", "customer", "ticket_escalated")
    ]
    assert p["emails"][0]["subject"].startswith(f"[{number}] Escalated to Level 3")
    assert counts(both.engine) == before  # a dry run: nothing written

    # Closing an open ticket: every running clock stops, the closing report goes to management.
    p = both.post(f"{BASE}/tickets/{number}/close/preview", json={"report": "Fixed"}).json()
    assert p["state_after"] == "closed" and [(c["name"], c["change"]) for c in p["clocks"]] == [
        ("l2_response", "stops")
    ]
    assert {e["recipient"] for e in p["emails"]} == {"carl@acme.example", "ann.boss@acme.example"}
    assert counts(both.engine) == before

    # The same refusals and validation as the action itself, in the same words.
    r = both.post(f"{BASE}/tickets/{number}/reopen/preview", json={"reason": "again"})
    assert r.status_code == 409 and "only resolved or closed tickets are reopened" in r.text
    real = both.post(f"{BASE}/tickets/{number}/reopen", json={"reason": "again"})
    assert real.status_code == 409 and real.json()["detail"] == r.json()["detail"]
    r = both.post(f"{BASE}/tickets/{number}/close/preview", json={})
    assert r.status_code == 422 and "report" in r.text
    assert both.post(f"{BASE}/tickets/XOP-999999/close/preview", json={"report": "x"}).status_code == 404
    assert counts(both.engine) == before

    # The preview is what the action then does.
    done = act(both, number, "escalate", {"reason": "needs engineering"})
    assert done["level"] == 3
    assert {c["name"] for c in done["clocks"] if c["status"] == "running"} == {"l3_response", "l3_recovery"}
    clock.now += timedelta(minutes=5)
    p = both.post(f"{BASE}/tickets/{number}/resolve/preview", json={"body": "patched"}).json()
    assert {(c["name"], c["change"]) for c in p["clocks"]} == {
        ("l3_response", "stops"),
        ("l3_recovery", "met"),
        ("l3_rca", "starts"),
    }


def test_preview_is_refused_to_a_read_only_user(both, tokens):
    number = open_ticket(both)["number"]
    both.headers["Authorization"] = f"Bearer {tokens['victor']}"
    r = both.post(f"{BASE}/tickets/{number}/close/preview", json={"report": "x"})
    assert r.status_code == 403


def _plain(row: dict) -> str:
    """The text/plain part of an outbox row's message, decoded."""
    import email
    from email import policy

    return email.message_from_bytes(row["mime"], policy=policy.default).get_body(("plain",)).get_content()


def _outbox(engine, **where) -> list[dict]:
    from tests.conftest import outbox_rows

    return [r for r in outbox_rows(engine) if all(r[k] == v for k, v in where.items())]


def test_watch_copies_the_tickets_updates_to_staff_only(both, tokens, clock):
    number = open_ticket(both)["number"]
    detail = both.get(f"{BASE}/tickets/{number}").json()
    assert (detail["watchers"], detail["watching"], detail["may_watch"]) == ([], False, True)
    watched = act(both, number, "watch")
    assert (watched["watchers"], watched["watching"]) == (["alice"], True)
    r = both.post(f"{BASE}/tickets/{number}/watch", json={})
    assert r.status_code == 409 and "already watch" in r.text
    act(both, number, "take")

    # omar's reply: the customer's email, and an internal copy to the watcher alice
    both.headers["Authorization"] = f"Bearer {tokens['omar']}"
    clock.now += timedelta(minutes=1)
    act(both, number, "respond", {"body": "Rerouted to the spare SBC."})
    copies = _outbox(both.engine, kind="ticket_updated")
    assert [(c["recipient"], c["audience"]) for c in copies] == [
        ("carl@acme.example", "customer"),
        ("alice@xopnetworks.com", "internal"),
    ]
    text = _plain(copies[1])
    assert "Rerouted to the spare SBC." in text and "who watches" in text and "Owner:" in text
    assert "Owner:       alice" in text and "Owner:" not in _plain(copies[0])  # customers never see it
    # the dry run of closing names the watcher's copy among the recipients
    p = both.post(f"{BASE}/tickets/{number}/close/preview", json={"report": "done"}).json()
    assert ("alice@xopnetworks.com", "internal") in {(e["recipient"], e["audience"]) for e in p["emails"]}

    # her own actions are not copied back to her; unwatch stops the copies
    both.headers["Authorization"] = f"Bearer {tokens['alice']}"
    act(both, number, "respond", {"body": "Second update."})
    assert len(_outbox(both.engine, recipient="alice@xopnetworks.com")) == 1
    assert act(both, number, "unwatch")["watchers"] == []
    assert both.post(f"{BASE}/tickets/{number}/unwatch", json={}).status_code == 409
    both.headers["Authorization"] = f"Bearer {tokens['omar']}"
    act(both, number, "escalate", {"reason": "needs L3"})
    assert len(_outbox(both.engine, recipient="alice@xopnetworks.com")) == 1

    # a staff user without an address cannot watch (nothing would reach them)
    both.headers["Authorization"] = f"Bearer {tokens['ursula']}"
    assert both.get(f"{BASE}/tickets/{number}").json()["may_watch"] is False
    r = both.post(f"{BASE}/tickets/{number}/watch", json={})
    assert r.status_code == 409 and "staff.emails" in r.text


def test_a_note_through_the_api_reaches_the_watchers_only(both, tokens, clock):
    number = open_ticket(both)["number"]
    act(both, number, "watch")  # alice
    both.headers["Authorization"] = f"Bearer {tokens['omar']}"
    act(both, number, "watch")
    clock.now += timedelta(minutes=1)
    act(both, number, "note", {"body": "Vendor case 4711: <do not> reboot"})
    notes = _outbox(both.engine, kind="ticket_note")
    assert [(n["recipient"], n["audience"]) for n in notes] == [("alice@xopnetworks.com", "internal")]
    assert "Vendor case 4711: <do not> reboot" in _plain(notes[0])
    assert not [r for r in _outbox(both.engine) if r["audience"] == "customer" and "4711" in _plain(r)]

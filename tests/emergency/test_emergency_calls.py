"""The emergency call against SIPp as the bridge: answered (the RTP the bridge heard is decoded),
busy, no answer, 503 then answered on the retry, digest auth; once per emergency; hours."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conftest import outbox_rows
from tests.emergency.bridge import (
    AFTER_HOURS,
    FULL_ANNOUNCEMENT,
    IN_HOURS,
    events_of,
    open_emergency,
    with_emergency_call,
)
from xop.emergency import store
from xop.emergency.run import ring_emergencies
from xop.emergency.tables import emergency_calls
from xop.tasks.emergency import dial_bridge, trunk_credentials
from xop.tickets import TicketService
from xop.trunks import g711

RECIPIENTS = {"mgmt@xopnetworks.com", "support@xopnetworks.com"}


def ring(engine, cfg, now):
    return ring_emergencies(engine, cfg, now=now, dial=dial_bridge, credentials=trunk_credentials)


def calls(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(emergency_calls).order_by(emergency_calls.c.id))
        return [dict(r._mapping) for r in rows]


def followups(engine) -> list[dict]:
    return outbox_rows(engine, "emergency_call")


def body(row: dict) -> str:
    import email
    import email.policy

    message = email.message_from_bytes(row["mime"], policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


def test_the_bridge_answers_and_hears_the_announcement_twice(pg_engine, xop_config, bridges):
    bridge = bridges.start("bridge_answer.xml")
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), announcement=FULL_ANNOUNCEMENT)
    emergency = open_emergency(pg_engine, cfg, at=IN_HOURS - timedelta(minutes=1))

    stats = ring(pg_engine, cfg, IN_HOURS)

    assert (stats.new, stats.attempts, stats.answered, stats.failed) == (1, 1, 1, 0)
    [call] = calls(pg_engine)
    assert call["status"] == "answered" and call["attempt_count"] == 1
    assert call["final_sip_code"] == 200 and call["duration_s"] > 0
    assert call["answered_at"] >= IN_HOURS and call["finished_at"] >= call["answered_at"]
    assert call["audio"]["method"] == "espeak-ng" and call["audio"]["codec"] == "PCMU"
    assert call["rtp_sent"] == call["audio"]["packets"]

    # What the bridge heard: every packet, PCMU, as long as two announcements, and speech.
    sink = bridge.sink
    assert {pt for _, pt, _ in sink.packets} == {0}
    assert len(sink.packets) == call["rtp_sent"]
    heard = g711.ulaw_decode(sink.payload())
    assert heard.size / 8000 >= 2 * call["audio"]["once_seconds"]
    loud = np.sqrt(np.mean(heard.astype(np.float64) ** 2))
    assert loud > 300
    # Played twice: the two halves after the lead-in are the same sound.
    once = call["audio"]["once_samples"]
    first, second = 4000, 4000 + once + 12000
    assert np.array_equal(heard[first : first + once], heard[second : second + once])

    # The history: one attempt event and one outcome event, with the figures.
    [attempt] = events_of(pg_engine, emergency["ticket_id"], store.ATTEMPT_KIND)
    assert attempt["payload"]["answered"] is True and attempt["payload"]["sip_code"] == 200
    assert attempt["payload"]["rtp_sent"] == call["rtp_sent"] and attempt["payload"]["answered_at"]
    [outcome] = events_of(pg_engine, emergency["ticket_id"], store.OUTCOME_KIND)
    assert outcome["payload"]["status"] == "answered" and outcome["public"] is False

    # The follow-up of the emergency email says the bridge was reached.
    rows = followups(pg_engine)
    assert {r["recipient"] for r in rows} == RECIPIENTS
    assert all(f"[{emergency['number']}] Emergency bridge reached" in r["subject"] for r in rows)
    text = body(rows[0])
    assert "9725900219 answered on attempt 1" in text and "Nobody has been told" not in text


def test_a_busy_bridge_is_retried_then_recorded(pg_engine, xop_config, bridges):
    bridge = bridges.start("busy_486.xml", with_sink=False)
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), retries=2, retry_spacing_s=0)
    emergency = open_emergency(pg_engine, cfg, at=IN_HOURS)

    stats = ring(pg_engine, cfg, IN_HOURS)

    assert (stats.attempts, stats.answered, stats.failed) == (3, 0, 1)
    [call] = calls(pg_engine)
    assert call["status"] == "failed" and call["attempt_count"] == 3 and call["final_sip_code"] == 486
    attempts = events_of(pg_engine, emergency["ticket_id"], store.ATTEMPT_KIND)
    assert [a["payload"]["sip_code"] for a in attempts] == [486, 486, 486]
    assert all(a["payload"]["answered"] is False and "busy" in a["payload"]["reason"] for a in attempts)
    rows = followups(pg_engine)
    assert all("NOT reached" in r["subject"] for r in rows)
    text = body(rows[0])
    assert "not reached in 3 attempt(s)" in text
    assert "Nobody has been told by phone: call 972-590-0219" in text


def test_no_answer_is_cancelled_and_recorded(db_engine, xop_config, bridges):
    bridge = bridges.start("no_answer.xml", with_sink=False)
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), retries=0, ring_timeout_s=1.5)
    emergency = open_emergency(db_engine, cfg, at=IN_HOURS)

    stats = ring(db_engine, cfg, IN_HOURS)

    assert (stats.attempts, stats.failed) == (1, 1)
    [attempt] = events_of(db_engine, emergency["ticket_id"], store.ATTEMPT_KIND)
    assert attempt["payload"]["answered"] is False and attempt["payload"]["reason"].startswith("no answer")
    assert calls(db_engine)[0]["status"] == "failed"


def test_503_then_answered_on_the_retry_of_a_later_run(pg_engine, xop_config, bridges):
    bridge = bridges.start("bridge_503_then_answer.xml")
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), retries=2, retry_spacing_s=600)
    emergency = open_emergency(pg_engine, cfg, at=IN_HOURS)

    first = ring(pg_engine, cfg, IN_HOURS)
    assert (first.attempts, first.answered, first.waiting) == (1, 0, 1)
    [call] = calls(pg_engine)
    assert call["status"] == "waiting" and call["final_sip_code"] == 503
    assert followups(pg_engine) == []  # no outcome yet

    early = ring(pg_engine, cfg, IN_HOURS + timedelta(minutes=5))  # the retry is not due yet
    assert early.attempts == 0 and not bridge.sink.packets

    later = ring(pg_engine, cfg, IN_HOURS + timedelta(minutes=10))
    assert (later.attempts, later.answered) == (1, 1)
    [call] = calls(pg_engine)
    assert call["status"] == "answered" and call["attempt_count"] == 2 and call["final_sip_code"] == 200
    attempts = events_of(pg_engine, emergency["ticket_id"], store.ATTEMPT_KIND)
    codes = [a["payload"]["sip_code"] for a in attempts]
    assert codes == [503, 200]
    assert len(bridge.sink.packets) == call["rtp_sent"] > 0
    assert all("reached" in r["subject"] and "NOT" not in r["subject"] for r in followups(pg_engine))


def test_digest_credentials_come_from_the_trunk_connection(pg_engine, xop_config, bridges, monkeypatch):
    bridge = bridges.start("bridge_auth_401.xml")
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_BRIDGE", json.dumps({"conn_type": "sip", "login": "bridge", "password": "f1rebar"})
    )
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(conn_id="xop_bridge"), retries=0)
    open_emergency(pg_engine, cfg, at=IN_HOURS)

    stats = ring(pg_engine, cfg, IN_HOURS)

    assert stats.answered == 1
    [call] = calls(pg_engine)
    assert call["status"] == "answered" and len(bridge.sink.packets) == call["rtp_sent"] > 0
    assert "f1rebar" not in json.dumps([call["attempts"], call["reason"]])


def test_wrong_credentials_are_an_attempt_that_failed(pg_engine, xop_config, bridges, monkeypatch):
    bridge = bridges.start("bridge_auth_401.xml")
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_BRIDGE", json.dumps({"conn_type": "sip", "login": "bridge", "password": "wrong"})
    )
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(conn_id="xop_bridge"), retries=0)
    open_emergency(pg_engine, cfg, at=IN_HOURS)

    assert ring(pg_engine, cfg, IN_HOURS).failed == 1
    [call] = calls(pg_engine)
    assert call["final_sip_code"] == 403 and not bridge.sink.packets


def test_two_runs_ring_once(db_engine, xop_config, bridges):
    bridge = bridges.start("bridge_answer.xml")
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk())
    open_emergency(db_engine, cfg, at=IN_HOURS)

    first = ring(db_engine, cfg, IN_HOURS)
    heard = len(bridge.sink.packets)
    second = ring(db_engine, cfg, IN_HOURS + timedelta(minutes=5))

    assert (first.new, first.answered) == (1, 1)
    assert (second.new, second.attempts, second.emails) == (0, 0, 0)
    assert len(calls(db_engine)) == 1 and len(bridge.sink.packets) == heard > 0
    assert len(followups(db_engine)) == len(RECIPIENTS)


def test_outside_the_hours_nothing_rings_and_the_email_says_so(db_engine, xop_config, bridges):
    bridge = bridges.start("bridge_answer.xml")
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk())  # hours: business (Mon-Fri 08-18 Chicago)
    emergency = open_emergency(db_engine, cfg, at=AFTER_HOURS)

    stats = ring(db_engine, cfg, AFTER_HOURS)
    again = ring(db_engine, cfg, AFTER_HOURS + timedelta(hours=13))  # next morning: still not rung

    assert (stats.new, stats.skipped, stats.attempts) == (1, 1, 0)
    assert (again.new, again.attempts) == (0, 0)
    assert not bridge.sink.packets
    [call] = calls(db_engine)
    assert call["status"] == "skipped" and "outside the hours" in call["reason"]
    assert events_of(db_engine, emergency["ticket_id"], store.ATTEMPT_KIND) == []
    [outcome] = events_of(db_engine, emergency["ticket_id"], store.OUTCOME_KIND)
    assert outcome["payload"]["status"] == "skipped"
    rows = followups(db_engine)
    assert {r["recipient"] for r in rows} == RECIPIENTS
    assert all("NOT reached" in r["subject"] for r in rows)
    text = body(rows[0])
    assert "was NOT rung: not called: outside the hours the bridge may ring" in text
    assert "Mon-Fri 08:00-18:00 America/Chicago" in text
    assert "Nobody has been told by phone: call 972-590-0219" in text


def test_24x7_hours_ring_at_night(pg_engine, xop_config, bridges):
    bridge = bridges.start("bridge_answer.xml")
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), hours="24x7")
    open_emergency(pg_engine, cfg, at=AFTER_HOURS)
    assert ring(pg_engine, cfg, AFTER_HOURS).answered == 1
    assert bridge.sink.packets


def test_an_old_emergency_or_a_closed_ticket_is_not_rung(db_engine, xop_config):
    cfg = with_emergency_call(xop_config, trunk={"id": "nowhere", "host": "127.0.0.1", "port": 9})
    open_emergency(db_engine, cfg, at=IN_HOURS - timedelta(hours=3))
    stats = ring(db_engine, cfg, IN_HOURS)
    assert (stats.skipped, stats.attempts) == (1, 0)
    assert "minutes old" in calls(db_engine)[0]["reason"]


def test_a_call_abandoned_mid_attempt_is_not_rung_again(db_engine, xop_config):
    cfg = with_emergency_call(xop_config, trunk={"id": "nowhere", "host": "127.0.0.1", "port": 9})
    emergency = open_emergency(db_engine, cfg, at=IN_HOURS)
    TicketService(db_engine, cfg).watch(emergency["number"], actor="omar", now=IN_HOURS)
    with db_engine.begin() as conn:  # a worker claimed it and died while the phone rang
        fresh = store.new_emergencies(conn)
        call_id = store.claim_new(
            conn, fresh[0], status="waiting", number="9725900219", trunk="x", now=IN_HOURS
        )
        assert store.claim_due(conn, now=IN_HOURS) == [call_id]

    stats = ring(db_engine, cfg, IN_HOURS + timedelta(hours=1))

    assert (stats.interrupted, stats.attempts) == (1, 0)
    [call] = calls(db_engine)
    assert call["status"] == "interrupted"
    text = body(followups(db_engine)[0])
    assert "unknown" in text and "not rung again" in text
    assert events_of(db_engine, emergency["ticket_id"], store.OUTCOME_KIND)
    # The ticket's watcher gets the outcome too (i16), once, as an internal copy.
    copies = [r for r in followups(db_engine) if r["recipient"] == "omar@xopnetworks.com"]
    assert [(r["audience"], ":watch:" in r["dedup_key"]) for r in copies] == [("internal", True)]
    assert "omar, who watches " + emergency["number"] in body(copies[0])


def test_disabled_does_nothing(db_engine, xop_config):
    open_emergency(db_engine, xop_config, at=IN_HOURS)
    stats = ring(db_engine, xop_config, IN_HOURS)
    assert stats.enabled is False and calls(db_engine) == []


@pytest.mark.parametrize("trunk", ["no-such-trunk"])
def test_an_unknown_trunk_is_recorded_not_rung(db_engine, xop_config, trunk):
    cfg = with_emergency_call(xop_config, trunk=trunk)
    open_emergency(db_engine, cfg, at=IN_HOURS)
    stats = ring(db_engine, cfg, IN_HOURS)
    assert stats.skipped == 1
    assert "no trunk with id 'no-such-trunk'" in calls(db_engine)[0]["reason"]


def test_two_concurrent_runs_ring_once(pg_engine, xop_config, bridges):
    import threading

    bridge = bridges.start("busy_486.xml", with_sink=False)
    cfg = with_emergency_call(xop_config, trunk=bridge.trunk(), retries=0)
    open_emergency(pg_engine, cfg, at=IN_HOURS)
    results, start = [], threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(ring(pg_engine, cfg, IN_HOURS))

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert len(results) == 2
    assert sum(r.new for r in results) == 1 and sum(r.attempts for r in results) == 1
    [call] = calls(pg_engine)
    assert call["status"] == "failed" and call["attempt_count"] == 1

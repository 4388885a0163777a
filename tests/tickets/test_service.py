"""The ticket lifecycle on SQLite and PostgreSQL: operations, clocks, outbox rows and errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import outbox_rows
from xop.core.errors import InvalidInput, InvalidTransition, TicketNotFound
from xop.notify.tables import notifications
from xop.tickets import TicketService
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

CHI = ZoneInfo("America/Chicago")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


@pytest.fixture
def svc(db_engine, xop_config) -> TicketService:
    return TicketService(db_engine, xop_config)


def open_ticket(svc: TicketService, now: datetime, **kw) -> object:
    args = {
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "Bridge drops callers after 10 minutes",
        "description": "Since this morning every conference drops.",
        "reporter_name": "Carl Caller",
        "reporter_email": "carl@acme.example",
        "now": now,
    } | kw
    if "urgency" in kw and "actor" not in kw:
        args["actor"] = "lena"  # only XOP staff (or monitoring) set an urgency; lena acts as L2
    return svc.open(**args)


def counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (tickets, ticket_events, ticket_clocks, notifications)
        }


def clock(svc: TicketService, number: str, name: str, cycle: int = 0) -> dict:
    rows = [c for c in svc.clocks(number) if c["name"] == name and c["cycle"] == cycle]
    assert len(rows) == 1, rows
    return rows[0]


def test_open_numbers_clock_and_acknowledgement(svc, db_engine):
    now = chi(2026, 12, 1, 9, 0)  # Tuesday 09:00 CST
    t = open_ticket(svc, now)
    assert t.number == "XOP-000001" and t.level == 2 and t.state == "open"
    assert open_ticket(svc, now).number == "XOP-000002"
    l2 = clock(svc, t.number, "l2_response")
    assert l2["due_at"] == chi(2026, 12, 1, 11, 0)
    assert t.next_due_at == chi(2026, 12, 1, 10, 0)  # first warning at 50 %
    ack = outbox_rows(db_engine, "ticket_opened")
    assert [n["recipient"] for n in ack] == ["carl@acme.example"] * 2
    assert "XOP-000001" in ack[0]["subject"]
    body = ack[0]["mime"].decode()
    assert "XOP-000001" in body and "2 business hours" in body
    assert [e["kind"] for e in svc.history(t.number)] == ["opened"]


def test_level1_ticket_runs_no_clock_until_escalated(svc):
    now = chi(2026, 12, 1, 9, 0)
    t = open_ticket(svc, now, level=1)
    assert svc.clocks(t.number) == [] and t.next_due_at is None
    t = svc.escalate(t.number, actor="acme-staff", now=now + timedelta(hours=1))
    assert t.level == 2
    assert clock(svc, t.number, "l2_response")["due_at"] == chi(2026, 12, 1, 12, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"customer": "nobody"}, "customer"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"reporter_email": "not-an-email"}, "reporter_email"),
        ({"urgency": "urgent"}, "urgency"),
        ({"proposed_urgency": "high"}, "proposed_urgency"),
        ({"level": 3}, "level"),
        ({"source": "fax"}, "source"),
        ({"system": "globex-conf1"}, "system"),
        ({"now": datetime(2026, 12, 1, 9, 0)}, "now"),
    ],
)
def test_open_rejects_bad_input_and_changes_nothing(svc, db_engine, kwargs, field):
    before = counts(db_engine)
    kwargs = dict(kwargs)
    with pytest.raises(InvalidInput) as err:
        open_ticket(svc, kwargs.pop("now", chi(2026, 12, 1, 9, 0)), **kwargs)
    assert err.value.field == field
    assert counts(db_engine) == before


def test_invalid_transitions_raise_and_change_nothing(svc, db_engine):
    now = chi(2026, 12, 1, 9, 0)
    t = open_ticket(svc, now)
    svc.close(t.number, actor="l2", now=now, report="Duplicate of XOP-000009")
    before = counts(db_engine)
    with pytest.raises(InvalidTransition, match="cannot recover a ticket that is closed"):
        svc.recover(t.number, actor="l3", now=now)
    with pytest.raises(InvalidTransition):
        svc.escalate(t.number, actor="l2", now=now)
    with pytest.raises(InvalidTransition):
        svc.pause(t.number, actor="l2", now=now)
    with pytest.raises(TicketNotFound):
        svc.respond("XOP-999999", actor="l2", body="hi", now=now)
    with pytest.raises(InvalidInput, match="urgency"):
        svc.classify(t.number, urgency="severe", actor="l2", now=now)
    assert counts(db_engine) == before

    u = open_ticket(svc, now)
    for level in (3, 4):
        u = svc.escalate(u.number, actor="l2", now=now, to_level=level)
    before = counts(db_engine)
    with pytest.raises(InvalidTransition, match="Emergency is Level 4's call"):
        svc.escalate(u.number, actor="l2", now=now)
    with pytest.raises(InvalidInput, match="to_level"):
        svc.escalate(u.number, actor="l4", now=now, to_level=6)
    with pytest.raises(InvalidTransition, match="escalation must go up"):
        svc.escalate(u.number, actor="l4", now=now, to_level=3)
    with pytest.raises(InvalidTransition, match="RCA follows recovery"):
        svc.send_rca(u.number, actor="l3", now=now, cause="c", extent="e", actions="a", plan="p")
    with pytest.raises(InvalidTransition):
        svc.resume(u.number, actor="l3", now=now)
    with pytest.raises(InvalidTransition):
        svc.reopen(u.number, actor="l3", now=now, reason="again")
    assert counts(db_engine) == before
    u = svc.escalate(u.number, actor="l4", now=now)  # Level 4 calls the emergency
    assert u.emergency_at == now and u.level == 4
    before = counts(db_engine)
    with pytest.raises(InvalidTransition, match="nothing is above it"):
        svc.escalate(u.number, actor="l4", now=now)
    assert counts(db_engine) == before


def test_whole_history_moves_the_clocks(svc, db_engine):
    t0 = chi(2026, 12, 4, 16, 0)  # Friday 16:00 CST
    t = open_ticket(svc, t0, proposed_urgency="critical")
    # L2 response: 2 business hours from Friday 16:00 = Friday 18:00 (closing time stays).
    assert clock(svc, t.number, "l2_response")["due_at"] == chi(2026, 12, 4, 18, 0)
    t = svc.respond(t.number, actor="lena-l2", body="Looking at it", now=t0 + timedelta(minutes=30))
    assert clock(svc, t.number, "l2_response")["met_at"] == t0 + timedelta(minutes=30)

    # Escalated to L3 Monday 09:00: urgency is the proposed one; L3 clocks start.
    mon = chi(2026, 12, 7, 9, 0)
    t = svc.escalate(t.number, actor="lena-l2", now=mon, reason="Needs engineering")
    assert (t.level, t.urgency) == (3, "critical")
    assert clock(svc, t.number, "l3_response")["due_at"] == chi(2026, 12, 7, 11, 0)
    assert clock(svc, t.number, "l3_recovery")["due_at"] == chi(2026, 12, 7, 15, 0)
    esc = outbox_rows(db_engine, "ticket_escalated")
    assert len(esc) == 1 and esc[0]["recipient"] == "carl@acme.example"
    assert "972-590-0200" in esc[0]["mime"].decode()

    # Waiting on the customer from 10:00 to 13:30: 3.5 business hours added to running clocks.
    t = svc.pause(t.number, actor="omar-l3", now=chi(2026, 12, 7, 10, 0), reason="Need logs")
    assert t.state == "waiting_customer" and t.next_due_at is None
    t = svc.resume(t.number, actor="omar-l3", now=chi(2026, 12, 7, 13, 30))
    rec = clock(svc, t.number, "l3_recovery")
    assert rec["paused_seconds"] == 3.5 * 3600
    # 6 h from 09:00 + 3.5 h paused = 9.5 business hours -> Monday 18:00 is 9 h; +0.5 h Tue 08:30.
    assert rec["due_at"] == chi(2026, 12, 8, 8, 30)

    # Reclassified to major: start and pause kept, target 12 h -> 15.5 h from Mon 09:00 = Tue 14:30.
    t = svc.classify(t.number, urgency="major", actor="omar-l3", now=chi(2026, 12, 7, 14, 0))
    rec = clock(svc, t.number, "l3_recovery")
    assert rec["started_at"] == mon and rec["paused_seconds"] == 3.5 * 3600
    assert rec["due_at"] == chi(2026, 12, 8, 14, 30)
    # L3 response, major: 8 h + 3.5 h paused from Mon 09:00 = Tue 10:30.
    assert clock(svc, t.number, "l3_response")["due_at"] == chi(2026, 12, 8, 10, 30)

    t = svc.respond(t.number, actor="omar-l3", body="Found it", now=chi(2026, 12, 7, 15, 0))
    assert clock(svc, t.number, "l3_response")["met_at"] == chi(2026, 12, 7, 15, 0)
    t = svc.recover(t.number, actor="omar-l3", now=chi(2026, 12, 7, 16, 0), body="Card reseated")
    assert t.state == "recovered" and clock(svc, t.number, "l3_recovery")["met_at"] is not None
    # RCA: 2 business days (major) from Monday 16:00 -> Wednesday 16:00.
    assert clock(svc, t.number, "l3_rca")["due_at"] == chi(2026, 12, 9, 16, 0)
    t = svc.send_rca(
        t.number,
        actor="omar-l3",
        now=chi(2026, 12, 8, 9, 0),
        cause="Loose DSP card",
        extent="All conferences on span 2",
        actions="Reseated the card",
        plan="Replace the card at next maintenance",
    )
    assert clock(svc, t.number, "l3_rca")["met_at"] == chi(2026, 12, 8, 9, 0)
    assert "Loose DSP card" in outbox_rows(db_engine, "rca")[0]["mime"].decode()

    t = svc.escalate(t.number, actor="omar-l3", now=chi(2026, 12, 8, 10, 0), reason="Permanent fix")
    assert clock(svc, t.number, "l4_resolution")["due_at"] == chi(2026, 12, 17, 10, 0)  # 7 business days
    t = svc.resolve(t.number, actor="dev", now=chi(2026, 12, 10, 10, 0), body="Firmware 4.2 fixes it")
    assert clock(svc, t.number, "l4_resolution")["met_at"] is not None and t.next_due_at is None
    t = svc.close(t.number, actor="lena-l2", now=chi(2026, 12, 11, 10, 0), report="Fixed by firmware 4.2")
    closing = {n["recipient"] for n in outbox_rows(db_engine, "ticket_closed")}
    assert closing == {"carl@acme.example", "ann.boss@acme.example"}

    # Reopen: the owning level's (L4) clock starts a new cycle; no L2 clock; met clocks stay met.
    t = svc.reopen(t.number, actor="carl", now=chi(2026, 12, 14, 9, 0), reason="It happened again")
    assert t.state == "open" and t.reopen_count == 1
    assert clock(svc, t.number, "l4_resolution", cycle=1)["due_at"] == chi(2026, 12, 23, 9, 0)
    assert not [c for c in svc.clocks(t.number) if c["cycle"] == 1 and c["name"] != "l4_resolution"]
    assert clock(svc, t.number, "l2_response", cycle=0)["met_at"] == t0 + timedelta(minutes=30)
    assert clock(svc, t.number, "l3_rca")["met_at"] == chi(2026, 12, 8, 9, 0)
    kinds = [e["kind"] for e in svc.history(t.number)]
    assert kinds == [
        "opened",
        "responded",
        "escalated",
        "paused",
        "resumed",
        "classified",
        "responded",
        "recovered",
        "rca_sent",
        "escalated",
        "resolved",
        "closed",
        "reopened",
    ]


def test_pause_across_dst_change(svc):
    # Friday 2026-03-06 17:00 CST, critical ticket escalated to L3: recovery due in 6 h.
    t = open_ticket(svc, chi(2026, 3, 6, 16, 0), urgency="critical")
    t = svc.escalate(t.number, actor="l2", now=chi(2026, 3, 6, 17, 0))
    assert clock(svc, t.number, "l3_recovery")["due_at"] == chi(2026, 3, 9, 13, 0)  # Monday CDT
    svc.pause(t.number, actor="l3", now=chi(2026, 3, 6, 17, 30))
    # Paused over the spring-forward weekend until Monday 10:00 CDT: 2.5 business hours.
    t = svc.resume(t.number, actor="l3", now=chi(2026, 3, 9, 10, 0))
    rec = clock(svc, t.number, "l3_recovery")
    assert rec["paused_seconds"] == 2.5 * 3600
    assert rec["due_at"] == chi(2026, 3, 9, 15, 30)
    assert rec["due_at"].utcoffset() == timedelta(0)  # stored and returned in UTC


def test_concurrent_opens_get_unique_numbers(pg_engine, xop_config):
    svc = TicketService(pg_engine, xop_config)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(15):
                numbers.append(open_ticket(svc, chi(2026, 12, 1, 9, 0)).number)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(numbers) == [f"XOP-{n:06d}" for n in range(1, 121)]


def test_monitoring_reports_open_one_ticket_per_problem(svc, db_engine):
    now = chi(2026, 12, 1, 9, 0)
    args = {
        "dedup_key": "trunk:acme-pri-1",
        "customer": "acme",
        "system": "acme-conf1",
        "subject": "Trunk acme-pri-1 failed its dial check",
        "urgency": "critical",
    }
    t, created = svc.report_problem(description="INVITE timed out", now=now, **args)
    assert created and t.source == "monitoring" and t.urgency == "critical"
    assert t.reporter_email == "ann.boss@acme.example"
    t2, created2 = svc.report_problem(description="again", now=now + timedelta(hours=6), **args)
    assert not created2 and t2.number == t.number
    assert svc.report_recovery(dedup_key="trunk:acme-pri-1", body="Trunk OK", now=now + timedelta(hours=7))
    assert [e["kind"] for e in svc.history(t.number)] == ["opened", "note", "note"]
    svc.close(t.number, actor="l2", now=now + timedelta(hours=8), report="Carrier fixed the span")
    assert svc.report_recovery(dedup_key="trunk:acme-pri-1", body="ok", now=now + timedelta(hours=9)) is None
    t3, created3 = svc.report_problem(description="failed again", now=now + timedelta(days=1), **args)
    assert created3 and t3.number != t.number


def test_concurrent_monitoring_reports_open_one_ticket(pg_engine, xop_config):
    svc = TicketService(pg_engine, xop_config)
    barrier = threading.Barrier(6)
    results: list[tuple[str, bool]] = []

    def worker() -> None:
        barrier.wait()
        t, created = svc.report_problem(
            dedup_key="health:acme-conf1:disk",
            customer="acme",
            system="acme-conf1",
            subject="Disk 97 % full",
            description="/var",
            urgency="major",
            now=chi(2026, 12, 1, 4, 0),
        )
        results.append((t.number, created))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 6
    assert len({n for n, _ in results}) == 1
    assert sum(created for _, created in results) == 1

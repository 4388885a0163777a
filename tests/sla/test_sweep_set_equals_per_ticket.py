"""The set-based sweep writes exactly what handling the due tickets one at a time writes.

Two databases get the same tickets through the service (warnings, L2 and L3 breaches that
escalate, a notify breach on a critical and on a major ticket, an L4 miss that reaches
Emergency, a paused ticket), some of them watched. In one, every sweep handles all due tickets
in one batch (the clock book, grouped statements); in the other, the same sweeps handle one
ticket per batch and per transaction. Afterwards the tickets, clocks, events and outbox rows
(the watchers' copies included) are the same, row for row (ids replaced by what they point to).
The only difference by design: the internal ``sla_escalations`` digest is one email per batch
(to each owning level of the batch), so there the set of escalations listed is compared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import create_pg_database, drop_pg_database
from xop.db.engine import engine_from_url
from xop.db.migrate import upgrade
from xop.notify.tables import notifications
from xop.tickets import TicketService
from xop.tickets.sweep import sweep
from xop.tickets.tables import ticket_clocks, ticket_events, tickets

CHI = ZoneInfo("America/Chicago")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


SWEEPS = [chi(2026, 12, 1, 10, 0), chi(2026, 12, 1, 10, 50), chi(2026, 12, 1, 11, 0), chi(2026, 12, 1, 15, 0)]
SWEEPS += [chi(2026, 12, 2, 9, 0), chi(2026, 12, 3, 12, 0), chi(2026, 12, 9, 12, 0), chi(2027, 1, 20, 12, 0)]


def build(svc: TicketService) -> None:
    """The same tickets in the same order (same ids) in each database."""

    def open_(at: datetime, **kw):
        args = {
            "customer": "acme",
            "system": "acme-conf1",
            "subject": "No audio on conference 5000",
            "reporter_name": "Carl Caller",
            "reporter_email": "carl@acme.example",
            "now": at,
        } | kw
        if "urgency" in kw:
            args["actor"] = "lena"
        return svc.open(**args)

    t9 = chi(2026, 12, 1, 9, 0)
    for _ in range(4):  # L2 response missed: escalate to L3 (the first sweeps warn first)
        open_(t9, proposed_urgency="critical")
    for _ in range(3):
        open_(t9)
    rec = open_(t9, urgency="critical")  # L3 recovery missed: escalate to L4
    svc.escalate(rec.number, actor="l2", now=t9)
    svc.respond(rec.number, actor="l3", body="Looking", now=chi(2026, 12, 1, 9, 30))
    for urgency in ("major", "critical"):  # RCA missed at L3: notify (emergency when critical)
        t = open_(t9, urgency=urgency)
        svc.escalate(t.number, actor="l2", now=chi(2026, 12, 1, 9, 30))
        svc.respond(t.number, actor="l3", body="On it", now=chi(2026, 12, 1, 9, 45))
        svc.recover(t.number, actor="l3", now=chi(2026, 12, 1, 12, 0))
    l4 = open_(t9, urgency="critical")  # at L4, its clocks run out: Emergency
    svc.escalate(l4.number, actor="l2", now=t9, to_level=4)
    paused = open_(t9)
    svc.pause(paused.number, actor="l2", now=chi(2026, 12, 1, 9, 30))
    late = open_(chi(2026, 12, 1, 14, 0), urgency="minor")  # later: warnings and breaches of its own
    # Watchers (i16): their copies of warnings, breaches, escalations and emergencies are the same
    # whether their batch held one ticket or all of them.
    first = svc.get("XOP-000001")
    for t, who in (
        (first, "alice"),
        (rec, "omar"),
        (l4, "alice"),
        (l4, "omar"),
        (late, "lena"),
        (paused, "lena"),
    ):
        svc.watch(t.number, actor=who, now=chi(2026, 12, 1, 14, 0))


def snapshot(engine: sa.Engine) -> dict:
    with engine.connect() as c:
        number = dict(c.execute(sa.select(tickets.c.id, tickets.c.number)).all())
        ticket_rows = sorted(
            (tuple(v for k, v in r._mapping.items() if k != "id") for r in c.execute(sa.select(tickets))),
            key=repr,
        )
        clock_rows = sorted(
            (
                (number[r.ticket_id], *(v for k, v in r._mapping.items() if k not in ("id", "ticket_id")))
                for r in c.execute(sa.select(ticket_clocks))
            ),
            key=repr,
        )
        event_key: dict[int, tuple] = {}
        events: dict[str, list] = {}
        for r in c.execute(sa.select(ticket_events).order_by(ticket_events.c.id)):
            mine = events.setdefault(number[r.ticket_id], [])
            event_key[r.id] = (number[r.ticket_id], len(mine), r.kind)
            mine.append(tuple(v for k, v in r._mapping.items() if k not in ("id", "ticket_id")))
        outbox, digest = [], []
        for r in c.execute(sa.select(notifications).order_by(notifications.c.id)):
            m = dict(r._mapping)
            if m["kind"] == "sla_escalations":
                digest += [(e["number"], e["from_level"], e["to_level"]) for e in m["context"]["escalations"]]
                continue
            key = event_key[m["event_id"]]
            context = m["context"] | {"event": m["context"]["event"] | {"id": key}}
            dedup = m["dedup_key"].replace(f":e{m['event_id']}:", f":e{key}:")
            head = (number[m["ticket_id"]], key, dedup, m["kind"], m["audience"], m["recipient"])
            outbox.append((*head, m["sender"], m["status"], m["created_at"], repr(context)))
    return {
        "tickets": ticket_rows,
        "clocks": clock_rows,
        "events": events,
        "outbox": sorted(outbox, key=repr),
        "digest": sorted(set(digest), key=repr),
    }


@pytest.fixture
def second_engine(db_engine, tmp_path):
    """Another empty database of the same kind as ``db_engine``."""
    if db_engine.dialect.name == "sqlite":
        engine = engine_from_url(f"sqlite:///{tmp_path / 'per_ticket.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    url = create_pg_database("xop_test_per_ticket")
    engine = engine_from_url(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_pg_database(url)


def test_set_based_sweep_writes_what_the_per_ticket_sweep_writes(db_engine, second_engine, xop_config):
    build(TicketService(db_engine, xop_config))
    build(TicketService(second_engine, xop_config))
    totals = {"set": [], "one": []}
    for now in SWEEPS:
        totals["set"].append(sweep(db_engine, xop_config, now=now))
        totals["one"].append(sweep(second_engine, xop_config, now=now, batch_size=1))
    for a, b in zip(totals["set"], totals["one"], strict=True):
        assert (a.tickets, a.warnings, a.breaches, a.escalations, a.emergencies) == (
            b.tickets,
            b.warnings,
            b.breaches,
            b.escalations,
            b.emergencies,
        )
        assert sorted(a.escalated) == sorted(b.escalated)
    done = [sum(getattr(s, k) for s in totals["set"]) for k in ("warnings", "breaches", "escalations")]
    assert all(done) and sum(s.emergencies for s in totals["set"]) >= 2  # the scenario covers them
    one, many = snapshot(second_engine), snapshot(db_engine)
    copied = {row[3] for row in many["outbox"] if ":watch:" in row[2]}  # the watchers' copies, by kind
    assert {"sla_warning", "sla_breach", "ticket_escalated", "emergency"} <= copied, copied
    for part in ("tickets", "clocks", "events", "digest", "outbox"):
        assert many[part] == one[part], part

"""The order keys a ticket row carries (``next_due_at``, ``urgent_rank``, ``urgent_at``), on SQLite
and PostgreSQL: every service action and sweep writes what the ticket's clocks imply
(:func:`xop.tickets.clocks.ticket_keys`), the migration's backfill computes the same keys in SQL,
and the board's index-served order and ``breached`` filter agree with the clock standings."""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import sqlalchemy as sa

from tests.tickets.test_service import chi, open_ticket, svc  # noqa: F401  (fixture)
from xop.api.queries import TicketFilter, list_tickets
from xop.core.paths import REPO_ROOT
from xop.tickets import clocks
from xop.tickets.sweep import sweep
from xop.tickets.tables import ticket_clocks, tickets

T0 = chi(2026, 12, 1, 9, 0)  # Tuesday 09:00 CST
KEYS = ("next_due_at", "urgent_rank", "urgent_at")


def _stored(engine) -> dict[int, tuple]:
    with engine.connect() as c:
        return {r.id: tuple(r[1:]) for r in c.execute(sa.select(tickets.c.id, *(tickets.c[k] for k in KEYS)))}


def _from_clocks(engine) -> dict[int, tuple]:
    by_ticket: dict[int, list[dict]] = {}
    with engine.connect() as c:
        ids = c.execute(sa.select(tickets.c.id)).scalars().all()
        for r in c.execute(sa.select(ticket_clocks)):
            by_ticket.setdefault(r.ticket_id, []).append(dict(r._mapping))
    return {tid: tuple(clocks.ticket_keys(by_ticket.get(tid, [])).values()) for tid in ids}


def _backfill_sql(dialect: str) -> str:
    path = REPO_ROOT / "plugins/xop/db/migrations/versions/0015_ticket_urgent_order.py"
    spec = importlib.util.spec_from_file_location("m0015", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._backfill("least" if dialect == "postgresql" else "min")


def _scenario(service) -> dict[str, str]:
    """Tickets in every situation the keys distinguish; returns name -> number."""
    n = {}
    n["late"] = open_ticket(service, T0, subject="Breaches, escalated by the sweep").number
    n["waiting"] = open_ticket(service, T0 + timedelta(minutes=10), subject="Waits on the customer").number
    service.pause(n["waiting"], actor="lena", now=T0 + timedelta(minutes=20), reason="logs please")
    n["answered"] = open_ticket(service, T0 + timedelta(minutes=15), subject="Answered: no clock").number
    service.respond(n["answered"], actor="lena", body="On it", now=T0 + timedelta(minutes=25))
    n["l3"] = open_ticket(service, T0 + timedelta(minutes=30), subject="Escalated by hand").number
    service.escalate(n["l3"], actor="lena", now=T0 + timedelta(minutes=35), reason="needs L3")
    n["paused_late"] = open_ticket(
        service, T0 + timedelta(minutes=5), subject="Paused after its due time"
    ).number
    service.pause(n["paused_late"], actor="lena", now=T0 + timedelta(hours=2, minutes=30), reason="late")
    n["critical"] = open_ticket(service, T0 + timedelta(minutes=40), subject="Reclassified").number
    service.classify(n["critical"], urgency="critical", actor="lena", now=T0 + timedelta(minutes=45))
    n["resumed"] = open_ticket(service, T0 + timedelta(minutes=50), subject="Paused and resumed").number
    service.pause(n["resumed"], actor="lena", now=T0 + timedelta(minutes=55))
    service.resume(n["resumed"], actor="lena", now=T0 + timedelta(hours=1, minutes=30))
    n["reopened"] = open_ticket(service, T0 + timedelta(minutes=1), subject="Closed and reopened").number
    service.close(n["reopened"], actor="lena", now=T0 + timedelta(minutes=2), report="dup")
    service.reopen(n["reopened"], actor="lena", now=T0 + timedelta(hours=1), reason="not a dup")
    n["closed"] = open_ticket(service, T0 + timedelta(minutes=3), subject="Closed").number
    service.close(n["closed"], actor="lena", now=T0 + timedelta(minutes=4), report="done")
    n["level1"] = open_ticket(service, T0 + timedelta(minutes=6), subject="Level 1", level=1).number
    return n


def test_every_action_and_sweep_stores_the_keys_its_clocks_imply(svc, db_engine):  # noqa: F811
    names = _scenario(svc)
    assert _stored(db_engine) == _from_clocks(db_engine)
    for minutes in (125, 160, 400):  # warnings, the 2 h L2 breach and escalation, L3 misses
        sweep(db_engine, svc.cfg, now=T0 + timedelta(minutes=minutes))
        assert _stored(db_engine) == _from_clocks(db_engine), minutes
    with db_engine.connect() as c:
        escalated = set(c.execute(sa.select(tickets.c.number).where(tickets.c.level >= 3)).scalars())
    assert {names["late"], names["l3"]} <= escalated  # the sweep escalated "late"

    # The migration's backfill (SQL) gives the keys the service wrote (Python).
    before = _stored(db_engine)
    with db_engine.begin() as c:
        c.execute(sa.update(tickets).values(urgent_rank=clocks.RANK_NONE, urgent_at=None))
        c.exec_driver_sql(_backfill_sql(db_engine.dialect.name))
    after = _stored(db_engine)
    assert {k: v[1:] for k, v in after.items()} == {k: v[1:] for k, v in before.items()}


def test_board_order_and_breached_filter_agree_with_the_clock_standings(svc, db_engine):  # noqa: F811
    names = _scenario(svc)
    now = T0 + timedelta(hours=2, minutes=40)  # "late" is past its 2 h response, not yet swept
    with db_engine.connect() as c:
        page = list_tickets(c, svc.cfg, TicketFilter(), now=now, limit=100).items
        breached = list_tickets(c, svc.cfg, TicketFilter(breached=True), now=now, limit=100).items
        others = list_tickets(c, svc.cfg, TicketFilter(breached=False), now=now, limit=100).items
    order = [t["number"] for t in page]
    flags = [t["breached"] for t in page]
    assert flags == sorted(flags, reverse=True)  # every breached ticket before the others
    assert {t["number"] for t in breached} == {t["number"] for t in page if t["breached"]}
    assert {t["number"] for t in others} == {t["number"] for t in page if not t["breached"]}
    assert {names["late"], names["paused_late"]} <= {t["number"] for t in breached}
    # Counting clocks by time left; then waiting on the customer; then no running clock.
    counting = [
        t for t in page if not t["breached"] and t["next_clock"] and t["next_clock"]["status"] == "running"
    ]
    left = [t["next_clock"]["remaining_seconds"] for t in counting]
    assert left == sorted(left)
    assert order.index(names["waiting"]) > max(order.index(t["number"]) for t in counting)
    assert order.index(names["closed"]) > order.index(names["waiting"])
    assert order.index(names["answered"]) > order.index(names["waiting"])


def test_each_action_returns_the_ticket_as_stored(svc, db_engine):  # noqa: F811
    """The actions return the ticket they wrote without reading it again: it must be the row."""
    t = open_ticket(svc, T0)
    assert t == svc.get(t.number)
    steps = [
        lambda n, at: svc.respond(n, actor="lena", body="On it", now=at),
        lambda n, at: svc.note(n, actor="lena", body="SBC?", now=at),
        lambda n, at: svc.classify(n, urgency="critical", actor="lena", now=at),
        lambda n, at: svc.escalate(n, actor="lena", now=at, reason="needs L3"),
        lambda n, at: svc.pause(n, actor="lena", now=at),
        lambda n, at: svc.resume(n, actor="lena", now=at),
        lambda n, at: svc.recover(n, actor="lena", now=at, body="rerouted"),
        lambda n, at: svc.escalate(n, actor="l4", now=at, to_level=5, reason="emergency"),
        lambda n, at: svc.send_rca(n, actor="l4", now=at, cause="c", extent="e", actions="a", plan="p"),
        lambda n, at: svc.resolve(n, actor="l4", now=at, body="fixed"),
        lambda n, at: svc.close(n, actor="l4", now=at, report="closed"),
        lambda n, at: svc.reopen(n, actor="l4", now=at, reason="again"),
    ]
    for i, step in enumerate(steps, start=1):
        got = step(t.number, T0 + timedelta(minutes=7 * i))
        assert got == svc.get(t.number), i

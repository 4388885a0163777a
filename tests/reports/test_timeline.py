"""The clock timeline: every step with the business time used, support-hours gaps that count
nothing, agreement with the ticket page and the report; the compliance view; both through
the real API (Airflow's API server app, real tokens)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from tests.reports.scenario import AS_OF, build_november, chi
from xop.api.queries import clock_standings
from xop.reports.figures import ALL, Month, compute
from xop.reports.frames import load_frames
from xop.reports.live import compliance_view, ticket_timeline
from xop.sla.policy import calendar
from xop.tickets import TicketService
from xop.tickets.tables import ticket_clocks


@pytest.fixture
def november(db_engine, xop_config):
    return build_november(TicketService(db_engine, xop_config))


def _timeline(engine, cfg, number, **kw):
    with engine.connect() as conn:
        return ticket_timeline(conn, cfg, number, now=kw.pop("now", AS_OF), **kw)


def _by(entries, kind):
    return [e for e in entries if e["kind"] == kind]


def test_reclassified_recovery_explained(november, db_engine, xop_config) -> None:
    t = _timeline(db_engine, xop_config, november["reclassified"])
    recovery = next(c for c in t["clocks"] if c["name"] == "l3_recovery")
    e = recovery["entries"]
    assert e[0]["kind"] == "start" and e[0]["at"] == chi(2026, 11, 16, 9, 0) and e[0]["used_seconds"] == 0
    (re,) = _by(e, "reclassified")
    assert (re["old_target_seconds"], re["new_target_seconds"]) == (24 * 3600, 6 * 3600)
    assert re["used_seconds"] == 3600 and re["actor"] == "l3.eng"
    (pause,), (resume,) = _by(e, "pause"), _by(e, "resume")
    assert pause["used_seconds"] == resume["used_seconds"] == 3 * 3600
    (due,) = _by(e, "due")  # 6 h target + the 2 h pause: 17:00 the same day
    assert due["at"] == chi(2026, 11, 16, 17, 0) and due["used_seconds"] == 6 * 3600
    (night,) = _by(e, "gap")
    assert (night["at"], night["until"]) == (chi(2026, 11, 16, 18, 0), chi(2026, 11, 17, 8, 0))
    (met,) = _by(e, "met")
    assert met["label"] == "met late" and met["used_seconds"] == 7 * 3600
    assert recovery["status"] == "met_late" and recovery["used_seconds"] == 7 * 3600
    # Entries in time order, used never decreasing.
    assert [x["at"] for x in e] == sorted(x["at"] for x in e)
    assert all(a["used_seconds"] <= b["used_seconds"] for a, b in itertools.pairwise(e))

    public = _timeline(db_engine, xop_config, november["reclassified"], public_only=True)
    pub = next(c for c in public["clocks"] if c["name"] == "l3_recovery")["entries"]
    assert not _by(pub, "reclassified") and all("actor" not in x for x in pub)
    assert _by(pub, "pause")[0]["label"] == "waiting on you"


def test_gaps_across_dst_and_holidays_count_nothing(november, db_engine, xop_config) -> None:
    cal = calendar(xop_config, "business")
    dst = _timeline(db_engine, xop_config, november["dst"])["clocks"][0]
    (weekend,) = _by(dst["entries"], "gap")
    # Friday 18:00 CDT to Monday 08:00 CST: the DST change inside a gap moves nothing.
    assert (weekend["at"], weekend["until"]) == (chi(2026, 10, 30, 18, 0), chi(2026, 11, 2, 8, 0))
    assert weekend["until"] - weekend["at"] == timedelta(hours=63)
    assert dst["status"] == "met" and dst["used_seconds"] == 7200
    holiday = _timeline(db_engine, xop_config, november["holiday"])["clocks"][0]
    (gap,) = _by(holiday["entries"], "gap")  # the night, Veterans Day and the next night
    assert (gap["at"], gap["until"]) == (chi(2026, 11, 10, 18, 0), chi(2026, 11, 12, 8, 0))
    for number in november.values():
        for c in _timeline(db_engine, xop_config, number)["clocks"]:
            for g in _by(c["entries"], "gap"):
                assert cal.elapsed(g["at"], g["until"]) == timedelta(0)


def test_timeline_agrees_with_the_ticket_page_and_the_stored_pauses(november, db_engine, xop_config) -> None:
    with db_engine.connect() as conn:
        for number in november.values():
            t = ticket_timeline(conn, xop_config, number, now=AS_OF)
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    ticket_clocks.select()
                    .where(ticket_clocks.c.ticket_id == _ticket_id(conn, number))
                    .order_by(ticket_clocks.c.id)
                )
            ]
            for r in rows:
                r["customer"] = "acme"
            view = clock_standings(xop_config, rows, AS_OF)
            assert [c["used_seconds"] for c in t["clocks"]] == [v["used_seconds"] for v in view]
            cal = calendar(xop_config, "business")
            for c, r in zip(t["clocks"], rows, strict=True):
                pauses = list(zip(_by(c["entries"], "pause"), _by(c["entries"], "resume"), strict=False))
                spent = sum(int(cal.elapsed(p["at"], q["at"]).total_seconds()) for p, q in pauses)
                assert spent == r["paused_seconds"]


def _ticket_id(conn, number):
    from xop.tickets.tables import tickets

    return conn.execute(tickets.select().where(tickets.c.number == number)).one().id


def test_compliance_view(november, db_engine, xop_config) -> None:
    now = chi(2026, 11, 25, 12, 0)  # Wednesday of Thanksgiving week
    with db_engine.connect() as conn:
        view = compliance_view(conn, xop_config, now=now)
    l2 = next(c for c in view["clocks"] if c["name"] == "l2_response")
    assert l2["level"] == 2 and (l2["met"], l2["met_late"], l2["missed"]) == (4, 2, 1)  # + globex's met
    assert view["week_start"] == chi(2026, 11, 23, 0, 0)
    late = {(b["number"], b["clock"]) for b in view["breaches_this_week"]}
    assert late == {
        (november["missed"], "l2_response"),
        (november["missed"], "l3_response"),
        (november["missed"], "l3_recovery"),
    }
    by_level = {r["level"]: r for r in view["open_by_level"]}
    assert by_level[3]["total"] == 2  # the missed ticket (escalated) and the reclassified one
    # The same figures as the report of the month so far (XOP's, every customer).
    with db_engine.connect() as conn:
        frames = load_frames(conn, Month.containing(now, "America/Chicago").start, now)
    report = compute(xop_config, frames, Month.containing(now, "America/Chicago"), as_of=now)[ALL]
    table = report.by_clock[report.by_clock["urgency"] == "all"].set_index("name")
    for c in view["clocks"]:
        row = table.loc[c["name"]]
        assert [c[k] for k in ("tickets", "met", "met_late", "missed", "skipped")] == [
            int(row[k]) for k in ("tickets", "met", "met_late", "missed", "skipped")
        ]
    in_report = {(b.number, b.name) for b in report.breaches.itertuples()}
    assert late <= in_report


def test_timeline_and_compliance_over_the_api(client, clock, api_engine, xop_config) -> None:
    numbers = build_november(TicketService(api_engine, xop_config))
    clock.now = AS_OF
    r = client.get(f"/xop/api/tickets/{numbers['reclassified']}/timeline")
    assert r.status_code == 200, r.text
    clocks = {c["name"]: c for c in r.json()["clocks"]}
    assert clocks["l3_recovery"]["status"] == "met_late"
    assert any(e["kind"] == "reclassified" for e in clocks["l3_recovery"]["entries"])
    r = client.get(f"/xop/api/tickets/{numbers['reclassified']}/timeline", params={"public": "true"})
    assert all("actor" not in e for c in r.json()["clocks"] for e in c["entries"])
    assert client.get("/xop/api/tickets/XOP-999999/timeline").status_code == 404
    r = client.get("/xop/api/compliance")
    assert r.status_code == 200 and r.json()["month"] == "2026-12"
    client.headers.pop("Authorization")
    assert client.get("/xop/api/compliance").status_code == 401


def test_gaps_are_the_calendars_own_when_opening_falls_in_a_dst_gap(xop_config) -> None:
    """Support hours opening at 02:30, a wall time that does not exist on the spring-forward
    Sunday: the calendar opens at the transition (03:00 CDT), and so does the gap's end."""
    from datetime import UTC, datetime

    from xop.reports.timeline import support_gaps

    spec = xop_config.calendar.model_copy(update={"opens": "02:30", "weekdays": (0, 1, 2, 3, 4, 5, 6)})
    cfg = xop_config.model_copy(update={"calendar": spec})
    cal = calendar(cfg, "business")
    start, end = datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 9, 12, tzinfo=UTC)
    gaps = support_gaps(cfg, "business", start, end)
    assert [g[1] for g in gaps][:2] == [chi(2026, 3, 8, 3, 0), chi(2026, 3, 9, 2, 30)]
    for a, b in gaps:
        assert cal.elapsed(a, b) == timedelta(0)
    assert sum((b - a for a, b in gaps), timedelta(0)) + cal.elapsed(start, end) == end - start
    assert support_gaps(cfg, "24x7", start, end) == []

"""Tickets of the trunk check on a real ticket database (SQLite and PostgreSQL): a degraded call opens
a major ticket, a failure raises it to critical, recovery is noted; the texts carry the figures and
the trend of the last test calls.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.trunks.trunk_farends import NOW
from xop.tickets.service import TicketService
from xop.trunks.result import TrunkCheckResult
from xop.trunks.run import record_and_ticket
from xop.trunks.tables import format_results, trunk_checks

CUSTOMERS = {"acme-conf1": "acme"}


def run(
    system: str = "acme-conf1",
    trunk: str = "acme-sip-1",
    *,
    at,
    ok: bool = True,
    quality: str = "good",
    mos: float = 4.38,
    loss: float = 0.0,
    jitter: float = 0.6,
    note: str | None = None,
    error: str | None = None,
) -> list[TrunkCheckResult]:
    target = "udp:192.0.2.10:5060"
    options = TrunkCheckResult(trunk, system, "options", True, at, target, sip_code=200, rtt_ms=12.5)
    lost = round(loss * 1.5)
    call = TrunkCheckResult(
        trunk, system, "call", ok, at, target, sip_code=200, rtt_ms=24.0, pdd_ms=80.0, setup_ms=120.0,
        rtp_sent=150, rtp_received=150 - lost, rtp_lost=lost, rtp_duplicates=0, rtp_reordered=1,
        rtp_late=0, loss_pct=loss, jitter_ms=jitter, delay_ms=72.0, r_factor=92.0 if mos > 4 else 65.0,
        mos=mos, audio_correlation=0.97, audio_level_db=-18.3, quality=quality, quality_note=note,
        error=error,
    )  # fmt: skip
    return [options, call]


def events(engine: sa.Engine, number: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.kind, e.body FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                "WHERE t.number = :n ORDER BY e.id"
            ),
            {"n": number},
        ).all()
    return [(row.kind, row.body or "") for row in rows]


def test_degraded_major_then_failed_critical_then_recovery(db_engine: sa.Engine, xop_config) -> None:
    service = TicketService(db_engine, xop_config)
    first = record_and_ticket(
        db_engine,
        service,
        run(at=NOW, mos=3.85, loss=2.0, note="loss 2.0 % over 1 %", quality="degraded"),
        customers=CUSTOMERS,
        now=NOW,
    )
    assert first.degraded_trunks == ["acme-conf1/acme-sip-1"] and first.failed_trunks == []
    assert len(first.opened) == 1
    ticket = service.get(first.opened[0])
    assert ticket.urgency == "major" and ticket.source == "monitoring"
    assert ticket.subject == "Trunk acme-sip-1 on acme-conf1: call quality degraded (loss 2.0 % over 1 %)"
    assert "Test call: MOS 3.85 (R 65.0), loss 2.0 % (3 of 150 lost" in ticket.description
    assert "Callers can still hear each other; the trunk needs correction (major)." in ticket.description
    assert "Trend of the last test calls:" in ticket.description and "(now)" in ticket.description

    later = NOW + timedelta(hours=6)
    second = record_and_ticket(
        db_engine,
        service,
        run(at=later, ok=False, mos=2.9, loss=9.0, quality="failed", error="MOS 2.90 below 3.1"),
        customers=CUSTOMERS,
        now=later,
    )
    assert second.failed_trunks == ["acme-conf1/acme-sip-1"] and second.opened == []
    assert second.noted == [ticket.number]  # the same ticket, never a second one
    assert service.get(ticket.number).urgency == "critical"  # now service affecting
    note = [body for kind, body in events(db_engine, ticket.number) if kind == "note"][-1]
    assert "failed its dial check: call MOS 2.90 below 3.1" in note
    trend = note.split("Trend of the last test calls:")[1]
    assert "degraded" in trend and "3.85" in trend  # the previous check ...
    assert "(now)" in trend and "2.90" in trend  # ... and this one

    last = NOW + timedelta(days=1)
    third = record_and_ticket(db_engine, service, run(at=last), customers=CUSTOMERS, now=last)
    assert third.recovered == [ticket.number] and third.noted == [] and third.opened == []
    recovery = [body for kind, body in events(db_engine, ticket.number) if kind == "note"][-1]
    assert recovery.startswith("Recovered: trunk acme-sip-1") and "MOS 4.38" in recovery

    with db_engine.connect() as conn:
        rows = conn.execute(
            sa.select(trunk_checks.c.checked_at, trunk_checks.c.quality, trunk_checks.c.mos)
            .where(trunk_checks.c.kind == "call")
            .order_by(trunk_checks.c.checked_at)
        ).all()
    assert [(r.quality, r.mos) for r in rows] == [("degraded", 3.85), ("failed", 2.9), ("good", 4.38)]


def test_degraded_after_good_opens_major_and_good_after_degraded_is_a_recovery(
    db_engine: sa.Engine, xop_config
) -> None:
    service = TicketService(db_engine, xop_config)
    record_and_ticket(db_engine, service, run(at=NOW), customers=CUSTOMERS, now=NOW)
    later = NOW + timedelta(hours=6)
    degraded = run(at=later, mos=3.4, quality="degraded", note="MOS 3.40 below 3.6", jitter=41.0)
    summary = record_and_ticket(db_engine, service, degraded, customers=CUSTOMERS, now=later)
    assert service.get(summary.opened[0]).urgency == "major"
    again = later + timedelta(hours=6)
    summary = record_and_ticket(db_engine, service, run(at=again), customers=CUSTOMERS, now=again)
    assert summary.recovered and summary.opened == [] and summary.noted == []


def test_log_table_shows_quality() -> None:
    text = format_results(
        run(at=NOW, mos=3.4, quality="degraded", note="MOS 3.40 below 3.6") + run(trunk="b", at=NOW)
    )
    lines = text.splitlines()
    assert "loss %" in lines[0] and "jitter ms" in lines[0] and "MOS" in lines[0]
    assert "DEGRADED" in lines[2] and "3.40" in lines[2] and "MOS 3.40 below 3.6" in lines[2]
    assert lines[-1] == "4 checks, 0 failed, 1 degraded"

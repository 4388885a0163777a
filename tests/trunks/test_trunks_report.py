"""The trunk lines of the daily audit report: latest check per trunk and a 14-day MOS chart, read
from a real ``trunk_checks`` table (SQLite and PostgreSQL) and rendered in both report parts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from xop.audit.days import AuditDay
from xop.audit.report import SystemAudit, render_report, system_audit_from_json, system_audit_to_json
from xop.trunks.report import trunk_quality
from xop.trunks.result import TrunkCheckResult
from xop.trunks.tables import record_results

DAY = AuditDay.of(date(2026, 6, 15))
NOW = datetime(2026, 6, 16, 9, 0, tzinfo=UTC)


def checks(at: datetime, trunk: str, *, mos: float | None, ok: bool = True, quality: str | None = "good"):
    target = "udp:192.0.2.10:5060"
    return [
        TrunkCheckResult(trunk, "acme-conf1", "options", True, at, target, sip_code=200, rtt_ms=10.0),
        TrunkCheckResult(
            trunk, "acme-conf1", "call", ok, at, target, sip_code=200, rtt_ms=22.0, mos=mos, loss_pct=0.5,
            jitter_ms=3.0, quality=quality, error=None if ok else f"MOS {mos:.2f} below 3.1",
        ),
    ]  # fmt: skip


def test_trunk_lines_and_mos_chart(db_engine: sa.Engine) -> None:
    rows = []
    first = DAY.end - timedelta(days=14)
    for run in range(28):  # twice a day for 14 days, and one run before the window
        at = first + timedelta(hours=12 * run + 3)
        rows += checks(at, "acme-sip-main", mos=round(4.3 - 0.01 * run, 2))
        degraded = run >= 26
        rows += checks(
            at, "acme-sip-backup", mos=3.4 if degraded else 4.2, quality="degraded" if degraded else "good"
        )
    rows += checks(first - timedelta(hours=1), "acme-sip-main", mos=1.0, ok=False, quality="failed")
    rows += checks(
        DAY.end + timedelta(hours=1), "acme-sip-main", mos=1.0, ok=False, quality="failed"
    )  # after
    with db_engine.begin() as conn:
        record_results(conn, rows)
    with db_engine.connect() as conn:
        quality = trunk_quality(conn, "acme-conf1", end=DAY.end, day_start=DAY.start)
        assert trunk_quality(conn, "other-system", end=DAY.end) is None
    assert quality is not None and quality.worst == "degraded"
    main, backup = sorted(quality.lines, key=lambda line: line.trunk != "acme-sip-main")
    assert main.checks == 28 and main.failed == 0  # the runs outside the window do not count
    assert (main.day_checks, main.day_failed) == (2, 0)  # the last two runs fall in the audited day
    assert main.status == "ok" and main.mos == 4.03 and len(quality.mos["acme-sip-main"]) == 28
    assert backup.status == "degraded" and backup.mos == 3.4

    audit = SystemAudit("acme-conf1", "Acme bridge 1", "acme", trunks=quality)
    assert audit.light == "amber"
    again = system_audit_from_json(system_audit_to_json(audit))
    assert again.trunks == quality

    report = render_report(DAY, [again], generated_at=NOW)
    line = "trunk acme-sip-backup: degraded, MOS 3.40, loss 0.5 %, jitter 3.0 ms (28/28 checks passed in 14"
    assert line in report.text
    assert "trunk acme-sip-main: ok, MOS 4.03" in report.text
    assert ">Trunks</h3>" in report.html_file
    assert "mean MOS 4.17" in report.html_file  # 4.3 down to 4.03 in 28 steps
    [chart] = [image for image in report.images if image.cid.startswith("trunk-mos.acme-conf1.")]
    assert chart.png.startswith(b"\x89PNG") and f"cid:{chart.cid}" in report.html_email
    assert "data:image/png;base64," in report.html_file


def test_a_failed_latest_trunk_check_makes_the_system_red(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        record_results(conn, checks(DAY.end - timedelta(hours=2), "t1", mos=2.5, ok=False, quality="failed"))
    with db_engine.connect() as conn:
        quality = trunk_quality(conn, "acme-conf1", end=DAY.end)
    audit = SystemAudit("acme-conf1", "Acme bridge 1", "acme", trunks=quality)
    assert audit.light == "red" and audit.summary()["trunks"] == "failed"
    text = render_report(DAY, [audit], generated_at=NOW).text
    assert (
        "trunk t1: failed, MOS 2.50, loss 0.5 %, jitter 3.0 ms – MOS 2.50 below 3.1 (0/1 checks passed"
        in text
    )

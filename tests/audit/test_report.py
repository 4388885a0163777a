"""Rendering the report: summary lights, usage, chart, findings with tickets, backup, CSVs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from xop.audit.days import AuditDay
from xop.audit.findings import Finding
from xop.audit.report import BackupStatus, SystemAudit, render_report, save_report
from xop.audit.usage import compute_usage

from .test_usage import SMALL_DAY, load

DAY = AuditDay.of(date(2026, 6, 15))
NOW = datetime(2026, 6, 16, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def usage(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    return compute_usage(engine, load(engine, SMALL_DAY), DAY, system="acme-conf1")


def finding(system: str, probe: str, severity: str, summary: str) -> Finding:
    return Finding(system, probe, "disk", severity, summary, evidence="df output <b>")  # type: ignore[arg-type]


def test_report_for_three_systems(usage, tmp_path: Path) -> None:
    systems = [
        SystemAudit(
            "acme-conf1",
            "Acme conferencing",
            "acme",
            usage=usage,
            findings=[
                finding("acme-conf1", "disk", "major", "/var is 91% full"),
                finding("acme-conf1", "ntp", "ok", "fine"),
            ],
            tickets={"disk": "XOP-000042"},
            backup=BackupStatus(True, "acme-conf1-20260615.dump, 12.0 MiB", {"sha256": "ab" * 32}),
        ),
        SystemAudit(
            "beta-pbx",
            "Beta PBX",
            "beta",
            usage_error="CDR database unreachable: connection refused",
            findings=[finding("beta-pbx", "sip", "critical", "127.0.0.1:5060 does not accept connections")],
            tickets={"sip": "XOP-000043"},
            backup=BackupStatus(False, "pg_dump failed: connection refused"),
        ),
        SystemAudit("gamma", "Gamma", "gamma", findings=[finding("gamma", "disk", "ok", "/ is 10% full")]),
    ]
    report = render_report(DAY, systems, generated_at=NOW, ticket_url="https://myxop.com/t/{number}")

    assert [s.light for s in systems] == ["amber", "red", "green"]
    assert report.subject == "[XOP audit] 2026-06-15: RED – 3 system(s), 2 finding(s)"
    html = report.html_email
    body = html[html.index("<body") :]
    assert body.index(">AMBER<") < body.index(">RED<") < body.index(">GREEN<")  # summary rows in order
    assert '<a href="https://myxop.com/t/XOP-000042">XOP-000042</a>' in html
    assert "/var is 91% full" in html and "df output &lt;b&gt;" in html  # evidence escaped
    assert "FAILED" in html and "pg_dump failed" in html and "CDR database unreachable" in html
    assert "Peak concurrent ports" in html and "09:08:00 CDT" in html  # peak shown in local time
    # One chart (the system with usage), referenced by cid in the email, inlined in the file.
    (image,) = report.images
    assert image.png.startswith(b"\x89PNG\r\n\x1a\n") and f'src="cid:{image.cid}"' in html
    assert "data:image/png;base64," in report.html_file and "cid:" not in report.html_file
    assert sorted(c.filename for c in report.csv_files) == [
        f"acme-conf1-2026-06-15-{p}.csv" for p in ("conferences", "failures", "hourly", "summary")
    ]
    assert (
        "[RED] Beta PBX" in report.text and "CRITICAL sip: " in report.text and "[XOP-000043]" in report.text
    )

    path = save_report(report, tmp_path / "reports", "audit-2026-06-15")
    assert path.read_text() == report.html_file
    assert (tmp_path / "reports" / "acme-conf1-2026-06-15-hourly.csv").read_bytes().startswith(b"hour,")

    summary = systems[1].summary()
    assert (summary["light"], summary["backup_ok"], summary["tickets"]) == (
        "red",
        False,
        {"sip": "XOP-000043"},
    )

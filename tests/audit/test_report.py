"""Rendering the report: summary lights, usage, chart, findings with tickets, backup, CSVs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from xop.audit.days import AuditDay
from xop.audit.findings import Finding
from xop.audit.report import BackupStatus, SystemAudit, render_report, save_report
from xop.audit.usage import compute_usage
from xop.demo.sample_cdr import cdr_row
from xop.trunks.report import TrunkLine, TrunkQuality

from .test_usage import SMALL_DAY, load, local

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
    body = html[html.index('<h2 style="font-size: 16px; margin: 0 0 6px 0;">Systems</h2>') :]
    assert body.index(">AMBER<") < body.index(">RED<") < body.index(">GREEN<")  # system lines in order
    assert '<a href="https://myxop.com/t/XOP-000042" style="color: #1d4ed8;">XOP-000042</a>' in html
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


# --------------------------------------------------------------------------------------------
# A red day as operations sees it: 60 conferences, a critical finding with its ticket, a failed
# backup, a trunk that failed at 15:00. Also rendered on a phone (tests/browser/test_audit_phone.py).


def busy_day_usage(tmp_path: Path):
    """60 conferences with long names (the per-conference table is the report's longest part)."""
    rows = []
    for n in range(60):
        start = local(2026, 6, 15, 8 + n % 10, n % 60)
        for leg in range(1 + n % 4):
            rows.append(
                cdr_row(start + timedelta(seconds=leg), 300 + 60 * leg, answered_after_s=3, dst=f"8{n:03d}")
            )
    engine = create_engine(f"sqlite:///{tmp_path / 'busy-cdr.db'}")
    return compute_usage(engine, load(engine, rows), DAY, system="acme-conf1")


def red_day(tmp_path: Path) -> list[SystemAudit]:
    tz_start = DAY.start
    failed_trunk = TrunkLine(
        trunk="acme-sip-backup",
        target="udp:192.0.2.10:5060",
        checked_at=datetime(2026, 6, 15, 20, 0, tzinfo=UTC),  # 15:00 CDT
        ok=False,
        quality="failed",
        mos=None,
        loss_pct=None,
        jitter_ms=None,
        rtt_ms=None,
        error="486 Busy Here",
        checks=28,
        failed=1,
        mean_mos=4.21,
        day_checks=2,
        day_failed=1,
    )
    good_trunk = TrunkLine(
        "acme-sip-main", "udp:192.0.2.11:5060", failed_trunk.checked_at, True, "good", 4.31, 0.2, 2.5,
        21.0, None, 28, 0, 4.3, 2, 0,
    )  # fmt: skip
    return [
        SystemAudit(
            "acme-conf1",
            "Acme conferencing",
            "Acme Conferencing",
            usage=busy_day_usage(tmp_path),
            findings=[
                finding("acme-conf1", "sip", "critical", "127.0.0.1:5060 does not accept connections"),
                finding("acme-conf1", "disk", "major", "/var is 91% full"),
                finding("acme-conf1", "ntp", "ok", "offset 3 ms"),
            ],
            tickets={"sip": "XOP-000043", "disk": "XOP-000042"},
            backup=BackupStatus(False, "pg_dump failed: connection refused"),
            trunks=TrunkQuality(
                "acme-conf1", tz_start - timedelta(days=13), DAY.end, (failed_trunk, good_trunk), {}
            ),
        ),
        SystemAudit(
            "globex-pbx",
            "Globex PBX",
            "Globex",
            findings=[finding("globex-pbx", "disk", "ok", "/ is 10% full")],
            backup=BackupStatus(True, "globex-pbx-20260616T090005Z.dump, 12.0 MiB", {"sha256": "ab" * 32}),
        ),
    ]


def red_report(tmp_path: Path):
    return render_report(
        DAY, red_day(tmp_path), generated_at=NOW, link=lambda n: f"https://myxop.com/tickets/{n}?staff=1"
    )


def test_red_is_explained_first_one_line_per_reason(tmp_path: Path) -> None:
    report = red_report(tmp_path)
    assert report.subject.startswith("[XOP audit] 2026-06-15: RED")

    reasons = [
        "[RED] acme-conf1 · critical · sip: 127.0.0.1:5060 does not accept connections · XOP-000043 "
        "https://myxop.com/tickets/XOP-000043?staff=1",
        "[RED] acme-conf1 · backup failed: pg_dump failed: connection refused",
        "[RED] acme-conf1 · trunk acme-sip-backup failed at 15:00 CDT: 486 Busy Here · "
        "1 of 2 checks failed on the day",
        "[AMBER] acme-conf1 · major · disk: /var is 91% full · XOP-000042 https://myxop.com/tickets/XOP-000042?staff=1",
    ]
    text = report.text
    lines = text.splitlines()
    assert lines[:3] == ["XOP daily audit – 2026-06-15 (24 hours, America/Chicago)", "Overall: RED", ""]
    assert lines[3] == "Why RED:"
    assert lines[4:8] == [f"- {r}" for r in reasons]  # red first, each reason one line, nothing before
    assert text.index(reasons[-1]) < text.index("[RED] Acme conferencing") < text.index("[GREEN] Globex PBX")

    html = report.html_file
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[html.index("<body") :]))
    why = plain.index("Why RED: 4 reasons")
    first_table = html.index("<table")
    assert html.index('id="reasons"') < first_table  # the reasons come before any table
    for fragment in (
        "acme-conf1 · critical · sip: 127.0.0.1:5060 does not accept connections · XOP-000043",
        "acme-conf1 · backup failed: pg_dump failed: connection refused",
        "acme-conf1 · trunk acme-sip-backup failed at 15:00 CDT: 486 Busy Here · "
        "1 of 2 checks failed on the day",
        "acme-conf1 · major · disk: /var is 91% full · XOP-000042",
    ):
        assert why < plain.index(fragment) < plain.index("Conference Legs"), fragment
    # Each system's backup status and trunk results of the day come next, still before the tables.
    assert plain.index("backup: FAILED – pg_dump failed") < plain.index("Finding Ticket")
    assert "trunks: 1 failed, 1 ok (latest checks); 3 of 4 checks passed on the day" in plain
    assert "backup: verified – globex-pbx-20260616T090005Z.dump" in plain
    assert "trunks: none checked" in plain
    # Ticket links are the link helper's, and the 60 conferences come last, 50 shown.
    assert (
        '<a href="https://myxop.com/tickets/XOP-000043?staff=1" style="color: #1d4ed8;">XOP-000043</a>'
        in html
    )
    assert "Conferences (50 of 60 shown; all in the attached CSV)" in plain
    assert plain.index("Conference Legs") > plain.index("Peak concurrent ports")
    assert html.count('<td style="padding: 4px 6px; border-top: 1px solid #d9e2ec; vertical-align: top; '
                      'text-align: left;">8') == 50  # fmt: skip


def test_a_green_day_says_so_first(tmp_path: Path) -> None:
    systems = red_day(tmp_path)[1:]
    report = render_report(DAY, systems, generated_at=NOW)
    assert (
        report.text.splitlines()[3] == "All 1 system(s) GREEN: no finding, backups verified, trunks passed."
    )
    assert "Why " not in report.html_file

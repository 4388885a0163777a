"""The xop_daily_audit DAG end to end with dag.test(): a SQLite system database with CDRs, real
probes (a listening and a closed port, a tampered file), a real backup, a real ticket database,
the report delivered to an aiosmtpd server.

Run 1 audits 2026-06-15 by its ``date`` param: usage figures, two problem findings -> two
tickets, a verified backup, the report in the outbox and delivered to both recipients.
Run 2 (same day again): the same problems add notes to the same tickets, no new tickets.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import REPO
from xop.audit.hosts import LocalRunner
from xop.audit.probes_host import write_baseline
from xop.audit.run import audited_day
from xop.demo.sample_cdr import asterisk_cdr_table

from .test_usage import SMALL_DAY


@pytest.fixture
def audit_setup(tmp_path: Path, monkeypatch, listening_port: int, closed_port: int) -> dict:
    system_db = tmp_path / "acme-system.db"
    engine = sa.create_engine(f"sqlite:///{system_db}")
    meta = sa.MetaData()
    cdr = asterisk_cdr_table(meta)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(cdr.insert(), SMALL_DAY)
    engine.dispose()

    watched = tmp_path / "extensions.conf"
    watched.write_text("[default]\nexten => 100,1,ConfBridge(1)\n")
    baseline = tmp_path / "baseline.sha256"
    write_baseline(LocalRunner(), [str(watched)], baseline)
    watched.write_text("[default]\nexten => 100,1,Dial(SIP/attacker)\n")  # tampered after the baseline

    config = {
        "extends": str(REPO / "include" / "config" / "xop.yaml"),
        "audit": {
            "recipients": ["ops@xop.example", "noc@xop.example"],
            "report_dir": str(tmp_path / "reports"),
            "backup_dir": str(tmp_path / "backups"),
        },
        "customers": [
            {
                "id": "acme",
                "name": "Acme Conferencing",
                "monitoring": True,
                "management_contacts": [{"name": "Ann Boss", "email": "ann.boss@acme.example"}],
                "systems": [
                    {
                        "id": "acme-conf1",
                        "name": "Acme bridge 1",
                        "db_conn_id": "acme_system_db",
                        "cdr": {},
                        "health_probes": [
                            {
                                "kind": "tcp",
                                "name": "bridge-sip",
                                "host": "127.0.0.1",
                                "port": listening_port,
                            },
                            {"kind": "tcp", "name": "web-ui", "host": "127.0.0.1", "port": closed_port},
                            {"kind": "disk", "path": str(tmp_path)},
                            {"kind": "file_integrity", "name": "dialplan", "baseline_file": str(baseline)},
                        ],
                        "backup": {"kind": "sqlite", "path": str(system_db)},
                    }
                ],
            },
            {
                "id": "globex",
                "name": "Globex Corp",
                "monitoring": False,
                "systems": [
                    {"id": "globex-conf1", "name": "Globex bridge", "health_probes": [{"kind": "disk"}]}
                ],
            },
        ],
    }
    config_path = tmp_path / "audit-config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("XOP_CONFIG", str(config_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "xop.db")})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACME_SYSTEM_DB", json.dumps({"conn_type": "sqlite", "host": str(system_db)})
    )

    return {"xop_db": tmp_path / "xop.db", "reports": tmp_path / "reports", "backups": tmp_path / "backups"}


def test_daily_audit_end_to_end(run_dag, audit_setup: dict, maildrop) -> None:
    dr = run_dag("xop_daily_audit", date="2026-06-15", now="2026-06-16T09:00:05+00:00")
    assert dr.state == "success"

    engine = sa.create_engine(f"sqlite:///{audit_setup['xop_db']}")
    with engine.connect() as conn:
        run = conn.execute(sa.text("SELECT * FROM audit_runs")).mappings().one()
        findings = conn.execute(sa.text("SELECT * FROM health_findings ORDER BY id")).mappings().all()
        tickets = conn.execute(sa.text("SELECT * FROM tickets ORDER BY id")).mappings().all()
    assert (str(run["audited_day"]), run["status"]) == ("2026-06-15", "succeeded")
    report_file = Path(run["report_path"])
    assert report_file.is_file() and "data:image/png;base64," in report_file.read_text()
    summary = run["summary"] if isinstance(run["summary"], dict) else json.loads(run["summary"])
    (acme,) = summary["systems"]  # globex has no monitoring consent: not audited
    assert acme["usage"]["attempts"] == 5 and acme["usage"]["peak_ports"] == 3 and acme["light"] == "red"
    assert acme["backup_ok"] is True

    by_probe = {f["probe"]: f for f in findings}
    assert {p: f["severity"] for p, f in by_probe.items()} == {
        "bridge-sip": "ok",
        "web-ui": "critical",
        "disk": "ok",
        "dialplan": "major",
        "backup": "ok",
    }
    assert [(t["dedup_key"], t["urgency"], t["source"]) for t in tickets] == [
        ("health:acme-conf1:web-ui", "critical", "monitoring"),
        ("health:acme-conf1:dialplan", "major", "monitoring"),
    ]
    assert by_probe["web-ui"]["ticket_number"] == tickets[0]["number"]
    assert list((audit_setup["backups"] / "acme-conf1").glob("*.sqlite3"))

    # The report reached both recipients once, with the chart inline and the CSVs attached.
    reports = [m for m in maildrop.messages if m["Subject"].startswith("[XOP audit] 2026-06-15")]
    assert sorted(m["To"] for m in reports) == ["noc@xop.example", "ops@xop.example"]
    message = reports[0]
    assert "RED" in message["Subject"] and "2 finding(s)" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert tickets[0]["number"] in html and "Acme bridge 1" in html and "Globex" not in html
    # RED is explained first: the critical finding with its ticket, before any table; the link
    # is the plain staff URL (internal recipients: no signed portal link).
    web_ui, dialplan = tickets[0]["number"], tickets[1]["number"]
    text = message.get_body(("plain",)).get_content()
    assert text.splitlines()[3] == "Why RED:"
    first = text.splitlines()[4]
    assert first.startswith("- [RED] acme-conf1 · critical · web-ui: ") and web_ui in first
    assert "major · dialplan: " in text.splitlines()[5] and dialplan in text.splitlines()[5]
    assert html.index('id="reasons"') < html.index(web_ui) < html.index("<table")
    assert f'href="https://myxop.com/tickets/{web_ui}"' in html and "?k=" not in html
    parts = {p.get_content_type() for p in message.walk()}
    assert "image/png" in parts and "text/csv" in parts
    names = {p.get_filename() for p in message.iter_attachments()}
    assert "acme-conf1-2026-06-15-hourly.csv" in names

    # Same problems again (the task bodies without Airflow, as a retry or the next day would
    # run them): notes on the open tickets, no second ticket per (system, probe).
    from xop.tasks.audit import audit_system, plan_audit, send_report

    plan = plan_audit(
        run_id="again", date_param="2026-06-15", now_param="2026-06-16T10:00:00+00:00", logical_date=None
    )
    result = audit_system(plan, "acme-conf1")
    assert result["tickets"] == {"web-ui": tickets[0]["number"], "dialplan": tickets[1]["number"]}
    assert send_report(plan, [result])["queued"] == 2
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM tickets")).scalar() == 2
        assert conn.execute(sa.text("SELECT COUNT(*) FROM audit_runs")).scalar() == 2
        notes = conn.execute(
            sa.text("SELECT COUNT(*) FROM ticket_events WHERE ticket_id = :t AND kind = 'note'"),
            {"t": tickets[0]["id"]},
        ).scalar()
    assert notes >= 1
    engine.dispose()


def test_audited_day_from_the_logical_date() -> None:
    tz = "America/Chicago"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    # Scheduled 04:00 local runs (trigger timetable: logical date = trigger time).
    assert audited_day(
        date_param=None, logical_date=datetime(2026, 3, 9, 9, tzinfo=UTC), now=now, tz=tz
    ) == date(2026, 3, 8)
    assert audited_day(
        date_param=None, logical_date=datetime(2026, 11, 2, 10, tzinfo=UTC), now=now, tz=tz
    ) == date(2026, 11, 1)
    # A manual run's date param wins; without a logical date, the day before now.
    assert audited_day(date_param="2026-06-15", logical_date=None, now=now, tz=tz) == date(2026, 6, 15)
    assert audited_day(date_param=None, logical_date=None, now=now, tz=tz) == date(2026, 11, 29)

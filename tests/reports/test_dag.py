"""The xop_sla_report DAG end to end with dag.test(): November 2026's tickets in a SQLite
ticket database, the reports saved (HTML, CSVs, PDF printed by Debian's Chromium) and
delivered to a real SMTP server (aiosmtpd): acme's to its management contact, XOP's to the
management contact; globex has no contact (saved only)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.reports.scenario import AS_OF, build_november
from xop.core.config import load_config
from xop.db.engine import engine_from_url
from xop.db.migrate import upgrade
from xop.reports.render import csv_bytes, safe_cell
from xop.reports.run import first_business_day
from xop.tickets import TicketService

STAFF = ("l2.dallas", "l2.delhi", "l3.eng")


@pytest.fixture
def report_setup(tmp_path: Path, monkeypatch) -> dict:
    config = {
        "extends": str(REPO / "tests" / "data" / "config.yaml"),
        "reports": {"report_dir": str(tmp_path / "reports"), "management_recipients": ["mgmt@xop.example"]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("XOP_CONFIG", str(path))
    db = tmp_path / "xop.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    engine = engine_from_url(f"sqlite:///{db}")
    upgrade(engine)
    numbers = build_november(TicketService(engine, load_config(path)))
    engine.dispose()
    return {"numbers": numbers, "reports": tmp_path / "reports"}


def test_sla_report_end_to_end(run_dag, report_setup: dict, maildrop) -> None:
    dr = run_dag("xop_sla_report", month="2026-11", customer="all", now=AS_OF.isoformat())
    assert dr.state == "success"
    numbers = report_setup["numbers"]

    folder = report_setup["reports"] / "2026-11"
    for stem in ("sla-2026-11-acme", "sla-2026-11-globex", "sla-2026-11-xop"):
        assert (folder / f"{stem}.html").is_file()
        assert (folder / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert (folder / f"{stem}-clocks.csv").is_file()
    saved = (folder / "sla-2026-11-acme.html").read_text()
    assert "data:image/png;base64," in saved and numbers["missed"] in saved

    by_to = {m["To"]: m for m in maildrop.messages if m["Subject"].startswith("[XOP SLA] 2026-11")}
    assert sorted(by_to) == ["ann.boss@acme.example", "mgmt@xop.example"]
    acme = by_to["ann.boss@acme.example"]
    assert "Acme Conferencing" in acme["Subject"]
    html = acme.get_body(("html",)).get_content()
    assert numbers["holiday"] in html and numbers["other"] not in html
    attachments = {p.get_filename(): p.get_content() for p in acme.iter_attachments()}
    assert {"sla-2026-11-acme-clocks.csv", "sla-2026-11-acme-breaches.csv", "sla-2026-11-acme.pdf"} <= set(
        attachments
    )
    assert "image/png" in {p.get_content_type() for p in acme.walk()}
    # The PDF is the saved page printed (its title), and the one attached is the saved file.
    pdf = (folder / "sla-2026-11-acme.pdf").read_bytes()
    assert b"/Title (SLA compliance 2026-11: Acme Conferencing)" in pdf
    assert attachments["sla-2026-11-acme.pdf"] == pdf
    # No staff names nor internal notes anywhere in what the customer gets.
    text_parts = [html, acme.get_body(("plain",)).get_content()] + [
        v for k, v in attachments.items() if k.endswith(".csv")
    ]
    for part in text_parts:
        for name in (*STAFF, "need logs"):
            assert name not in part
    breaches = list(csv.DictReader(io.StringIO(attachments["sla-2026-11-acme-breaches.csv"])))
    assert {b["number"] for b in breaches} == {
        numbers["holiday"],
        numbers["reopened"],
        numbers["missed"],
        numbers["reclassified"],
    }
    xop_html = by_to["mgmt@xop.example"].get_body(("html",)).get_content()
    assert "XOP Networks, all customers" in xop_html

    # A retry of the report task queues nothing twice.
    from xop.tasks.reports import plan_report, send_reports

    plan = plan_report(
        run_id=dr.run_id, month="2026-11", customer="all", now=AS_OF.isoformat(), logical_date=None
    )
    assert send_reports(plan)["queued"] == 0


def test_first_business_day() -> None:
    cfg = load_config(REPO / "tests" / "data" / "config.yaml")

    def at(y, m, d, h=13):
        return datetime(y, m, d, h, tzinfo=UTC)

    assert first_business_day(cfg, at(2026, 12, 1))  # Tuesday
    assert not first_business_day(cfg, at(2026, 12, 2))
    # 1 Jan 2027 is a Friday and a holiday; the weekend follows: Monday the 4th.
    assert [d for d in range(1, 11) if first_business_day(cfg, at(2027, 1, d))] == [4]
    # 1 Nov 2026 is a Sunday (and the DST change): Monday the 2nd.
    assert [d for d in range(1, 11) if first_business_day(cfg, at(2026, 11, d))] == [2]


def test_csv_cells_are_formula_safe() -> None:
    import pandas as pd

    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [safe_cell(v) for v in ("+1", "-2", "@A1", "ok", 5, -5)] == ["'+1", "'-2", "'@A1", "ok", 5, -5]
    rows = list(csv.reader(io.StringIO(csv_bytes(pd.DataFrame({"subject": ["=1+1"], "n": [3]})).decode())))
    assert rows == [["subject", "n"], ["'=1+1", "3"]]


def test_report_dir_cannot_climb_out() -> None:
    from pydantic import ValidationError

    from xop.core.specs.reports import ReportsSpec

    for bad in ("../elsewhere", "var/../../etc", "var\\reports"):
        with pytest.raises(ValidationError, match="report_dir"):
            ReportsSpec(report_dir=bad)


def test_the_report_renders_with_the_notification_environment() -> None:
    """One Jinja2 environment for every template: the report's filters are the emails'."""
    from xop.notify.render import environment

    env = environment()
    duration, pct = env.filters["duration"], env.filters["pct"]
    assert [duration(v) for v in (9000, 3600, 45 * 60, 45, None, float("nan"))] == [
        "2 h 30 min",
        "1 h 00 min",
        "45 min",
        "45 s",
        "–",
        "–",
    ]
    assert [pct(v) for v in (4 / 7, None, float("nan"))] == ["57.1 %", "–", "–"]
    assert env.get_template("reports/sla_report.html.j2").environment is env

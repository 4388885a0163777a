"""The sweep DAG end to end: dag.test() against PostgreSQL, emails delivered to an SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from xop.tickets import TicketService

CHI = ZoneInfo("America/Chicago")


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI).astimezone(UTC)


def test_sweep_dag_escalates_and_delivers(pg_engine, pg_url, xop_config, maildrop, monkeypatch, run_dag):
    url = make_url(pg_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host,
                "port": url.port,
                "login": url.username,
                "schema": url.database,
            }
        ),
    )
    svc = TicketService(pg_engine, xop_config)
    late = svc.open(
        customer="acme",
        subject="All lines busy",
        reporter_name="Carl Caller",
        reporter_email="carl@acme.example",
        proposed_urgency="critical",
        now=chi(2026, 12, 1, 9, 0),
    )
    fresh = svc.open(
        customer="acme",
        subject="Recording missing",
        reporter_name="Dora Dial",
        reporter_email="dora@acme.example",
        now=chi(2026, 12, 1, 10, 55),
    )

    dr = run_dag("xop_sla_sweep", now=chi(2026, 12, 1, 11, 0).isoformat())
    assert dr.state == "success"

    assert svc.get(late.number).level == 3 and svc.get(fresh.number).level == 2
    got = {(m["To"], m["Subject"].split("]")[1].split(":")[0].strip()) for m in maildrop.messages}
    assert got == {
        ("carl@acme.example", "Ticket opened"),
        ("dora@acme.example", "Ticket opened"),
        ("carl@acme.example", "Escalated to Level 3"),
        ("support@xopnetworks.com", "1 ticket escalated automatically"),
    }
    escalated = next(m for m in maildrop.messages if "Escalated" in m["Subject"])
    assert late.number in escalated["Subject"]
    text = escalated.get_body(("plain",)).get_content()
    assert "support@xopnetworks.com" in text and "972-590-0200" in text
    assert len({m["Message-ID"] for m in maildrop.messages}) == len(maildrop.messages) == 4

    # A second run at the same instant sends nothing again.
    dr = run_dag("xop_sla_sweep", now=chi(2026, 12, 1, 11, 0).isoformat())
    assert dr.state == "success" and len(maildrop.messages) == 4

"""Deadlines where lateness is an incident: set on the DAGs, and what a miss does.

The scheduler (not ``dag.test()``) evaluates deadlines and queues the callback with its context;
here the callback is called with the context the scheduler builds (``dag_run`` as the REST API
shows it, ``deadline`` with its time), against a real ticket database and a real SMTP server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import outbox_rows
from xop.core.paths import REPO_ROOT
from xop.notify.delivery import deliver_pending
from xop.notify.smtp import SmtpTransport
from xop.tasks.deadline_alerts import deadline_missed
from xop.tasks.deadlines import minutes_between

NOW = datetime(2026, 12, 1, 11, 40, tzinfo=UTC)  # 05:40 Central: the audit report is late


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    config = {
        "extends": str(REPO_ROOT / "include" / "config" / "xop.yaml"),
        "deadlines": {"ticket_customer": "xop", "recipients": ["ops@xopnetworks.com"]},
        "customers": [{"id": "xop", "name": "XOP Networks (the pipeline)", "monitoring": False}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("XOP_CONFIG", str(path))
    db = tmp_path / "xop.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return sa.create_engine(f"sqlite:///{db}")


def context(dag_id: str, run_id: str, due: datetime) -> dict:
    return {
        "dag_run": {
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "logical_date": (due - timedelta(hours=1.5)).isoformat(),
        },
        "deadline": {"id": "0199", "deadline_time": due.isoformat()},
    }


def tickets(engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(sa.text("SELECT number, dedup_key, customer, source FROM tickets"))
        ]


def test_a_miss_emails_operations_once_and_opens_one_pipeline_ticket(pipeline, maildrop):
    ctx = context("xop_daily_audit", "scheduled__2026-12-01T10:00:00+00:00", NOW - timedelta(minutes=10))
    first = deadline_missed(
        "the daily audit's report was not out by 05:30 (US Central)", context=ctx, now=NOW
    )
    again = deadline_missed(
        "the daily audit's report was not out by 05:30 (US Central)", context=ctx, now=NOW
    )
    assert first["emails_queued"] == 1 and first["ticket"]
    assert again == {"emails_queued": 0, "ticket": None, "already_reported": True}  # a retried callback

    (ticket,) = tickets(pipeline)
    assert ticket["dedup_key"] == "pipeline:deadline:xop_daily_audit" and ticket["source"] == "monitoring"
    assert ticket["customer"] == "xop"
    alerts = outbox_rows(pipeline, "dag_failure")
    assert [r["recipient"] for r in alerts] == ["ops@xopnetworks.com"]

    with SmtpTransport() as smtp:
        deliver_pending(pipeline, smtp=smtp, now=NOW)
    (received,) = maildrop.messages
    body = (
        received.get_payload(0).get_payload(decode=True).decode()
        if received.is_multipart()
        else received.get_payload()
    )
    assert received["To"] == "ops@xopnetworks.com"
    assert "deadline missed" in body and "xop_daily_audit" in body


def test_the_next_miss_notes_the_same_ticket(pipeline):
    for day in (1, 2):
        run = f"scheduled__2026-12-0{day}T10:00:00+00:00"
        deadline_missed("late", context=context("xop_daily_audit", run, NOW), now=NOW + timedelta(days=day))
    assert len(tickets(pipeline)) == 1
    assert len(outbox_rows(pipeline, "dag_failure")) == 2


def test_the_dags_carry_their_deadlines(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("XOP_DEADLINES", "on")  # as the DAG processor of a deployment parses them
    bag = DagBag(str(REPO_ROOT / "dags"))
    intervals = {
        dag_id: [(type(d.reference).__name__, d.interval) for d in bag.get_dag(dag_id).deadline]
        for dag_id in ("xop_daily_audit", "xop_trunk_check", "xop_sla_sweep")
    }
    assert intervals == {
        "xop_daily_audit": [("DagRunLogicalDateDeadline", timedelta(minutes=90))],  # 04:00 → 05:30
        "xop_trunk_check": [("DagRunQueuedAtDeadline", timedelta(minutes=30))],
        "xop_sla_sweep": [("DagRunLogicalDateDeadline", timedelta(minutes=15))],
    }
    assert minutes_between("04:15", "05:30") == timedelta(minutes=75)
    with pytest.raises(ValueError, match="cannot be due"):
        minutes_between("06:00", "05:30")

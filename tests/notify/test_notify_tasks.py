"""The DAGs' sender task, on the production path: ``xop_db`` (SQLite file, migrated) + ``smtp_default``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from xop.notify.mime import make_message_id
from xop.notify.outbox import outbox_counts, render_and_enqueue
from xop.notify.smtp import MailServerUnavailable
from xop.tasks import runtime
from xop.tasks.notify import deliver_outbox

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


@pytest.fixture
def ticket_db(tmp_path, monkeypatch) -> Iterator[Engine]:
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "x.db")})
    )
    engine = runtime.ticket_db()  # migrated to the newest schema, BEGIN IMMEDIATE transactions
    with engine.begin() as conn:
        for who in ("oncall@xopnetworks.example", "mgmt@xopnetworks.example"):
            render_and_enqueue(
                conn,
                kind="dag_failure",
                context={
                    "failure": {
                        "dag_id": "xop_daily_audit",
                        "task_id": "audit_system",
                        "run_id": "manual__1",
                        "try_number": 1,
                        "logical_date": None,
                        "exception": "boom",
                        "log_url": None,
                        "hostname": None,
                    }
                },
                recipient=who,
                audience="internal",
                dedup_key=f"test:{who}",
                now=NOW,
            )
    yield engine


def test_deliver_outbox_task_sends_and_returns_stats(ticket_db, smtp_connection) -> None:
    result = deliver_outbox(NOW.isoformat())
    assert (result["claimed"], result["sent"], result["failed"], result["server_unavailable"]) == (
        2,
        2,
        0,
        None,
    )
    json.dumps(result)  # fits in an XCom
    assert sorted(smtp_connection.handler.received) == sorted(
        make_message_id(f"test:{who}") for who in ("oncall@xopnetworks.example", "mgmt@xopnetworks.example")
    )
    assert outbox_counts(ticket_db) == {"pending": 0, "sent": 2, "failed": 0}


def test_deliver_outbox_task_fails_visibly_when_smtp_is_down(
    ticket_db, idle_smtp_server, monkeypatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", idle_smtp_server.connection_json())
    with pytest.raises(MailServerUnavailable, match="rest stay pending"):
        deliver_outbox(NOW.isoformat())
    assert outbox_counts(ticket_db) == {"pending": 2, "sent": 0, "failed": 0}

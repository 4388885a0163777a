"""DAG failure alerts: the SMTP provider's notifier, mailing XOP's internal recipients."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from types import SimpleNamespace

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from xop.core.config import DEFAULT_CONFIG
from xop.notify.alerts import dag_failure_notifier

NOW = datetime(2026, 7, 6, 14, 5, tzinfo=UTC)


def _context(task_id: str = "deliver_outbox", error: str = "disk <full>") -> dict:
    ti = SimpleNamespace(
        dag_id="xop_sla_sweep",
        task_id=task_id,
        run_id="scheduled__2026-07-06T14:05:00+00:00",
        try_number=2,
        hostname="worker-1",
        log_url="http://airflow.example/dags/xop_sla_sweep/runs/x/tasks/deliver_outbox",
    )
    return {"ti": ti, "run_id": ti.run_id, "logical_date": NOW, "exception": ValueError(error)}


def _parse(raw: bytes):
    return message_from_bytes(raw, policy=default_policy)


def test_failure_alert_reaches_the_given_recipients(smtp_connection) -> None:
    notifier = dag_failure_notifier(to="ops@xopnetworks.example", from_email="airflow@xopnetworks.example")
    assert isinstance(notifier, SmtpNotifier)
    notifier(_context())
    (raw,) = smtp_connection.handler.messages
    (envelope,) = smtp_connection.handler.envelopes
    assert envelope[:2] == ("airflow@xopnetworks.example", ["ops@xopnetworks.example"])
    msg = _parse(raw)
    assert msg["Subject"] == (
        "[XOP Airflow] Failed: xop_sla_sweep.deliver_outbox (scheduled__2026-07-06T14:05:00+00:00)"
    )
    html = msg.get_body(("html",)).get_content()
    assert "ValueError: disk &lt;full&gt;" in html  # escaped
    assert "Mon 2026-07-06 09:05 CDT" in html
    assert "worker-1" in html and "tasks/deliver_outbox" in html


def test_recipients_and_sender_come_from_the_config_when_the_failure_happens(
    smtp_connection, monkeypatch, tmp_path
) -> None:
    notifier = dag_failure_notifier()  # as at DAG parse time: nothing read yet
    config = tmp_path / "xop.yaml"
    config.write_text(
        f"extends: {DEFAULT_CONFIG}\n"
        "support:\n"
        '  sender: "XOP Ops <ops-bot@xopnetworks.example>"\n'
        "  internal_recipients: [oncall@xopnetworks.example, mgmt@xopnetworks.example]\n"
    )
    monkeypatch.setenv("XOP_CONFIG", str(config))
    notifier(_context())
    (envelope,) = smtp_connection.handler.envelopes
    assert envelope[0] == "ops-bot@xopnetworks.example"
    assert sorted(envelope[1]) == ["mgmt@xopnetworks.example", "oncall@xopnetworks.example"]


def test_one_notifier_reports_each_failure_with_its_own_content(smtp_connection) -> None:
    notifier = dag_failure_notifier(to=["ops@xopnetworks.example"], from_email="airflow@xopnetworks.example")
    notifier(_context("task_one", "first"))
    notifier(_context("task_two", "second"))
    first, second = (_parse(raw) for raw in smtp_connection.handler.messages)
    assert "task_one" in first["Subject"] and "first" in first.get_body(("html",)).get_content()
    assert "task_two" in second["Subject"] and "second" in second.get_body(("html",)).get_content()

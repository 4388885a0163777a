"""The sweep DAG end to end with dag.test(): a critical ticket misses its Level 4 commitment, the
sweep writes the emergency (event and email), the emergency task rings SIPp as the bridge through
a trunk with digest credentials from its Airflow connection, and the follow-up email says the
bridge was reached. A second run at the same instant rings nothing and sends nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import TEST_CONFIG
from tests.emergency.bridge import SHORT_ANNOUNCEMENT
from xop.core.config import load_config
from xop.emergency.tables import emergency_calls
from xop.tickets import TicketService
from xop.tickets.tables import ticket_events

# Monday 2026-03-02 09:00 CST; the L4 resolution target of a critical ticket is 3 business days.
OPENED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# Thursday 2026-03-05 10:00 CST: after the target, inside the bridge's (business) hours.
LATE = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)


def test_the_sweep_dag_rings_the_bridge_once(
    pg_engine, pg_url, bridges, maildrop, monkeypatch, run_dag, tmp_path
):
    bridge = bridges.start("bridge_auth_401.xml")
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
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_BRIDGE", json.dumps({"conn_type": "sip", "login": "bridge", "password": "f1rebar"})
    )
    config = tmp_path / "xop.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "extends": str(TEST_CONFIG),
                "emergency_call": {
                    "enabled": True,
                    "trunk": bridge.trunk(conn_id="xop_bridge"),
                    "retries": 0,
                    "ring_timeout_s": 5,
                    "announcement": SHORT_ANNOUNCEMENT,
                },
            }
        )
    )
    monkeypatch.setenv("XOP_CONFIG", str(config))
    cfg = load_config(config)
    svc = TicketService(pg_engine, cfg)
    ticket = svc.open(
        customer="acme",
        system="acme-conf1",
        subject="Conference bridge down",
        reporter_name="Carl Caller",
        reporter_email="carl@acme.example",
        source="staff",
        urgency="critical",
        actor="l3",
        now=OPENED,
    )
    svc.escalate(ticket.number, actor="l3", now=OPENED, to_level=3)
    svc.escalate(ticket.number, actor="l4", now=OPENED, to_level=4)

    dr = run_dag("xop_sla_sweep", now=LATE.isoformat())
    assert dr.state == "success"

    with pg_engine.connect() as conn:
        emergencies = conn.execute(
            sa.select(ticket_events.c.id).where(ticket_events.c.kind == "emergency")
        ).all()
        calls = [dict(r._mapping) for r in conn.execute(sa.select(emergency_calls))]
    assert len(emergencies) == 1 and len(calls) == 1
    assert calls[0]["status"] == "answered" and calls[0]["event_id"] == emergencies[0].id
    heard = len(bridge.sink.packets)
    assert heard == calls[0]["rtp_sent"] > 0

    [alert, *_] = [m for m in maildrop.messages if "EMERGENCY" in m["Subject"]]
    alert_text = alert.get_body(("plain",)).get_content()
    assert " ".join(alert_text.split()).count("a follow-up email says whether it was reached") == 1
    followups = [m for m in maildrop.messages if "Emergency bridge reached" in m["Subject"]]
    assert {m["To"] for m in followups} == {"mgmt@xopnetworks.com", "support@xopnetworks.com"}
    assert all(m["X-XOP-Ticket"] == ticket.number for m in followups)
    delivered = len(maildrop.messages)

    dr = run_dag("xop_sla_sweep", now=LATE.isoformat())
    assert dr.state == "success"
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(emergency_calls)).scalar_one() == 1
    assert len(bridge.sink.packets) == heard
    assert len(maildrop.messages) == delivered

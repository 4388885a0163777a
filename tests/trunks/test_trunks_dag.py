"""The xop_trunk_check DAG end to end with dag.test(): real SIPp and AMI far ends, a real ticket DB.

Run 1: a busy trunk opens one critical monitoring ticket; the good SIP trunk and the PRI span pass.
Run 2: the trunk still fails: a note on the same ticket, no second ticket.
Run 3 (manual, for that trunk only): it answers again: a recovery note; the ticket stays open.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import REPO
from tests.trunks.ami_server import AmiServer, Span
from tests.trunks.trunk_farends import SippPool


@pytest.fixture
def ami() -> Iterator[AmiServer]:
    server = AmiServer(username="monitor", secret="amipass", spans=[Span(1)]).start()
    try:
        yield server
    finally:
        server.stop()


def write_config(path: Path, *, busy_port: int, good_port: int, ami: AmiServer) -> None:
    trunk_defaults = {
        "options_timeout_s": 2.0,
        "call_timeout_s": 4.0,
        "media_seconds": 0.5,
        # this test is about tickets and runs; a starved SIPp must not grade the good trunk's call
        "quality": {"degraded_mos": 1.0, "failed_mos": 1.0, "max_loss_pct": 100.0, "max_jitter_ms": 10000.0},
    }
    config = {
        "extends": str(REPO / "include" / "config" / "xop.yaml"),
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
                        "trunks": [
                            {
                                "id": "acme-sip-main",
                                "host": "127.0.0.1",
                                "port": good_port,
                                "dial_number": "+15125550100",
                                "conn_id": "acme_trunk",
                                **trunk_defaults,
                            },
                            {
                                "id": "acme-sip-backup",
                                "host": "127.0.0.1",
                                "port": busy_port,
                                "dial_number": "+15125550101",
                                **trunk_defaults,
                            },
                            {"id": "acme-pri-1", "kind": "pri", "span": 1},
                        ],
                        "ami": {"host": "127.0.0.1", "port": ami.port, "conn_id": "acme_ami"},
                    }
                ],
            },
            {
                "id": "globex",
                "name": "Globex",
                "monitoring": False,  # no consent: never dialled
                "systems": [
                    {
                        "id": "globex-conf1",
                        "name": "Globex bridge",
                        "trunks": [{"id": "globex-sip", "host": "127.0.0.1", "port": 9, "dial_number": "1"}],
                    }
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(config))


def test_trunk_check_dag_opens_dedups_and_notes_recovery(
    run_dag, sipp: SippPool, ami: AmiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = sipp.get("answer_echo.xml", "udp")
    busy = sipp.get("busy_486.xml", "udp")
    config_path = tmp_path / "xop.yaml"
    write_config(config_path, busy_port=busy.port, good_port=good.port, ami=ami)
    db_file = tmp_path / "xop.db"
    monkeypatch.setenv("XOP_CONFIG", str(config_path))
    monkeypatch.setenv("AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACME_TRUNK", json.dumps({"conn_type": "generic", "login": "monitor", "password": "x"})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_ACME_AMI",
        json.dumps({"conn_type": "generic", "login": "monitor", "password": "amipass"}),
    )

    first = run_dag("xop_trunk_check", now="2026-03-02T15:00:00+00:00")
    assert first.state == "success"

    engine = sa.create_engine(f"sqlite:///{db_file}")
    tickets = sa.table(
        "tickets",
        *(sa.column(c) for c in ("number", "system", "state", "urgency", "source", "dedup_key", "subject")),
    )
    events = sa.table("ticket_events", sa.column("kind"), sa.column("body"))
    checks = sa.table(
        "trunk_checks",
        *(
            sa.column(c)
            for c in ("trunk", "system", "kind", "ok", "sip_code", "error", "ticket_number", "checked_at")
        ),
    )

    def rows(query):
        with engine.connect() as conn:
            return conn.execute(query).mappings().all()

    run1 = rows(sa.select(checks).order_by(checks.c.trunk, checks.c.kind))
    assert [(r["trunk"], r["kind"], bool(r["ok"]), r["sip_code"]) for r in run1] == [
        ("acme-pri-1", "pri", True, None),
        ("acme-sip-backup", "call", False, 486),
        ("acme-sip-backup", "options", True, 200),
        ("acme-sip-main", "call", True, 200),
        ("acme-sip-main", "options", True, 200),
    ]
    opened = rows(sa.select(tickets))
    assert len(opened) == 1
    ticket = opened[0]
    assert ticket["system"] == "acme-conf1" and ticket["urgency"] == "critical"
    assert ticket["source"] == "monitoring" and ticket["dedup_key"] == "trunk:acme-sip-backup"
    assert (
        ticket["subject"]
        == "Trunk acme-sip-backup on acme-conf1 failed its dial check: call busy (486 Busy Here)"
    )
    assert {r["ticket_number"] for r in run1 if r["trunk"] == "acme-sip-backup"} == {ticket["number"]}
    assert {r["ticket_number"] for r in run1 if r["trunk"] != "acme-sip-backup"} == {None}

    second = run_dag("xop_trunk_check", now="2026-03-02T21:00:00+00:00")
    assert second.state == "success"
    assert len(rows(sa.select(tickets))) == 1  # de-duplicated: a note, not a second ticket
    notes = rows(sa.select(events).where(events.c.kind == "note"))
    assert len(notes) == 1 and "busy (486 Busy Here)" in notes[0]["body"]

    # The backup trunk answers again (it now reaches the answering far end). A manual run for
    # that trunk alone checks only it and notes the recovery.
    write_config(config_path, busy_port=good.port, good_port=good.port, ami=ami)
    third = run_dag("xop_trunk_check", trunk="acme-sip-backup", now="2026-03-03T15:00:00+00:00")
    assert third.state == "success"
    notes = rows(sa.select(events).where(events.c.kind == "note"))
    assert len(notes) == 2 and notes[1]["body"].startswith("Recovered: trunk acme-sip-backup passed")
    assert len(rows(sa.select(tickets))) == 1
    assert rows(sa.select(tickets))[0]["state"] == "open"  # a person closes it
    run3 = rows(sa.select(checks).where(checks.c.checked_at > sa.literal("2026-03-03 00:00:00")))
    assert {(r["trunk"], r["kind"], bool(r["ok"])) for r in run3} == {
        ("acme-sip-backup", "options", True),
        ("acme-sip-backup", "call", True),
    }
    assert {r["ticket_number"] for r in run3} == {ticket["number"]}
    assert not rows(sa.select(checks).where(checks.c.system == "globex-conf1"))  # no consent, never dialled
    engine.dispose()

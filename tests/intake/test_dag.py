"""The intake DAG end to end: dag.test() reads Dovecot into a SQLite ticket database, and the
acknowledgement of the new ticket reaches the SMTP server in the same run."""

from __future__ import annotations

import json

from tests.intake import samples
from tests.intake.conftest import NOW
from tests.intake.helpers import all_tickets, inbound
from xop.db.engine import engine_from_url
from xop.db.migrate import upgrade


def test_intake_dag_opens_the_ticket_and_sends_the_acknowledgement(
    tmp_path, intake_config, mailbox, maildrop, monkeypatch, run_dag
):
    db = tmp_path / "xop.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    engine = engine_from_url(f"sqlite:///{db}")
    upgrade(engine)
    mailbox.append(samples.mail(subject="[conf1] No dial tone"), samples.out_of_office())
    run = run_dag("xop_mail_intake", now=NOW.isoformat())
    assert run.state == "success"
    [t] = all_tickets(engine)
    assert t["system"] == "acme-conf1"
    assert sorted(r["outcome"] for r in inbound(engine)) == ["auto_reply", "opened"]
    [ack] = maildrop.messages
    assert ack["To"] == "noc@acme.example" and t["number"] in ack["Subject"]
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 2

"""The production topology end to end, without Docker: CeleryExecutor with two workers.

The processes of ``docker-compose.yaml`` (api-server, scheduler, dag-processor, triggerer, two
Celery workers) run on this machine against PostgreSQL and Redis. Through Airflow's REST API the
test triggers every DAG of ``dags/`` and waits for success: the trunk check dials a SIPp far end,
the audit backs up a PostgreSQL system database, whose new backup (an Asset event) makes the
scheduler run the publication to an FTPS site, and the restore DAG restores that backup into a
scratch database. Both workers must have run tasks. A ticket opened through the plugin's REST
API is escalated by the SLA sweep, and the customer's email arrives at the SMTP server.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.distributed.conftest import Deployment
from tests.distributed.stack import StackError
from xop.db.engine import engine_from_url

pytestmark = pytest.mark.slow

#: Upper bound for one DAG run on a busy 2-core machine; a failing task ends the wait at once.
RUN_TIMEOUT_S = 300

#: The conf each DAG is triggered with: each succeeds legitimately against this module's peers
#: (see conftest: one customer, one system with a SIP trunk, a database and a publication).
RUN_CONF: dict[str, dict[str, Any]] = {
    "xop_sla_sweep": {},  # wall clock; the replay with `now` is the escalation test's
    "xop_trunk_check": {},  # the one trunk, dialled for real
    "xop_daily_audit": {},  # yesterday; backs up the system database
    "xop_publish_recovery_images": {},
    "xop_restore_database": {"system": "acme-conf1", "target": "scratch", "dry_run": False},
    "xop_sla_report": {"customer": "all"},  # last month's reports, PDF by Chromium on a worker
    "xop_mail_intake": {},  # an empty support mailbox (Dovecot): reads it, delivers the outbox
}
#: DAGs that need what an earlier DAG made (the restore and the publication need a backup).
AFTER_AUDIT = {"xop_restore_database", "xop_publish_recovery_images"}


def dag_ids_in_folder() -> set[str]:
    """The DAG ids declared in ``dags/`` (read from the source: each file names its ``dag_id``)."""
    found = set()
    for path in (REPO / "dags").glob("*.py"):
        found.update(re.findall(r"""dag_id\s*=\s*["']([\w.-]+)["']""", path.read_text()))
    return found


def test_every_dag_succeeds_on_the_celery_workers(deployment: Deployment) -> None:
    api, stack = deployment.api, deployment.stack
    expected = dag_ids_in_folder()
    assert expected <= set(RUN_CONF), f"say how to run the new DAGs in RUN_CONF: {expected - set(RUN_CONF)}"
    api.wait_for_dags(expected, timeout=180, stack=stack)
    assert api.import_errors() == []

    for dag_id in sorted(expected):
        api.unpause(dag_id)
    runs: dict[str, list[str]] = {}
    for wave in (sorted(expected - AFTER_AUDIT), sorted(expected & AFTER_AUDIT)):
        for dag_id in wave:
            runs[dag_id] = [api.trigger(dag_id, RUN_CONF[dag_id])]
        for dag_id in wave:
            api.wait_for_run(dag_id, runs[dag_id][0], timeout=RUN_TIMEOUT_S, stack=stack)

    hostnames = {
        f"{dag_id}/{run_id}/{ti['task_id']}": ti["hostname"]
        for dag_id, run_ids in runs.items()
        for run_id in run_ids
        for ti in api.task_instances(dag_id, run_id)
        if ti["state"] == "success"
    }
    # Distributed for real: both workers took tasks from the queue, and no other process did.
    assert set(hostnames.values()) == set(stack.workers), hostnames

    with engine_from_url(deployment.xop_db_url).connect() as conn:
        from xop.trunks.tables import trunk_checks

        calls = conn.execute(sa.select(trunk_checks).where(trunk_checks.c.trunk == "acme-sip-main")).all()
    assert calls and all(c.ok for c in calls), [dict(c._mapping) for c in calls]
    assert all(c.rtp_received for c in calls if c.kind != "options"), "no media came back from the far end"

    site = deployment.peers.ftp.root / "acme"
    published_files = {p.name for p in site.iterdir()}
    assert {deployment.peers.image.name, "SHA256SUMS"} <= published_files, published_files
    assert any("acme-conf1" in name for name in published_files), f"no backup published: {published_files}"
    assert deployment.peers.image.read_bytes() == (site / deployment.peers.image.name).read_bytes()

    # The restore DAG restored the audit's backup into a scratch database beside the live one.
    live = sa.make_url(deployment.peers.system_db_url)
    with engine_from_url(live.set(database="postgres")).connect() as conn:
        scratch = (
            conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{live.database}_restore_%"},
            )
            .scalars()
            .all()
        )
    assert len(scratch) == 1, scratch
    restored = sa.create_engine(live.set(database=scratch[0]))
    with restored.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM conferences").scalar() == 50
    restored.dispose()

    # The audit's new backup is an Asset event, on which the scheduler runs the publication itself.
    try:
        published = api.wait_for_run_of_type(
            "xop_publish_recovery_images", "asset_triggered", timeout=60, stack=stack
        )
    except StackError as exc:
        raise AssertionError(
            "the daily audit's backup emitted no `xop_backups` Asset event: its backup task must list "
            "xop.backup.assets.BACKUPS in its outlets (see plugins/xop/backup/assets.py)"
        ) from exc
    api.wait_for_run("xop_publish_recovery_images", published, timeout=RUN_TIMEOUT_S, stack=stack)


def test_sweep_escalates_a_ticket_and_mails_the_customer(deployment: Deployment) -> None:
    api = deployment.api
    api.wait_for_dags({"xop_sla_sweep"}, timeout=180, stack=deployment.stack)
    opened = api.call(
        "POST",
        "/xop/api/tickets",
        json={
            "customer": "acme",
            "system": "acme-conf1",
            "subject": "All conference lines busy",
            "reporter_name": "Carl Caller",
            "reporter_email": "carl@acme.example",
            "proposed_urgency": "critical",
        },
    )
    number = opened["number"]
    assert opened["level"] == 2
    l2_due = next(c["due_at"] for c in opened["clocks"] if c["name"] == "l2_response")

    api.unpause("xop_sla_sweep")
    # One minute after the L2 response was due, the sweep must escalate the ticket to level 3.
    replay_at = (datetime.fromisoformat(l2_due) + timedelta(minutes=1)).isoformat()
    run_id = api.trigger("xop_sla_sweep", {"now": replay_at})
    api.wait_for_run("xop_sla_sweep", run_id, timeout=RUN_TIMEOUT_S, stack=deployment.stack)

    assert api.call("GET", f"/xop/api/tickets/{number}")["level"] == 3
    escalated = _wait_for_mail(deployment, to="carl@acme.example", subject_has=(number, "Escalated"))
    assert "Level 3" in escalated["Subject"]
    assert "972-590-0200" in escalated.get_body(("plain",)).get_content()


def _wait_for_mail(
    deployment: Deployment, *, to: str, subject_has: tuple[str, ...], timeout: float = 30
) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        for message in deployment.peers.maildrop.messages:
            if message["To"] == to and all(part in message["Subject"] for part in subject_has):
                return message
        if time.monotonic() > deadline:
            seen = [(m["To"], m["Subject"]) for m in deployment.peers.maildrop.messages]
            raise AssertionError(f"no mail to {to} with {subject_has} in the subject; got {seen}")
        time.sleep(0.5)

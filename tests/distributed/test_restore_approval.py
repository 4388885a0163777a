"""A restore that replaces a live database waits for a person, on the real Airflow processes.

The restore DAG runs on the Celery stack with the simple auth manager; the approval is given or
refused through the REST API's human-in-the-loop endpoints (what Browse → Required Actions
calls), by the system's configured approver. Another signed-in user may not answer. No answer in
time counts as a refusal (the scheduler writes the default).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL
from tests.distributed.conftest import Deployment, _postgres_conn
from tests.distributed.stack import AirflowApi, StackError
from xop.backup import BackupSpec, take_backup

pytestmark = pytest.mark.slow

DAG = "xop_restore_database"
APPROVAL = "approve_swap"


@pytest.fixture(scope="module")
def restore_ready(deployment: Deployment, monkeypatch_module) -> dict:
    """A verified backup in the deployment's backup folder; the restore DAG unpaused."""
    monkeypatch_module.setenv("AIRFLOW_CONN_ACME_SYSTEM_DB", _postgres_conn(deployment.peers.system_db_url))
    root = deployment.config_path.parent / "var" / "backups"
    take_backup(
        BackupSpec(kind="postgres", conn_id="acme_system_db"),
        system="acme-conf1",
        directory=root,
        now=datetime.now(UTC),
    )
    deployment.api.wait_for_dags({DAG}, timeout=180, stack=deployment.stack)
    deployment.api.unpause(DAG)
    passwords = json.loads((deployment.stack.home / "passwords.json").read_text())
    users = {
        name: AirflowApi(deployment.stack.api_url, username=name, password=passwords[name])
        for name in ("restorer", "bystander")
    }
    yield users
    for client in users.values():
        client.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _engine(deployment: Deployment, database: str | None = None) -> sa.Engine:
    url = make_url(deployment.peers.system_db_url)
    return sa.create_engine(url.set(database=database) if database else url)


def set_marker(deployment: Deployment, text: str) -> None:
    engine = _engine(deployment)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE conferences SET name = :t WHERE id = 1"), {"t": text})
    engine.dispose()


def marker(deployment: Deployment, database: str | None = None) -> str:
    engine = _engine(deployment, database)
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT name FROM conferences WHERE id = 1")).scalar_one()
    engine.dispose()
    return value


def databases(deployment: Deployment) -> set[str]:
    live = make_url(deployment.peers.system_db_url).database
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect() as conn:
        names = set(
            conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{live}%"}
            ).scalars()
        )
    admin.dispose()
    return names


def start_restore(deployment: Deployment, **conf) -> str:
    return deployment.api.trigger(
        DAG,
        {"system": "acme-conf1", "target": "replace", "dry_run": False, "confirmation": None, **conf},
    )


def wait_for_approval_request(deployment: Deployment, run_id: str, timeout: float = 600) -> dict:
    """The HITL request of the run, once its approval task waits for a person."""
    api, deadline = deployment.api, time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {t["task_id"]: t["state"] for t in api.task_instances(DAG, run_id)}
        if states.get(APPROVAL) in ("awaiting_input", "deferred"):
            return api.call(
                "GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{APPROVAL}/-1/hitlDetails"
            )
        if any(s in ("failed", "upstream_failed") for s in states.values()):
            raise StackError(f"restore run {run_id} failed before the approval: {states}")
        deployment.stack.check_alive()
        time.sleep(2)
    raise StackError(f"restore run {run_id} never asked for approval: {states}")


def respond(client: AirflowApi, run_id: str, option: str) -> httpx.Response:
    return client.client.patch(
        f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{APPROVAL}/-1/hitlDetails",
        json={"chosen_options": [option]},
    )


def scratch_of(request: dict) -> str:
    body = request["body"]
    start = body.index("scratch database `") + len("scratch database `")
    return body[start : body.index("`", start)]


def test_approved_by_the_restorer_the_restore_swaps(deployment: Deployment, restore_ready: dict) -> None:
    set_marker(deployment, "edited after the backup")
    run_id = start_restore(deployment)
    request = wait_for_approval_request(deployment, run_id)

    body = request["body"]
    assert "acme-conf1" in body and "SHA-256" in body and "_pre_restore_" in body
    assert "| `public.conferences` | 50 | 50 |" in body  # scratch vs live row counts
    assert [u["id"] for u in request["assigned_users"]] == ["restorer"]
    assert marker(deployment) == "edited after the backup"  # nothing swapped while waiting

    refused = respond(restore_ready["bystander"], run_id, "Approve")
    assert refused.status_code == 403, refused.text
    assert "not a respondent" in refused.text

    answered = respond(restore_ready["restorer"], run_id, "Approve")
    assert answered.status_code == 200, answered.text
    deployment.api.wait_for_run(DAG, run_id, timeout=600, stack=deployment.stack)
    assert marker(deployment) == "bridge 1"  # the backup's data
    previous = body.split("kept as **`")[1].split("`")[0]
    assert marker(deployment, previous) == "edited after the backup"


def test_rejected_the_scratch_database_goes_and_nothing_changes(
    deployment: Deployment, restore_ready: dict
) -> None:
    set_marker(deployment, "kept because the restore was refused")
    run_id = start_restore(deployment)
    request = wait_for_approval_request(deployment, run_id)
    scratch = scratch_of(request)
    assert scratch in databases(deployment)

    answered = respond(restore_ready["restorer"], run_id, "Reject")
    assert answered.status_code == 200, answered.text
    deployment.api.wait_for_run(DAG, run_id, timeout=600, stack=deployment.stack)
    states = {t["task_id"]: t["state"] for t in deployment.api.task_instances(DAG, run_id)}
    assert states["swap_in"] == "skipped" and states["finish"] == "success"
    assert scratch not in databases(deployment)
    assert marker(deployment) == "kept because the restore was refused"


def test_no_answer_in_time_counts_as_a_refusal(deployment: Deployment, restore_ready: dict) -> None:
    set_marker(deployment, "kept because nobody answered")
    run_id = start_restore(deployment, approval_timeout_minutes=1)
    scratch = scratch_of(wait_for_approval_request(deployment, run_id))
    deployment.api.wait_for_run(DAG, run_id, timeout=600, stack=deployment.stack)
    states = {t["task_id"]: t["state"] for t in deployment.api.task_instances(DAG, run_id)}
    assert states["swap_in"] == "skipped"
    assert scratch not in databases(deployment)
    assert marker(deployment) == "kept because nobody answered"


PIPELINE_TICKETS = sa.text(
    "SELECT count(*) FROM tickets WHERE dedup_key = 'pipeline:deadline:xop_daily_audit'"
)


def test_a_missed_deadline_emails_once_and_opens_one_pipeline_ticket(deployment: Deployment) -> None:
    """A run of the audit whose logical date is two days ago at 04:00 Central is past its 05:30
    deadline the moment it exists, whatever the time of day: the scheduler's deadline check runs
    the callback on a worker, which queues one email and opens one ticket for the pipeline. The
    run then finishes, and its deadline has been reported exactly once."""
    api = deployment.api
    api.wait_for_dags({"xop_daily_audit"}, timeout=180, stack=deployment.stack)
    api.unpause("xop_daily_audit")
    local = datetime.now(ZoneInfo("America/Chicago")) - timedelta(days=2)
    logical = local.replace(hour=4, minute=0, second=0, microsecond=0).astimezone(UTC).isoformat()
    run_id = api.trigger("xop_daily_audit", {}, logical_date=logical)
    key = f"deadline:xop_daily_audit:{run_id}"
    engine = sa.create_engine(deployment.xop_db_url)
    waited_until = time.monotonic() + 600
    try:
        while True:  # polls the real outcome; the scheduler checks deadlines on its own loop
            with engine.connect() as conn:
                mails = conn.execute(
                    sa.text("SELECT count(*) FROM notifications WHERE dedup_key LIKE :k"), {"k": key + "%"}
                ).scalar_one()
                tickets = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM tickets WHERE dedup_key = 'pipeline:deadline:xop_daily_audit'"
                    )
                ).scalar_one()
            if mails and tickets:
                break
            assert time.monotonic() < waited_until, f"no deadline alert for {run_id}: {mails=} {tickets=}"
            deployment.stack.check_alive()
            time.sleep(3)
        api.wait_for_run("xop_daily_audit", run_id, timeout=300, stack=deployment.stack)
        with engine.connect() as conn:
            again = conn.execute(
                sa.text("SELECT count(*) FROM notifications WHERE dedup_key LIKE :k"), {"k": key + "%"}
            ).scalar_one()
            ticket_count = conn.execute(PIPELINE_TICKETS).scalar_one()
        assert again == mails and ticket_count == 1
    finally:
        engine.dispose()

"""Many systems on two Celery workers, and a worker killed mid-run (issue 21, items 2 and 3).

One stack for the module (:func:`tests.distributed.conftest.deploy`, the processes of
``docker-compose.yaml`` on the machine's PostgreSQL and Redis) with the fleet of
:mod:`tests.distributed.fleet` scaled down to :data:`SYSTEMS` systems (the benchmark,
``bench/bench_distributed.py``, runs 200): trunks answered by four SIPp instances, a day of CDRs
per system, health probes (every fifth system has a refused service: a critical finding), a
backup per system, and the first customer's backups published to the FTPS site.

1. The trunk check and the audit of every system (the runs the scheduler makes when the DAGs
   are unpaused) succeed: every trunk checked, every system's health and backup recorded, the
   runs' time split printed (``-s``).
2. Worker a is SIGKILLed (with every process it started, as when its container dies) while the
   audit's mapped tasks run, each of them stopped inside its backup: the test holds an ACCESS
   EXCLUSIVE lock on the system database's table, so every ``pg_dump`` waits, and kills the
   worker once a ``pg_dump`` runs under it. Worker b, alone, retries them; then it is killed
   while it delivers the audit's outbox (the test's SMTP server holds the report's RCPT TO,
   before any message data), and worker a, started again as compose restarts a container,
   retries the delivery. Every lost task is retried by Airflow (task heartbeat timeout,
   ``retries``) and finishes on the other worker; the counts prove that nothing ran twice:
   each backup taken once and verified, each finding's ticket opened once, each email received
   once by the SMTP server, no partial file on the FTP site.

Synchronisation is on events (a process in the worker's tree, a held SMTP command, task states
read from the REST API), never on timing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.distributed.conftest import Deployment, deploy
from tests.distributed.fleet import (
    AUDIT_DAY,
    REPORT_RECIPIENT,
    fleet,
    has_finding,
    system_id,
    task_split,
)
from tests.distributed.stack import StackError
from xop.audit.tables import audit_runs, health_findings
from xop.backup import list_backups, verify_backup
from xop.backup.tables import backups, publications
from xop.core.config import load_config
from xop.core.specs.backup import backup_root
from xop.db.engine import engine_from_url
from xop.notify.tables import notifications
from xop.tickets.tables import ticket_events, tickets
from xop.trunks.tables import trunk_checks

pytestmark = pytest.mark.slow

SYSTEMS = 20
FINDING_EVERY = 5
#: The killed run's ``now``: a day after the other run, so its backups have their own stamp.
KILLED_RUN_NOW = "2026-12-02T10:05:00+00:00"
RUN_TIMEOUT_S = 600
#: Airflow's settings of this test. The heartbeat timeout is 300 s by default: a task whose
#: worker died is found after 45 s instead (its supervisor heartbeats every 5 s).
FAULT_ENV = {"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45"}
DAGS = ("xop_trunk_check", "xop_daily_audit", "xop_publish_recovery_images")


@dataclass
class Fleet:
    deployment: Deployment
    #: dag_id -> run id of the run the scheduler made when the DAG was unpaused (catchup=False
    #: still runs the latest interval): the trunk check and the audit of every system.
    scheduled: dict[str, str]


@pytest.fixture(scope="module")
def fleet_stack() -> Iterator[Fleet]:
    builder = fleet(SYSTEMS, calls_per_day=500, finding_every=FINDING_EVERY)
    with deploy(REPO / "test-artifacts" / "fleet", builder, sipp_hosts=4, extra_env=FAULT_ENV) as deployed:
        api, stack = deployed.api, deployed.stack
        api.wait_for_dags(DAGS, timeout=180, stack=stack)
        assert api.import_errors() == []
        for dag_id in DAGS:
            api.unpause(dag_id)
        scheduled = {}
        for dag_id in ("xop_trunk_check", "xop_daily_audit"):
            scheduled[dag_id] = api.wait_for_run_of_type(dag_id, "scheduled", timeout=180, stack=stack)
        yield Fleet(deployed, scheduled)


def _xop(deployment: Deployment) -> sa.Engine:
    return engine_from_url(deployment.xop_db_url)


def _backup_roots(deployment: Deployment) -> dict[str, Path]:
    cfg = load_config(deployment.config_path)
    return {system.id: backup_root(cfg, system) for _, system in cfg.systems()}


def _pg_dump_under(deployment: Deployment, worker: str) -> bool:
    proc = next(p for p in deployment.stack.processes if p.name == worker)
    try:
        tree = psutil.Process(proc.popen.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    names = []
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            names.append(member.name())
    return "pg_dump" in names


def _wait(condition, what: str, deployment: Deployment, *, timeout: float = 300, run=None) -> Any:
    """Poll ``condition`` until it returns something true; fail early when the run failed."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        deployment.stack.check_alive()
        if run is not None:
            state = deployment.api.call("GET", f"/api/v2/dags/{run[0]}/dagRuns/{run[1]}")["state"]
            assert state != "failed", f"{run} failed while waiting for {what}"
        if time.monotonic() > deadline:
            raise StackError(f"not seen after {timeout:.0f} s: {what}")
        time.sleep(0.5)
    return found


def _running_on(deployment: Deployment, dag_id: str, run_id: str, worker: str) -> list[dict[str, Any]]:
    return [
        t
        for t in deployment.api.task_instances(dag_id, run_id)
        if t["state"] == "running" and t["hostname"] == worker
    ]


def _final_and_earlier(deployment: Deployment, run_id: str, ti: dict[str, Any]) -> tuple[dict, list[dict]]:
    tries = deployment.api.tries("xop_daily_audit", run_id, ti["task_id"], ti["map_index"])
    tries.sort(key=lambda t: t["try_number"])
    return tries[-1], tries[:-1]


def _wait_publications_done(deployment: Deployment) -> list[dict[str, Any]]:
    """Until every asset-triggered publication run has ended; two listings in a row agree."""
    api = deployment.api
    seen: list[str] | None = None
    while True:
        runs = api.runs("xop_publish_recovery_images")
        for run in runs:
            api.wait_for_run(
                "xop_publish_recovery_images",
                run["dag_run_id"],
                timeout=RUN_TIMEOUT_S,
                stack=deployment.stack,
                retries=True,
            )
        ids = sorted(r["dag_run_id"] for r in runs)
        if ids == seen:
            return runs
        seen = ids
        time.sleep(5)  # the scheduler turns the last asset events into a run in its next loop


def test_every_system_is_checked_and_backed_up(fleet_stack: Fleet) -> None:
    """The scaled-down run of bench/bench_distributed.py: both DAGs right for every system."""
    d = fleet_stack.deployment
    api, stack = d.api, d.stack
    for dag_id, run_id in fleet_stack.scheduled.items():
        run = api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT_S, stack=stack)
        split = task_split(run, api.task_instances(dag_id, run_id))
        print(f"\n{dag_id}: {SYSTEMS} systems, {split}")
    _wait_publications_done(d)

    systems = {system_id(n) for n in range(SYSTEMS)}
    engine = _xop(d)
    with engine.connect() as conn:
        checks = conn.execute(sa.select(trunk_checks)).all()  # only this run checked trunks so far
        audit_run = conn.execute(
            sa.select(audit_runs).where(audit_runs.c.run_id == fleet_stack.scheduled["xop_daily_audit"])
        ).one()
        of_run = health_findings.c.run_id == audit_run.id
        findings = conn.execute(sa.select(health_findings).where(of_run)).all()
        taken = conn.execute(sa.select(backups).where(backups.c.taken_at == audit_run.started_at)).all()
    engine.dispose()

    # Every trunk: an OPTIONS probe and a test call, both good, media back from its SIPp.
    by_system: dict[str, set[str]] = {}
    for c in checks:
        assert c.ok, dict(c._mapping)
        by_system.setdefault(c.system, set()).add(c.kind)
    assert set(by_system) == systems
    assert all(len(kinds) >= 2 for kinds in by_system.values()), by_system
    assert all(c.rtp_received for c in checks if c.kind != "options")

    # Every system audited: its probes, a verified backup; the report says all were done.
    assert audit_run.status == "succeeded", audit_run.summary
    probes = {(f.system, f.probe): f for f in findings}
    for n in range(SYSTEMS):
        s = system_id(n)
        assert probes[(s, "smtp-relay")].severity == "ok"
        assert probes[(s, "backup")].severity == "ok"
        if has_finding(n, FINDING_EVERY):
            assert probes[(s, "conference-service")].severity == "critical"
            assert probes[(s, "conference-service")].ticket_number
    assert sorted(b.system for b in taken) == sorted(systems) and all(b.verified for b in taken)
    # Distributed for real: both workers ran audits.
    hosts = {
        t["hostname"] for t in api.task_instances("xop_daily_audit", fleet_stack.scheduled["xop_daily_audit"])
    }
    assert set(stack.workers) <= hosts, hosts


def test_a_worker_killed_mid_audit_and_mid_delivery_loses_and_repeats_nothing(fleet_stack: Fleet) -> None:
    d = fleet_stack.deployment
    api, stack = d.api, d.stack
    for dag_id, scheduled in fleet_stack.scheduled.items():  # nothing else runs meanwhile
        api.wait_for_run(dag_id, scheduled, timeout=RUN_TIMEOUT_S, stack=stack)
    _wait_publications_done(d)
    held, release = d.peers.maildrop.hold(REPORT_RECIPIENT)
    system_db = sa.create_engine(d.peers.system_db_url)
    holder = system_db.connect()
    try:
        holder.exec_driver_sql("LOCK TABLE conferences IN ACCESS EXCLUSIVE MODE")  # every pg_dump waits
        run_id = api.trigger("xop_daily_audit", {"date": AUDIT_DAY.isoformat(), "now": KILLED_RUN_NOW})
        run = ("xop_daily_audit", run_id)
        _wait(lambda: _pg_dump_under(d, "worker-a"), "a pg_dump under worker-a", d, run=run)
        stack.kill("worker-a")
    finally:
        holder.rollback()
        holder.close()
        system_db.dispose()
    lost = _running_on(d, *run, "worker-a")  # nobody updates them now: what worker-a was running
    assert any(t["task_id"] == "audit_system" for t in lost), lost

    # The report's delivery is held at the SMTP server (its client gives up after 10 s): the worker
    # running it dies at once, and the killed worker-a comes back (compose restarts it) to retry it.
    _wait(lambda: held.is_set(), "the report's RCPT TO at the SMTP server", d, timeout=RUN_TIMEOUT_S, run=run)
    delivering = next(
        t for t in api.task_instances(*run) if t["task_id"] == "deliver_outbox" and t["state"] == "running"
    )
    victim = delivering["hostname"]
    assert victim == "worker-b", delivering  # the only worker alive
    stack.kill(victim)
    release.set()
    stack.start_worker("worker-a")
    stack.wait_worker_ready("worker-a")
    api.wait_for_run(*run, timeout=RUN_TIMEOUT_S, stack=stack, retries=True)
    published_runs = _wait_publications_done(d)

    # Every task lost with a worker finished on the other one, after a try on the killed one.
    for ti in [*lost, delivering]:
        killed = "worker-a" if ti in lost else "worker-b"
        final, earlier = _final_and_earlier(d, run_id, ti)
        assert final["state"] == "success" and final["hostname"] != killed, (ti["task_id"], final)
        assert any(t["hostname"] == killed for t in earlier), (ti["task_id"], earlier)
    assert all(t["state"] == "success" for t in api.task_instances(*run))
    assert all(r["state"] == "success" for r in published_runs), published_runs

    taken_at = datetime.fromisoformat(KILLED_RUN_NOW)
    engine = _xop(d)
    with engine.connect() as conn:
        # Each backup taken once and verified.
        rows = conn.execute(sa.select(backups).where(backups.c.taken_at == taken_at)).all()
        audit_run = conn.execute(sa.select(audit_runs).where(audit_runs.c.run_id == run_id)).one()
        of_run = health_findings.c.run_id == audit_run.id
        findings = conn.execute(sa.select(health_findings).where(of_run)).all()
        opened = conn.execute(
            sa.select(tickets.c.system, tickets.c.dedup_key, sa.func.count(ticket_events.c.id))
            .join(ticket_events, ticket_events.c.ticket_id == tickets.c.id)
            .where(tickets.c.source == "monitoring", ticket_events.c.kind == "opened")
            .group_by(tickets.c.system, tickets.c.dedup_key)
        ).all()
        outbox = conn.execute(sa.select(notifications)).all()
        published = conn.execute(sa.select(publications)).all()
    engine.dispose()
    systems = {system_id(n) for n in range(SYSTEMS)}
    assert sorted(r.system for r in rows) == sorted(systems), "one backup row per system"
    assert all(r.verified for r in rows)
    roots = _backup_roots(d)
    for system in systems:
        taken = [m for m in list_backups(roots[system], system=system) if m.taken_at == taken_at]
        assert len(taken) == 1, (system, taken)
        verify_backup(taken[0])  # size, SHA-256 and a full read of the archive
        leftovers = [p.name for p in (roots[system] / system).iterdir() if ".partial-" in p.name]
        assert leftovers == [], f"a killed try's partial dump was left behind: {leftovers}"
    assert audit_run.status == "succeeded"
    assert {(f.system, f.probe) for f in findings} >= {(s, "backup") for s in systems}
    assert all(f.severity == "ok" for f in findings if f.probe == "backup")

    # Each finding's ticket opened once (and no system without a finding has one).
    with_finding = {system_id(n) for n in range(SYSTEMS) if has_finding(n, FINDING_EVERY)}
    assert {(s, k) for s, k, _ in opened} == {(s, f"health:{s}:conference-service") for s in with_finding}
    assert all(count == 1 for *_, count in opened), opened

    # Each email delivered exactly once, read back from the SMTP server.
    received = [m["Message-ID"].strip("<>") for m in d.peers.maildrop.messages]
    assert len(received) == len(set(received)), "an email arrived twice"
    sent = {n.message_id.strip("<>") for n in outbox if n.status == "sent"}
    assert sent == set(received)
    report = [n for n in outbox if n.recipient == REPORT_RECIPIENT and run_id in n.dedup_key]
    assert [n.status for n in report] == ["sent"], report
    acks = [n for n in outbox if n.ticket_id is not None]  # the findings' tickets' emails
    assert acks and all(n.status == "sent" for n in acks), [(n.kind, n.status) for n in acks]

    # No partial file on the FTP site; what was published is there whole.
    site = d.peers.ftp.root
    assert [p for p in site.rglob("*") if p.name.endswith(".part")] == []
    assert published, "the first customer's backups were not published"
    for row in published:
        if row.pruned_at is None:
            assert (site / row.folder.lstrip("/") / row.name).stat().st_size == row.size, row

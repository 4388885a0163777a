"""Demo data and the demo run: a few tickets at telling ages, then every DAG once via dag.test()."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: DAGs run by the demo, in order, with their run conf. The sweep is the main job.
DEMO_RUNS: list[tuple[str, dict[str, Any]]] = [
    ("xop_sla_sweep", {}),
    ("xop_trunk_check", {}),
    ("xop_daily_audit", {}),
    ("xop_publish_recovery_images", {}),
    ("xop_restore_database", {"system": "demo-conf1", "target": "scratch", "dry_run": True}),
    ("xop_sla_sweep", {}),  # delivers what the monitoring DAGs queued
]


def seed_tickets(now: datetime) -> list[str]:
    """Open the demo tickets once (an empty ticket database only); returns their numbers."""
    from xop.tasks import runtime
    from xop.tickets.tables import tickets

    engine = runtime.ticket_db()
    with engine.connect() as c:
        if c.execute(sa.select(sa.func.count()).select_from(tickets)).scalar_one():
            return []
    svc = runtime.ticket_service()
    week_ago = now - timedelta(days=7)
    overdue = svc.open(
        customer="demo",
        system="demo-conf1",
        subject="Callers hear silence after entering the PIN",
        description="Since the weekend every third caller to 5000 hears nothing after the PIN prompt.",
        reporter_name="Pat Operator",
        reporter_email="pat.operator@demo-customer.example",
        proposed_urgency="critical",
        now=week_ago,
    )
    rca_due = svc.open(
        customer="demo",
        system="demo-conf1",
        subject="Replication to the standby stopped",
        reporter_name="Pat Operator",
        reporter_email="pat.operator@demo-customer.example",
        urgency="major",
        now=week_ago,
    )
    svc.respond(
        rca_due.number,
        actor="lena (L2)",
        body="Confirmed, escalating to Level 3.",
        now=week_ago + timedelta(minutes=20),
    )
    svc.escalate(
        rca_due.number,
        actor="lena (L2)",
        now=week_ago + timedelta(minutes=30),
        reason="Needs a database engineer",
    )
    svc.respond(rca_due.number, actor="omar (L3)", body="Working on it.", now=week_ago + timedelta(hours=1))
    svc.recover(
        rca_due.number, actor="omar (L3)", now=week_ago + timedelta(hours=2), body="Standby re-seeded."
    )
    fresh = svc.open(
        customer="demo",
        system="demo-conf1",
        subject="Please add two moderator accounts",
        reporter_name="Pat Operator",
        reporter_email="pat.operator@demo-customer.example",
        urgency="minor",
        now=now,
    )
    return [overdue.number, rca_due.number, fresh.number]


def seed_system_db(path: Path, now: datetime, calls: int = 3000) -> None:
    """The demo system's Asterisk-style CDR table with yesterday's calls (local day), once a day."""
    from xop.audit.days import AuditDay, previous_local_day
    from xop.demo.sample_cdr import asterisk_cdr_table, random_cdrs

    day = AuditDay.of(previous_local_day(now))
    engine = sa.create_engine(f"sqlite:///{path}")
    meta = sa.MetaData()
    cdr = asterisk_cdr_table(meta)
    meta.create_all(engine)
    with engine.begin() as c:
        have = c.execute(
            sa.select(sa.func.count()).where(cdr.c.calldate >= day.start, cdr.c.calldate < day.end)
        )
        if not have.scalar_one():
            random_cdrs(day, calls).to_sql("cdr", c, if_exists="append", index=False)
    engine.dispose()


def run_all(var: Path) -> list[tuple[str, str, float]]:
    """Create Airflow's metadata DB, seed, run each demo DAG once; returns (dag, state, seconds)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    from xop.core.paths import REPO_ROOT

    initdb()
    now = datetime.now(UTC)
    seed_system_db(var / "system-demo.db", now)
    seed_tickets(now)
    bag = DagBag(str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    results = []
    for dag_id, conf in DEMO_RUNS:
        if dag_id not in bag.dag_ids:
            continue
        started = time.perf_counter()
        run = bag.get_dag(dag_id).test(run_conf=conf or None)
        results.append((dag_id, str(run.state), time.perf_counter() - started))
    return results


def summary(results: list[tuple[str, str, float]], *, mail_dir: Path, ftp_dir: Path) -> str:
    from xop.tasks import runtime
    from xop.tickets.tables import tickets

    with runtime.ticket_db().connect() as c:
        rows = c.execute(
            sa.select(
                tickets.c.number, tickets.c.level, tickets.c.state, tickets.c.urgency, tickets.c.subject
            ).order_by(tickets.c.id)
        ).all()
    var = mail_dir.parent
    lines = ["", "XOP demo finished.", "", "DAG runs:"]
    lines += [f"  {dag:32s} {state:8s} {secs:6.1f} s" for dag, state, secs in results]
    lines += ["", "Tickets (var/demo/xop.db):"]
    lines += [f"  {r.number}  L{r.level}  {r.state:17s} {r.urgency or '-':9s} {r.subject}" for r in rows]
    mails = sorted(mail_dir.glob("*.eml"))
    lines += [
        "",
        f"Emails delivered: {len(mails)} files in {mail_dir}",
        f"Audit reports:    {var / 'reports'}",
        f"Backups:          {var / 'backups'}",
        f"FTPS site folder: {ftp_dir}",
        "Airflow UI:       make ui",
    ]
    return "\n".join(lines)

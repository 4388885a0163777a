"""Demo data and the demo run: a few tickets at telling ages, then every DAG once via dag.test()."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

#: DAGs run by the demo, in order, with their run conf. The sweep is the main job.
DEMO_RUNS: list[tuple[str, dict[str, Any]]] = [
    ("xop_mail_intake", {}),  # the customer emails dropped into the demo mailbox (i14)
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
        actor="lena (L2)",  # only staff and monitoring set an urgency
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
        actor="lena (L2)",
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


@dataclass(frozen=True)
class Snapshot:
    """What the demo reports changes of: tickets (level, state), emails sent, files written."""

    tickets: dict[str, tuple[int, str, str]]
    sent: frozenset[int]
    mail_files: frozenset[str]

    @classmethod
    def take(cls, mail_dir: Path) -> Snapshot:
        from xop.notify.tables import notifications
        from xop.tasks import runtime
        from xop.tickets.tables import tickets

        with runtime.ticket_db().connect() as c:
            rows = c.execute(sa.select(tickets.c.number, tickets.c.level, tickets.c.state, tickets.c.subject))
            found = {r.number: (r.level, r.state, r.subject) for r in rows}
            sent = c.execute(sa.select(notifications.c.id).where(notifications.c.status == "sent"))
            sent_ids = frozenset(r.id for r in sent)
        return cls(found, sent_ids, frozenset(p.name for p in mail_dir.glob("*.eml")))


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per new or changed ticket, and the emails delivered in between."""
    lines = []
    for number, (level, state, subject) in after.tickets.items():
        old = before.tickets.get(number)
        if old is None:
            lines.append(f"new ticket {number} (L{level}, {state}): {subject}")
        elif old[:2] != (level, state):
            moved = []
            if old[0] != level:
                moved.append(f"L{old[0]} -> L{level}")
            if old[1] != state:
                moved.append(f"{old[1]} -> {state}")
            lines.append(f"{number} {', '.join(moved)}")
    emails = len(after.sent - before.sent)
    if emails:
        lines.append(f"{emails} email(s) delivered")
    return lines


def run_all(var: Path, say: Callable[[str], None] = print) -> list[tuple[str, str, float]]:
    """Create Airflow's metadata DB, seed, run each demo DAG once; returns (dag, state, seconds).

    ``say`` gets a short line per step and per change it caused.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    from xop.core.paths import REPO_ROOT
    from xop.demo.imap import drop_demo_mail
    from xop.tasks import runtime

    say("1. Airflow metadata DB (SQLite) in var/demo/airflow/ ...")
    initdb()
    now = datetime.now(UTC)
    say("2. Demo system database with yesterday's call records: var/demo/system-demo.db")
    seed_system_db(var / "system-demo.db", now)
    opened = seed_tickets(now)
    say(
        f"3. Demo tickets opened: {', '.join(opened)}"
        if opened
        else "3. Demo tickets kept from an earlier run (make clean starts over)"
    )
    drop_demo_mail(runtime.ticket_db(), say)  # i14: a new issue, a reply, an out-of-office, a bounce
    bag = DagBag(str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    say("4. Every DAG once with dag.test():")
    results = []
    for dag_id, conf in DEMO_RUNS:
        if dag_id not in bag.dag_ids:
            continue
        before = Snapshot.take(var / "mail")
        started = time.perf_counter()
        run = bag.get_dag(dag_id).test(run_conf=conf or None)
        seconds = time.perf_counter() - started
        results.append((dag_id, str(run.state), seconds))
        say(f"   {dag_id:30s} {run.state!s:8s} {seconds:5.1f} s")
        for line in changes(before, Snapshot.take(var / "mail")):
            say(f"      {line}")
    return results


def summary(
    results: list[tuple[str, str, float]], *, mail_dir: Path, ftp_dir: Path, before: Snapshot, log_file: Path
) -> str:
    after = Snapshot.take(mail_dir)
    var = mail_dir.parent
    new_tickets = [n for n in after.tickets if n not in before.tickets]
    failed = [dag for dag, state, _ in results if state != "success"]
    lines = [
        "",
        "XOP demo finished: " + ("every DAG succeeded." if not failed else f"FAILED: {', '.join(failed)}"),
        f"  This run: {len(new_tickets)} new ticket(s), {len(after.sent - before.sent)} email(s) delivered,"
        f" {len(after.mail_files - before.mail_files)} new .eml file(s).",
        f"  Tickets now: {len(after.tickets)} in var/demo/xop.db "
        f"({sum(1 for _, s, _ in after.tickets.values() if s not in ('resolved', 'closed'))} active).",
        f"  Emails:      {mail_dir}",
        f"  Reports:     {var / 'reports'}",
        f"  Backups:     {var / 'backups'}",
        f"  FTPS site:   {ftp_dir}",
        f"  Airflow log: {log_file}",
        "  Next:        make ui (the Airflow UI and the ticket page on the demo)",
    ]
    return "\n".join(lines)

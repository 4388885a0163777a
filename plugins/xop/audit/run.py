"""Task bodies of the daily audit DAG (``dags/xop_daily_audit.py``): plan, audit one system,
report. Each is one call from a task; everything they need comes from the config, Airflow
connections and the arguments, so a test can run them without Airflow.

* :func:`plan_audit` decides the audited day and the systems (monitoring consent only) and
  opens the ``audit_runs`` row;
* :func:`audit_system` (mapped, one per system): usage, health probes, backup, tickets, the
  ``health_findings`` rows, and a JSON file of its results for the report;
* :func:`send_report` renders the report, saves it, records it on the run and puts one email
  per recipient in the outbox (delivered by the DAG's last task, or the SLA sweep's).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from xop.audit.days import AuditDay, previous_local_day
from xop.audit.findings import SEVERITY_RANK, Finding
from xop.audit.health import run_health_checks
from xop.audit.report import (
    BackupStatus,
    SystemAudit,
    render_report,
    save_report,
    system_audit_from_json,
    system_audit_to_json,
)
from xop.audit.tables import audit_runs, health_findings
from xop.audit.usage import compute_usage
from xop.backup import apply_retention, take_backup
from xop.connections.ticket_db import database_url
from xop.core.config import XopConfig
from xop.core.errors import BackupError, ConfigError, InvalidInput
from xop.core.paths import REPO_ROOT
from xop.core.specs.audit import AuditSpec
from xop.core.specs.backup import backup_root
from xop.notify.links import staff_ticket_url
from xop.notify.mime import Attachment, InlineImage
from xop.notify.outbox import enqueue_rendered
from xop.tickets import TicketService
from xop.trunks.report import trunk_quality

log = logging.getLogger(__name__)


def _audit_spec(cfg) -> AuditSpec:
    return cfg.audit or AuditSpec()


def _under_repo(path: Path) -> Path:
    return path if path.is_absolute() else REPO_ROOT / path


def _run_dir(spec: AuditSpec, day: date, run_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)[:120]
    return _under_repo(spec.report_dir) / day.isoformat() / safe


def audited_day(*, date_param: str | None, logical_date: datetime | None, now: datetime, tz: str) -> date:
    """The day to audit: the ``date`` param of a manual run, else the local day before the run's
    logical date (the 04:00 trigger time), else the local day before ``now``."""
    if date_param:
        try:
            return date.fromisoformat(str(date_param))
        except ValueError:
            raise InvalidInput("date", f"must be a day like 2026-11-01, got {date_param!r}") from None
    return previous_local_day(logical_date or now, tz)


# --------------------------------------------------------------------------------------------


def plan_audit(
    cfg: XopConfig,
    engine: Engine,
    *,
    run_id: str,
    date_param: str | None,
    now: datetime,
    logical_date: datetime | None,
) -> dict[str, Any]:
    """Audited day, systems to audit (with consent), and the ``audit_runs`` row (re-used on retry)."""
    spec = _audit_spec(cfg)
    day = audited_day(date_param=date_param, logical_date=logical_date, now=now, tz=spec.timezone)
    systems = [s.id for _, s in cfg.systems(monitored_only=True)]
    skipped = [s.id for c, s in cfg.systems() if not c.monitoring]
    with engine.begin() as conn:
        row = conn.execute(select(audit_runs.c.id).where(audit_runs.c.run_id == run_id)).first()
        values = {
            "audited_day": day,
            "timezone": spec.timezone,
            "started_at": now,
            "status": "running",
            "summary": {"systems": systems, "skipped_without_consent": skipped},
        }
        if row is None:
            audit_run_id = conn.execute(
                insert(audit_runs).values(run_id=run_id, **values)
            ).inserted_primary_key[0]
        else:
            audit_run_id = row.id
            conn.execute(update(audit_runs).where(audit_runs.c.id == audit_run_id).values(**values))
    log.info(
        "audit of %s (%s): systems %s; without consent, skipped: %s", day, spec.timezone, systems, skipped
    )
    return {
        "run_id": run_id,
        "audit_run_id": int(audit_run_id),
        "day": day.isoformat(),
        "tz": spec.timezone,
        "now": now.isoformat(),
        "systems": systems,
    }


# --------------------------------------------------------------------------------------------


def audit_system(
    cfg: XopConfig,
    ticket_db: Engine,
    service: TicketService,
    plan: Mapping[str, Any],
    system_id: str,
) -> dict[str, Any]:
    """Usage, health, backup and tickets of one system; returns a small summary for XCom."""
    spec = _audit_spec(cfg)
    customer, system = cfg.system(system_id)
    day = AuditDay.of(date.fromisoformat(plan["day"]), plan["tz"])
    now = datetime.fromisoformat(plan["now"])

    usage, usage_error = _usage(system, day)
    findings = run_health_checks(system.id, system.health_probes, day=day, now=now)
    backup, backup_finding = _backup(cfg, system, now, ticket_db)
    if backup_finding is not None:
        findings.append(backup_finding)

    tickets = _ticket_findings(service, customer.id, system, findings, now) if spec.open_tickets else {}
    _store_findings(ticket_db, plan["audit_run_id"], system.id, findings, tickets, now)

    with ticket_db.connect() as conn:  # the trunk check's figures of the last 14 days (issue 19)
        trunks = trunk_quality(conn, system.id, end=day.end, day_start=day.start)
    audit = SystemAudit(
        system=system.id,
        name=system.name,
        customer=customer.name,
        usage=usage,
        usage_error=usage_error,
        findings=findings,
        tickets=tickets,
        backup=backup,
        trunks=trunks,
    )
    path = _run_dir(spec, day.day, plan["run_id"]) / f"{system.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(system_audit_to_json(audit)))
    log.info(
        "%s: %s; %d finding(s) %s; backup %s",
        system.id,
        usage.summary() if usage else usage_error,
        len(audit.problems),
        [f"{f.probe}={f.severity}" for f in audit.problems],
        backup.summary,
    )
    return {"system": system.id, "light": audit.light, "result_file": str(path), "tickets": tickets}


def _usage(system, day: AuditDay):
    """Usage from the system's CDRs; an unreachable database is reported, not raised."""
    if system.cdr is None:
        return None, None
    if not system.db_conn_id:
        return None, f"system {system.id}: 'cdr' is mapped but 'db_conn_id' is not set"
    # A plain engine (not the ticket DB's): read-only, no write lock taken on a SQLite system DB.
    engine = create_engine(database_url(system.db_conn_id))
    try:
        return compute_usage(engine, system.cdr, day, system=system.id), None
    except SQLAlchemyError as exc:
        log.warning("usage of %s failed: %s", system.id, exc)
        return (
            None,
            f"CDR database {system.db_conn_id} could not be read: {getattr(exc, 'orig', None) or exc}",
        )
    finally:
        engine.dispose()


def _backup(cfg, system, now: datetime, ticket_db) -> tuple[BackupStatus, Finding | None]:
    """The backup issue's :func:`xop.backup.take_backup` plus retention; a failure is a finding."""
    if system.backup is None:
        return BackupStatus(None, "no backup configured"), None
    directory = backup_root(cfg, system)
    try:
        manifest = take_backup(
            system.backup, system=system.id, directory=directory, now=now, engine=ticket_db
        )
        pruned = apply_retention(
            directory, system=system.id, retention=system.backup.retention, now=now, engine=ticket_db
        )
    except BackupError as exc:
        summary = f"backup failed: {exc}"
        finding = Finding(system.id, "backup", "backup", "major", summary, str(exc.__cause__ or ""))
        return BackupStatus(False, summary), finding
    status = BackupStatus(
        manifest.verified,
        f"{manifest.path.name}, {manifest.size / 2**20:.1f} MiB, {len(manifest.row_counts)} tables",
        {
            "file": str(manifest.path),
            "sha256": manifest.sha256,
            "verified by": manifest.verify_method,
            "taken at": manifest.taken_at.isoformat(),
            "pruned by retention": str(len(pruned.deleted)),
        },
    )
    if not manifest.verified:
        return status, Finding(
            system.id, "backup", "backup", "major", "backup not verified", manifest.verify_method
        )
    return status, Finding(system.id, "backup", "backup", "ok", f"verified backup {manifest.path.name}")


def _ticket_findings(
    svc, customer_id: str, system, findings: Iterable[Finding], now: datetime
) -> dict[str, str]:
    """One ticket per (system, probe) while it is active: open or add a note for problems, a
    recovery note when a probe with an active ticket is clean again. Probe name -> ticket number."""
    by_probe: dict[str, list[Finding]] = {}
    for finding in findings:
        by_probe.setdefault(finding.probe, []).append(finding)
    tickets: dict[str, str] = {}
    for probe, results in by_probe.items():
        key = results[0].dedup_key
        problems = sorted((f for f in results if f.is_problem), key=lambda f: -SEVERITY_RANK[f.severity])
        if not problems:
            recovered = svc.report_recovery(
                dedup_key=key, body=f"Daily audit: {probe} is healthy again ({results[0].summary}).", now=now
            )
            if recovered is not None:
                tickets[probe] = recovered.number
            continue
        description = "\n\n".join(
            f"{f.severity.upper()}: {f.summary}" + (f"\n{f.evidence}" if f.evidence else "") for f in problems
        )
        ticket, created = svc.report_problem(
            dedup_key=key,
            customer=customer_id,
            system=system.id,
            subject=f"{system.name}: {problems[0].summary}"[:200],
            description=f"Found by the daily audit (probe {probe}, {problems[0].kind}).\n\n{description}",
            urgency=problems[0].severity,
            now=now,
        )
        tickets[probe] = ticket.number
        log.info("%s %s for %s", "opened" if created else "noted on", ticket.number, key)
    return tickets


def _store_findings(
    engine, audit_run_id: int, system: str, findings: list[Finding], tickets: Mapping[str, str], now: datetime
) -> None:
    with engine.begin() as conn:
        # A retried task replaces what its earlier attempt stored.
        conn.execute(
            delete(health_findings).where(
                health_findings.c.run_id == audit_run_id, health_findings.c.system == system
            )
        )
        if findings:
            conn.execute(
                insert(health_findings),
                [
                    {
                        "run_id": audit_run_id,
                        "system": f.system,
                        "probe": f.probe,
                        "kind": f.kind,
                        "severity": f.severity,
                        "summary": f.summary,
                        "evidence": f.evidence,
                        "found_at": now,
                        "ticket_number": tickets.get(f.probe) if f.is_problem else None,
                    }
                    for f in findings
                ],
            )


# --------------------------------------------------------------------------------------------


def send_report(
    cfg: XopConfig,
    ticket_db: Engine,
    plan: Mapping[str, Any],
    results: Iterable[Mapping[str, Any] | None],
) -> dict[str, Any]:
    """Render, save and record the report; queue one email per recipient (idempotent per run)."""
    spec = _audit_spec(cfg)
    day = AuditDay.of(date.fromisoformat(plan["day"]), plan["tz"])
    now = datetime.fromisoformat(plan["now"])
    done = {r["system"]: r for r in results if r}
    systems: list[SystemAudit] = []
    for system_id in plan["systems"]:
        if system_id in done:
            systems.append(
                system_audit_from_json(json.loads(Path(done[system_id]["result_file"]).read_text()))
            )
        else:  # its mapped task failed after its retries: say so in the report, in red
            customer, system = cfg.system(system_id)
            systems.append(
                SystemAudit(
                    system_id, system.name, customer.name, usage_error="the audit of this system failed"
                )
            )

    report = render_report(
        day,
        systems,
        generated_at=now,
        subject_prefix=spec.subject_prefix,
        link=lambda number: staff_ticket_url(cfg, number),  # internal recipients: never signed
    )
    path = save_report(report, _run_dir(spec, day.day, plan["run_id"]), f"audit-{day.day.isoformat()}")
    recipients = list(spec.recipients or cfg.support.internal_recipients)
    if not recipients:
        raise ConfigError(
            "audit.recipients and support.internal_recipients are both empty: nobody gets the report"
        )
    attachments = [Attachment(c.filename, c.content, "text/csv") for c in report.csv_files]
    images = [InlineImage(i.cid, i.png, "image/png", f"{i.cid.split('@')[0]}.png") for i in report.images]
    with ticket_db.begin() as conn:
        queued = enqueue_rendered(
            conn,
            kind="audit_report",
            audience="internal",
            recipients=[(r, f"audit:{plan['run_id']}:{r}") for r in recipients],
            subject=report.subject,
            text=report.text,
            html=report.html_email,
            now=now,
            attachments=attachments,
            inline_images=images,
        )
        failed = [s.system for s in systems if s.usage_error == "the audit of this system failed"]
        conn.execute(
            update(audit_runs)
            .where(audit_runs.c.id == plan["audit_run_id"])
            .values(
                report_path=str(path),
                finished_at=now,
                status="failed" if failed else "succeeded",
                summary={"subject": report.subject, "systems": [s.summary() for s in systems]},
            )
        )
    log.info("report %s saved to %s; %d email(s) queued for %s", report.subject, path, queued, recipients)
    return {"report_path": str(path), "subject": report.subject, "queued": queued, "recipients": recipients}


__all__ = ["audit_system", "audited_day", "plan_audit", "send_report"]

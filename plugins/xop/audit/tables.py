"""The audit's tables on the shared :data:`xop.db.meta.metadata`.

``audit_runs``: one row per DAG run (the whole audit of all systems), keyed by the Airflow
run id so a retry or re-run updates its row instead of adding one. ``health_findings``: what
the probes found in that run, each with the ticket it opened or updated, if any.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from xop.db.meta import metadata
from xop.db.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")

RUN_STATUSES = ("running", "succeeded", "failed")
FINDING_SEVERITIES = ("critical", "major", "minor", "ok")

audit_runs = Table(
    "audit_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(250), nullable=False, unique=True),
    Column("audited_day", Date, nullable=False),
    Column("timezone", String(64), nullable=False, server_default="America/Chicago"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("report_path", Text),
    # Per system: usage figures, worst severity, backup result (what the report's top shows).
    Column("summary", JSON, nullable=False),
    CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status_known"),
)
Index("ix_audit_runs_audited_day", audit_runs.c.audited_day)

health_findings = Table(
    "health_findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, ForeignKey("audit_runs.id", ondelete="CASCADE"), nullable=False),
    Column("system", String(64), nullable=False),
    Column("probe", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", Text, nullable=False, server_default=""),
    Column("found_at", UTCDateTime, nullable=False),
    Column("ticket_number", String(16)),
    CheckConstraint(f"severity IN {FINDING_SEVERITIES!r}", name="severity_known"),
)
Index("ix_health_findings_run_id", health_findings.c.run_id)
Index("ix_health_findings_system_probe", health_findings.c.system, health_findings.c.probe)

__all__ = ["FINDING_SEVERITIES", "RUN_STATUSES", "audit_runs", "health_findings"]

"""The pipeline's metrics, sent through Airflow's own metrics (StatsD or OpenTelemetry, as
Airflow's ``[metrics]`` section configures; nothing is sent when both are off).

Every name starts with ``xop.`` and is listed in :data:`METRICS` (``docs/metrics.md`` is the
same list for people). Dimensions (level, urgency, clock, severity, trunk...) are the last parts
of the name, so a plain StatsD server sees them too; names are made of ``[a-z0-9_.-]``.
The tasks call the ``after_*`` functions with what they just did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.observability import stats
from sqlalchemy import Engine, and_, func, select

from xop.notify.tables import notifications
from xop.tickets.tables import ticket_clocks, tickets

#: name (with ``<dimension>`` placeholders) → (kind, meaning)
METRICS: dict[str, tuple[str, str]] = {
    "xop.tickets.open.<level>.<urgency>": (
        "gauge",
        "open tickets (not resolved/closed) by level (l1..l4) and urgency",
    ),
    "xop.sla.warned.<clock>": ("gauge", "running clocks past their warning threshold, not yet breached"),
    "xop.sla.breached.<clock>": ("gauge", "running clocks past their due time"),
    "xop.sweep.warnings": ("counter", "SLA warnings the sweep sent"),
    "xop.sweep.breaches": ("counter", "SLA breaches the sweep recorded"),
    "xop.sweep.escalations": ("counter", "automatic escalations the sweep made"),
    "xop.sweep.duration": ("timer", "one sweep, milliseconds"),
    "xop.outbox.sent": ("counter", "emails delivered"),
    "xop.outbox.retried": ("counter", "emails rescheduled after a transient SMTP failure"),
    "xop.outbox.failed": ("counter", "emails given up (permanent error or attempts used up)"),
    "xop.outbox.pending": ("gauge", "emails waiting in the outbox"),
    "xop.outbox.oldest_pending_age": ("gauge", "age of the oldest pending email, seconds"),
    "xop.trunk.check.ok.<kind>": ("counter", "trunk checks that passed, by kind (options, call, pri)"),
    "xop.trunk.check.failed.<kind>": ("counter", "trunk checks that failed, by kind"),
    "xop.trunk.rtt.<trunk>": (
        "timer",
        "round trip of a trunk's OPTIONS (or the call's RTP echo), milliseconds",
    ),
    "xop.trunk.mos.<trunk>": ("gauge", "estimated MOS of the trunk's test call (ITU-T G.107 E-model)"),
    "xop.trunk.jitter.<trunk>": ("gauge", "interarrival jitter of the test call's RTP (RFC 3550), ms"),
    "xop.trunk.loss.<trunk>": ("gauge", "RTP packets of the test call lost, percent"),
    "xop.audit.findings.<severity>": ("counter", "audit findings by severity (ok, minor, major, critical)"),
    "xop.backup.size.<system>": ("gauge", "size of the system's newest backup, bytes"),
    "xop.backup.duration.<system>": ("timer", "time the newest backup took, milliseconds"),
    "xop.publication.bytes": ("counter", "bytes uploaded to the FTP site"),
    "xop.publication.throughput": ("gauge", "upload throughput of the last publication, bytes per second"),
    "xop.deadline.missed.<dag>": ("counter", "missed pipeline deadlines, by DAG"),
}

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def part(value: Any) -> str:
    """One name part: lower case, anything else than ``[a-z0-9_-]`` becomes ``_``."""
    return _UNSAFE.sub("_", str(value).lower()).strip("_") or "none"


def name(*parts: Any) -> str:
    return ".".join(["xop", *(part(p) for p in parts)])


def incr(metric: str, count: int = 1) -> None:
    if count:
        stats.incr(metric, count)


def gauge(metric: str, value: float) -> None:
    stats.gauge(metric, value)


def timing(metric: str, milliseconds: float) -> None:
    stats.timing(metric, milliseconds)


# -- what the tasks report -----------------------------------------------------------------------


def after_sweep(engine: Engine, sweep_stats: Any, *, now: datetime) -> None:
    incr(name("sweep", "warnings"), sweep_stats.warnings)
    incr(name("sweep", "breaches"), sweep_stats.breaches)
    incr(name("sweep", "escalations"), sweep_stats.escalations)
    timing(name("sweep", "duration"), sweep_stats.seconds * 1000)
    ticket_gauges(engine, now=now)


def ticket_gauges(engine: Engine, *, now: datetime) -> None:
    """Open tickets by level and urgency; warned and breached running clocks per clock."""
    open_states = ~tickets.c.state.in_(("resolved", "closed"))
    running = and_(ticket_clocks.c.met_at.is_(None), ticket_clocks.c.paused_at.is_(None))
    with engine.connect() as conn:
        by_level = conn.execute(
            select(tickets.c.level, tickets.c.urgency, func.count())
            .where(open_states)
            .group_by(tickets.c.level, tickets.c.urgency)
        ).all()
        breached = conn.execute(
            select(ticket_clocks.c.name, func.count())
            .where(running, ticket_clocks.c.due_at <= now)
            .group_by(ticket_clocks.c.name)
        ).all()
        warned = conn.execute(
            select(ticket_clocks.c.name, func.count())
            .where(running, ticket_clocks.c.warned_fraction > 0, ticket_clocks.c.due_at > now)
            .group_by(ticket_clocks.c.name)
        ).all()
    for level, urgency, count in by_level:
        gauge(name("tickets", "open", f"l{level}", urgency or "unclassified"), count)
    for clock, count in breached:
        gauge(name("sla", "breached", clock), count)
    for clock, count in warned:
        gauge(name("sla", "warned", clock), count)


def after_delivery(engine: Engine, delivery: Any, *, now: datetime) -> None:
    incr(name("outbox", "sent"), delivery.sent)
    incr(name("outbox", "retried"), delivery.retried)
    incr(name("outbox", "failed"), delivery.failed)
    with engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(notifications.c.created_at)).where(
                notifications.c.status == "pending"
            )
        ).one()
    gauge(name("outbox", "pending"), pending)
    age = 0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds())
    gauge(name("outbox", "oldest_pending_age"), age)


def after_trunk_checks(results: Iterable[Mapping[str, Any]]) -> None:
    for r in results:
        incr(name("trunk", "check", "ok" if r.get("ok") else "failed", r.get("kind")))
        if r.get("rtt_ms") is not None:
            timing(name("trunk", "rtt", r.get("trunk")), float(r["rtt_ms"]))
        # Call quality, from the test call's RTP (only calls measure it).
        for key, metric in (("mos", "mos"), ("jitter_ms", "jitter"), ("loss_pct", "loss")):
            if r.get(key) is not None:
                gauge(name("trunk", metric, r.get("trunk")), float(r[key]))


def after_audit(findings_by_severity: Mapping[str, int], *, system: str, backup: Any = None) -> None:
    for severity, count in findings_by_severity.items():
        incr(name("audit", "findings", severity), count)
    if backup is not None:
        gauge(name("backup", "size", system), backup.size)
        timing(name("backup", "duration", system), backup.duration_seconds * 1000)


def after_publication(uploaded_bytes: int, seconds: float) -> None:
    incr(name("publication", "bytes"), uploaded_bytes)
    if uploaded_bytes and seconds > 0:
        gauge(name("publication", "throughput"), uploaded_bytes / seconds)


def deadline_missed(dag_id: str) -> None:
    incr(name("deadline", "missed", dag_id))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

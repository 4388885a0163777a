"""Run a system's health probes and collect their findings.

Probes on the same host share one runner (one SSH session). A probe that cannot run (host
unreachable, command failing) is itself a finding with the probe's main impact: the audit of
the other probes and systems goes on. Programming errors are not caught.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from xop.audit.days import AuditDay
from xop.audit.findings import Finding, problem
from xop.audit.hosts import CommandRunner, runner_for
from xop.audit.probes_host import (
    probe_clamav,
    probe_disk,
    probe_failed_logins,
    probe_file_integrity,
    probe_listening_ports,
)
from xop.audit.probes_network import probe_clock, probe_database, probe_http, probe_tcp
from xop.core.errors import ProbeError
from xop.core.specs.audit import HealthProbeSpec, check_probe_names

ProbeFn = Callable[[str, HealthProbeSpec, CommandRunner, datetime], list[Finding]]


def _probe_fn(spec: HealthProbeSpec, day: AuditDay) -> ProbeFn:
    table: dict[str, ProbeFn] = {
        "tcp": probe_tcp,  # type: ignore[dict-item]
        "http": probe_http,  # type: ignore[dict-item]
        "disk": probe_disk,  # type: ignore[dict-item]
        "database": probe_database,  # type: ignore[dict-item]
        "clock": probe_clock,  # type: ignore[dict-item]
        "listening_ports": probe_listening_ports,  # type: ignore[dict-item]
        "file_integrity": probe_file_integrity,  # type: ignore[dict-item]
        "clamav": probe_clamav,  # type: ignore[dict-item]
    }
    if spec.kind == "failed_logins":
        return lambda system, s, runner, now: probe_failed_logins(system, s, runner, day, now)  # type: ignore[arg-type]
    return table[spec.kind]


def run_probe(
    system: str, spec: HealthProbeSpec, runner: CommandRunner, *, day: AuditDay, now: datetime
) -> list[Finding]:
    """One probe; a :class:`ProbeError` becomes a finding saying the check could not run."""
    try:
        return _probe_fn(spec, day)(system, spec, runner, now)
    except ProbeError as exc:
        return [
            problem(system, spec, spec.impact, f"{spec.kind} check could not run on {runner.where}", str(exc))
        ]


def run_health_checks(
    system: str,
    probes: Sequence[HealthProbeSpec],
    *,
    day: AuditDay,
    now: datetime,
    runner_factory: Callable[[str | None], CommandRunner] | None = None,
) -> list[Finding]:
    """All probes of ``system``; findings in probe order. ``now`` is aware UTC."""
    check_probe_names(list(probes))
    factory = runner_factory or partial(runner_for, timeout=15)
    runners: dict[str | None, CommandRunner] = {}
    findings: list[Finding] = []
    try:
        for spec in probes:
            if spec.ssh_conn_id not in runners:
                runners[spec.ssh_conn_id] = factory(spec.ssh_conn_id)
            findings.extend(run_probe(system, spec, runners[spec.ssh_conn_id], day=day, now=now))
    finally:
        for runner in runners.values():
            runner.close()
    return findings


__all__ = ["run_health_checks", "run_probe"]

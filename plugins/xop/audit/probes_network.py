"""Probes of services: TCP, HTTP, the system database (and its replication), the clock."""

from __future__ import annotations

import time
from datetime import datetime

from xop.audit.findings import Finding, passed, problem
from xop.audit.hosts import CommandRunner, HostUnreachable, LocalRunner
from xop.connections.sysdb import PgServer
from xop.core.errors import BackupError, ConfigError, ProbeError
from xop.core.specs.audit import ClockProbe, DatabaseProbe, HttpProbe, TcpProbe


def probe_tcp(system: str, spec: TcpProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    try:
        seconds = runner.tcp_connect(spec.host, spec.port, timeout=spec.timeout_s)
    except HostUnreachable:
        raise
    except ProbeError as exc:
        return [
            problem(
                system, spec, spec.impact, f"{spec.host}:{spec.port} does not accept connections", str(exc)
            )
        ]
    return [passed(system, spec, f"{spec.host}:{spec.port} accepts connections ({seconds * 1000:.0f} ms)")]


def probe_http(system: str, spec: HttpProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    try:
        status, body = _http_get(spec, runner)
    except HostUnreachable:
        raise
    except ProbeError as exc:
        return [problem(system, spec, spec.impact, f"{spec.url} unreachable", str(exc))]
    if status != spec.expect_status:
        return [
            problem(system, spec, spec.impact, f"{spec.url} answered {status}, expected {spec.expect_status}")
        ]
    if spec.expect_text and spec.expect_text not in body:
        return [
            problem(
                system, spec, spec.impact, f"{spec.url} answered without {spec.expect_text!r}", body[:500]
            )
        ]
    return [passed(system, spec, f"{spec.url} answered {status}")]


def _http_get(spec: HttpProbe, runner: CommandRunner) -> tuple[int, str]:
    if isinstance(runner, LocalRunner):
        import httpx

        try:
            response = httpx.get(
                spec.url, timeout=spec.timeout_s, verify=spec.verify_tls, follow_redirects=True
            )
        except httpx.HTTPError as exc:
            raise ProbeError(f"GET {spec.url}: {exc!r}") from exc
        return response.status_code, response.text
    argv = ["curl", "-sS", "-L", "--max-time", f"{spec.timeout_s:g}", "-w", "\n%{http_code}"]
    if not spec.verify_tls:
        argv.append("-k")
    result = runner.run([*argv, spec.url], timeout=spec.timeout_s + 5)
    if not result.ok:
        raise ProbeError(f"curl {spec.url} on {runner.where}: {result.stderr.strip() or result.returncode}")
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


# --------------------------------------------------------------------------------------------
# Database


def _pg_connection(conn_id: str, timeout_s: float):
    """A psycopg connection through the Airflow connection (no schema: the ``postgres`` database).

    ``connect_timeout`` in the connection's extra wins over the probe's timeout.
    """
    try:
        server = PgServer.from_connection(conn_id, default_database="postgres")
        return server.connect(timeout=timeout_s)
    except (BackupError, ConfigError) as exc:  # refused, timed out, unknown connection alike
        raise ProbeError(f"database {conn_id!r}: {exc}".strip()) from exc


def probe_database(system: str, spec: DatabaseProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    try:
        conn = _pg_connection(spec.conn_id, spec.timeout_s)
    except ProbeError as exc:
        return [problem(system, spec, spec.impact, f"database {spec.conn_id} unreachable", str(exc))]
    with conn:
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        if spec.role == "standalone":
            return [passed(system, spec, f"database {spec.conn_id} answers", f"in_recovery={in_recovery}")]
        if spec.role == "primary":
            return _check_primary(system, spec, conn, in_recovery)
        return _check_standby(system, spec, conn, in_recovery)


def _check_primary(system: str, spec: DatabaseProbe, conn, in_recovery: bool) -> list[Finding]:
    if in_recovery:
        return [
            problem(system, spec, spec.replication_impact, "expected a primary, the database is in recovery")
        ]
    rows = conn.execute(
        "SELECT application_name, client_addr::text, state, COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)"
        " FROM pg_stat_replication"
    ).fetchall()
    evidence = (
        "\n".join(f"{r[0]} {r[1]} {r[2]} lag={float(r[3]):.1f}s" for r in rows)
        or "pg_stat_replication: empty"
    )
    streaming = [r for r in rows if r[2] == "streaming"]
    findings = []
    if len(streaming) < spec.min_standbys:
        findings.append(
            problem(
                system,
                spec,
                spec.replication_impact,
                f"replication lost: {len(streaming)} streaming standby(s), "
                f"expected at least {spec.min_standbys}",
                evidence,
            )
        )
    lagging = [r for r in streaming if float(r[3]) > spec.max_lag_s]
    if lagging:
        findings.append(
            problem(
                system,
                spec,
                spec.replication_impact,
                f"replication lag over {spec.max_lag_s:g} s on {', '.join(r[0] or r[1] for r in lagging)}",
                evidence,
            )
        )
    return findings or [passed(system, spec, f"primary with {len(streaming)} streaming standby(s)", evidence)]


def _check_standby(system: str, spec: DatabaseProbe, conn, in_recovery: bool) -> list[Finding]:
    if not in_recovery:
        return [
            problem(
                system, spec, spec.replication_impact, "expected a standby, the database is not in recovery"
            )
        ]
    receiver = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    lag = conn.execute(
        "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
    ).fetchone()[0]
    evidence = f"wal_receiver={receiver[0] if receiver else 'none'} replay_lag={lag}"
    if not receiver or receiver[0] != "streaming":
        return [
            problem(
                system,
                spec,
                spec.replication_impact,
                "replication lost: WAL receiver not streaming",
                evidence,
            )
        ]
    if lag is not None and float(lag) > spec.max_lag_s:
        return [problem(system, spec, spec.replication_impact, f"replay lag {float(lag):.0f} s", evidence)]
    return [passed(system, spec, "standby streaming", evidence)]


# --------------------------------------------------------------------------------------------
# Clock


def probe_clock(system: str, spec: ClockProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    """Offset of the host's clock from the reference: (host - here) - (reference - here)."""
    try:
        host_minus_here = _host_minus_here(spec, runner)
        reference_minus_here, reference = _reference_minus_here(spec)
    except HostUnreachable:
        raise
    except ProbeError as exc:
        return [problem(system, spec, spec.impact, "clock offset could not be measured", str(exc))]
    offset = host_minus_here - reference_minus_here
    evidence = f"offset {offset:+.3f} s against {reference} (limit {spec.max_offset_s:g} s)"
    if abs(offset) > spec.max_offset_s:
        return [problem(system, spec, spec.impact, f"clock is off by {offset:+.1f} s", evidence)]
    return [passed(system, spec, f"clock within {spec.max_offset_s:g} s", evidence)]


def _host_minus_here(spec: ClockProbe, runner: CommandRunner) -> float:
    if isinstance(runner, LocalRunner) and spec.time_command == ("date", "+%s.%N"):
        return 0.0
    before = time.time()
    result = runner.run(spec.time_command, timeout=spec.timeout_s)
    after = time.time()
    if not result.ok:
        raise ProbeError(f"{' '.join(spec.time_command)} on {runner.where}: {result.stderr.strip()}")
    try:
        host = float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise ProbeError(f"time command printed {result.stdout[:80]!r}, not Unix seconds") from exc
    return host - (before + after) / 2


def _reference_minus_here(spec: ClockProbe) -> tuple[float, str]:
    if spec.reference == "ntp":
        import ntplib

        host, _, port = (spec.ntp_server or "").partition(":")
        try:
            response = ntplib.NTPClient().request(
                host, port=int(port or 123), version=4, timeout=spec.timeout_s
            )
        except (ntplib.NTPException, OSError) as exc:
            raise ProbeError(f"NTP {spec.ntp_server}: {exc}") from exc
        return response.offset, f"NTP {spec.ntp_server}"
    conn = _pg_connection(spec.conn_id or "", spec.timeout_s)
    with conn:
        before = time.time()
        db_now = float(conn.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()[0])
        after = time.time()
    return db_now - (before + after) / 2, f"database {spec.conn_id}"


__all__ = ["probe_clock", "probe_database", "probe_http", "probe_tcp"]

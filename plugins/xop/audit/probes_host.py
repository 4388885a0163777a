"""Probes of a host, written as commands so they run the same locally and over SSH:
disk usage, failed logins, listening ports, file integrity, ClamAV."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from xop.audit.days import AuditDay
from xop.audit.findings import Finding, passed, problem, severe
from xop.audit.hosts import CommandRunner
from xop.core.errors import ProbeError
from xop.core.specs.audit import (
    ClamavProbe,
    DiskProbe,
    FailedLoginsProbe,
    FileIntegrityProbe,
    ListeningPortsProbe,
)

# --------------------------------------------------------------------------------------------
# Disk


def probe_disk(system: str, spec: DiskProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    result = runner.run(["df", "-P", "-k", spec.path], timeout=spec.timeout_s)
    lines = result.stdout.strip().splitlines()
    if not result.ok or len(lines) < 2:
        raise ProbeError(
            f"df {spec.path} on {runner.where}: {result.stderr.strip() or result.stdout.strip()}"
        )
    fields = lines[-1].split()
    used_kb, avail_kb = int(fields[2]), int(fields[3])
    # df's own rounding: used / (used + available), reserved blocks excluded.
    percent = 100.0 * used_kb / (used_kb + avail_kb) if used_kb + avail_kb else 100.0
    text = f"{spec.path} is {percent:.1f}% full ({avail_kb / 1024:.1f} MiB free)"
    evidence = "\n".join(lines)
    for severity, limit in (
        ("critical", spec.critical_percent),
        ("major", spec.major_percent),
        ("minor", spec.minor_percent),
    ):
        if limit is not None and percent >= limit:
            return [severe(system, spec, severity, f"{text}, limit {limit:g}%", evidence)]  # type: ignore[arg-type]
    return [passed(system, spec, text, evidence)]


# --------------------------------------------------------------------------------------------
# Failed logins

_FAILED_LOGIN = re.compile(
    r"Failed password|Failed publickey|Invalid user|authentication failure|Failed keyboard-interactive"
)
_GREP_PATTERN = (
    "Failed password|Failed publickey|Invalid user|authentication failure|Failed keyboard-interactive"
)
_ISO_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
_SYSLOG_STAMP = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d)")


def parse_log_time(line: str, *, zone: str, near: datetime) -> datetime | None:
    """Timestamp of a log line: RFC 3339 (rsyslog, journalctl -o short-iso) or classic syslog
    (``Nov 26 01:30:00``, no year and no zone: read in ``zone``, year nearest to ``near``)."""
    if match := _ISO_STAMP.match(line):
        stamp = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=ZoneInfo(zone))
    if match := _SYSLOG_STAMP.match(line):
        month, day, clock = match.groups()
        local_near = near.astimezone(ZoneInfo(zone))
        candidates = []
        for year in (local_near.year - 1, local_near.year, local_near.year + 1):
            try:
                naive = datetime.strptime(f"{year} {month} {day} {clock}", "%Y %b %d %H:%M:%S")
            except ValueError:  # 29 Feb of a common year
                continue
            candidates.append(naive.replace(tzinfo=ZoneInfo(zone)))
        return min(candidates, key=lambda c: abs(c - near)) if candidates else None
    return None


def probe_failed_logins(
    system: str, spec: FailedLoginsProbe, runner: CommandRunner, day: AuditDay, now: datetime
) -> list[Finding]:
    """Failed logins in the audited day (the window the report covers)."""
    if spec.source == "journal":
        argv = [
            "journalctl",
            "--quiet",
            "--no-pager",
            "--output=short-iso",
            f"--unit={spec.unit}",
            f"--since=@{int(day.start_epoch)}",
            f"--until=@{int(day.end_epoch)}",
            f"--grep={_GREP_PATTERN}",
        ]
    else:
        argv = ["grep", "-a", "-E", _GREP_PATTERN, spec.log_path]
    result = runner.run(argv, timeout=spec.timeout_s)
    # grep and journalctl --grep exit 1 when nothing matched: that is a clean log, not an error.
    if result.returncode not in (0, 1) or (result.returncode == 1 and result.stderr.strip()):
        raise ProbeError(f"{argv[0]} on {runner.where}: {result.stderr.strip() or result.returncode}")
    failures = []
    for line in result.stdout.splitlines():
        if not _FAILED_LOGIN.search(line):
            continue
        stamp = parse_log_time(line, zone=spec.log_timezone, near=day.end)
        if stamp is not None and day.start <= stamp < day.end:
            failures.append(line)
    source = spec.log_path if spec.source == "auth_log" else f"journal unit {spec.unit}"
    text = f"{len(failures)} failed login(s) on {day.day.isoformat()} in {source}"
    evidence = "\n".join(failures[-20:])
    if len(failures) > spec.max_failures:
        return [problem(system, spec, spec.impact, f"{text} (limit {spec.max_failures})", evidence)]
    return [passed(system, spec, text, evidence)]


# --------------------------------------------------------------------------------------------
# Listening ports

_TCP_LISTEN = "0A"


def listening_tcp_ports(proc_net_tcp: str) -> set[int]:
    """Ports in state LISTEN in ``/proc/net/tcp`` + ``tcp6`` text (no ``ss`` needed)."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == _TCP_LISTEN and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def probe_listening_ports(
    system: str, spec: ListeningPortsProbe, runner: CommandRunner, now: datetime
) -> list[Finding]:
    result = runner.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=spec.timeout_s)
    if not result.stdout.strip():
        raise ProbeError(f"cannot read /proc/net/tcp on {runner.where}: {result.stderr.strip()}")
    listening = listening_tcp_ports(result.stdout)
    evidence = f"listening TCP ports: {sorted(listening)}"
    findings = []
    missing = [p for p in spec.expected if p not in listening]
    if missing:
        findings.append(
            problem(system, spec, spec.impact, f"expected port(s) not listening: {missing}", evidence)
        )
    if spec.report_unexpected:
        unexpected = sorted(listening - set(spec.expected) - set(spec.allowed))
        if unexpected:
            findings.append(
                problem(
                    system,
                    spec,
                    spec.unexpected_impact,
                    f"port(s) outside the baseline: {unexpected}",
                    evidence,
                )
            )
    return findings or [passed(system, spec, f"listening on {list(spec.expected)} as expected", evidence)]


# --------------------------------------------------------------------------------------------
# File integrity

_SHA256_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def read_baseline(path: Path) -> dict[str, str]:
    """``sha256sum`` output: path -> hex digest."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProbeError(f"file-integrity baseline {path}: {exc.strerror}") from exc
    baseline = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _SHA256_LINE.match(line)
        if not match:
            raise ProbeError(f"{path}:{number}: not a sha256sum line: {line[:80]!r}")
        baseline[match.group(2)] = match.group(1)
    if not baseline:
        raise ProbeError(f"file-integrity baseline {path} lists no files")
    return baseline


def hash_files(runner: CommandRunner, paths: list[str], *, timeout: float) -> tuple[dict[str, str], str]:
    """sha256 of each path where the runner runs; unreadable files are left out (stderr says why)."""
    result = runner.run(["sha256sum", "--", *paths], timeout=timeout)
    hashes = {}
    for line in result.stdout.splitlines():
        if match := _SHA256_LINE.match(line):
            hashes[match.group(2)] = match.group(1)
    return hashes, result.stderr


def write_baseline(
    runner: CommandRunner, paths: list[str], baseline_file: Path, *, timeout: float = 60
) -> int:
    """Record the current sha256 of ``paths`` (as hashed on the runner's host); files written."""
    hashes, errors = hash_files(runner, paths, timeout=timeout)
    missing = [p for p in paths if p not in hashes]
    if missing:
        raise ProbeError(f"cannot hash {missing} on {runner.where}: {errors.strip()}")
    baseline_file.parent.mkdir(parents=True, exist_ok=True)
    baseline_file.write_text("".join(f"{hashes[p]}  {p}\n" for p in paths))
    return len(paths)


def probe_file_integrity(
    system: str, spec: FileIntegrityProbe, runner: CommandRunner, now: datetime
) -> list[Finding]:
    baseline = read_baseline(spec.baseline_file)
    hashes, errors = hash_files(runner, list(baseline), timeout=spec.timeout_s)
    changed = [p for p, digest in baseline.items() if p in hashes and hashes[p] != digest]
    missing = [p for p in baseline if p not in hashes]
    if changed or missing:
        parts = []
        if changed:
            parts.append(f"changed: {', '.join(changed)}")
        if missing:
            parts.append(f"missing or unreadable: {', '.join(missing)}")
        evidence = "\n".join(
            [f"{p}: expected {baseline[p]}, found {hashes[p]}" for p in changed]
            + ([errors.strip()] if missing else [])
        )
        return [
            problem(
                system, spec, spec.impact, f"files differ from the baseline ({'; '.join(parts)})", evidence
            )
        ]
    return [passed(system, spec, f"{len(baseline)} file(s) match the baseline")]


# --------------------------------------------------------------------------------------------
# ClamAV

# "ClamAV 1.4.6/27470/Tue Nov 25 08:17:00 2026": engine / daily signature version / its date.
_CLAM_VERSION = re.compile(r"ClamAV (?P<engine>[\w.-]+)(?:/(?P<daily>\d+)/(?P<date>.+))?")


def probe_clamav(system: str, spec: ClamavProbe, runner: CommandRunner, now: datetime) -> list[Finding]:
    database = [f"--database={spec.database_dir}"] if spec.database_dir else []
    version = runner.run([spec.clamscan, *database, "--version"], timeout=60)
    if version.returncode == 127 or "not found" in version.stderr:
        return [
            problem(system, spec, spec.absent_impact, f"ClamAV is not installed ({spec.clamscan} not found)")
        ]
    match = _CLAM_VERSION.search(version.stdout)
    if not version.ok or not match:
        raise ProbeError(f"{spec.clamscan} --version on {runner.where}: {version.stdout or version.stderr}")
    findings = []
    signature_date = _signature_date(match.group("date"))
    if signature_date is None:
        findings.append(
            problem(
                system,
                spec,
                spec.signature_impact,
                "ClamAV has no official signatures (daily database missing); run freshclam",
                version.stdout,
            )
        )
    elif now - signature_date > timedelta(days=spec.max_signature_age_days):
        age = (now - signature_date).total_seconds() / 86400
        findings.append(
            problem(
                system,
                spec,
                spec.signature_impact,
                f"ClamAV signatures are {age:.1f} days old (limit {spec.max_signature_age_days:g})",
                version.stdout,
            )
        )
    scan = runner.run(
        [spec.clamscan, *database, "--recursive", "--infected", "--no-summary", "--stdout", *spec.paths],
        timeout=spec.timeout_s,
    )
    if scan.returncode == 1:
        infected = [line for line in scan.stdout.splitlines() if line.endswith("FOUND")]
        findings.append(
            problem(system, spec, spec.impact, f"ClamAV found {len(infected)} infected file(s)", scan.stdout)
        )
    elif scan.returncode != 0 and signature_date is not None:
        findings.append(
            problem(system, spec, spec.signature_impact, "ClamAV scan failed", scan.stderr or scan.stdout)
        )
    scanned = ", ".join(spec.paths)
    return findings or [passed(system, spec, f"no virus found in {scanned}", version.stdout)]


def _signature_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


__all__ = [
    "hash_files",
    "listening_tcp_ports",
    "parse_log_time",
    "probe_clamav",
    "probe_disk",
    "probe_failed_logins",
    "probe_file_integrity",
    "probe_listening_ports",
    "read_baseline",
    "write_baseline",
]

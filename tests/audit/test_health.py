"""Health probes against real things: ports, sshd on loopback, a full tmpfs, files, PostgreSQL,
ClamAV (Debian package, no signatures downloaded), an HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import paramiko
import pytest
from pydantic import TypeAdapter, ValidationError

from xop.audit.days import AuditDay
from xop.audit.findings import worst
from xop.audit.health import run_health_checks
from xop.audit.hosts import LocalRunner
from xop.audit.probes_host import parse_log_time, write_baseline
from xop.core.specs.audit import HealthProbeSpec

PROBE = TypeAdapter(HealthProbeSpec)
NOW = datetime.now(UTC)
TODAY = AuditDay.of(NOW.astimezone(ZoneInfo("America/Chicago")).date())


def check(*probes: dict, day: AuditDay = TODAY):
    specs = [PROBE.validate_python(p) for p in probes]
    return run_health_checks("acme-conf1", specs, day=day, now=NOW)


def test_tcp_open_and_closed_locally_and_over_ssh(listening_port: int, closed_port: int, sshd) -> None:
    found = check(
        {"kind": "tcp", "name": "open", "host": "127.0.0.1", "port": listening_port},
        {"kind": "tcp", "name": "closed", "host": "127.0.0.1", "port": closed_port},
        {
            "kind": "tcp",
            "name": "open-ssh",
            "host": "127.0.0.1",
            "port": listening_port,
            "ssh_conn_id": sshd.conn_id,
        },
        {
            "kind": "tcp",
            "name": "closed-ssh",
            "host": "127.0.0.1",
            "port": closed_port,
            "ssh_conn_id": sshd.conn_id,
        },
    )
    by_name = {f.probe: f for f in found}
    assert by_name["open"].severity == "ok" and by_name["open-ssh"].severity == "ok"
    # A service that does not answer is service affecting: critical.
    assert by_name["closed"].severity == "critical" and by_name["closed-ssh"].severity == "critical"
    assert "does not accept connections" in by_name["closed-ssh"].summary
    assert by_name["closed"].dedup_key == "health:acme-conf1:closed"


def test_listening_ports_against_baseline(listening_port: int, closed_port: int, sshd) -> None:
    ok, missing, unexpected = check(
        {"kind": "listening_ports", "name": "a", "expected": [listening_port], "report_unexpected": False},
        {
            "kind": "listening_ports",
            "name": "b",
            "expected": [closed_port],
            "report_unexpected": False,
            "ssh_conn_id": sshd.conn_id,
        },
        {"kind": "listening_ports", "name": "c", "expected": [listening_port, sshd.port], "allowed": [5432]},
    )
    assert ok.severity == "ok"
    assert missing.severity == "critical" and str(closed_port) in missing.summary
    # PostgreSQL is allowed; anything else listening on this machine is outside the baseline.
    assert unexpected.severity == "major" and "outside the baseline" in unexpected.summary
    assert "5432" not in unexpected.summary.split(":", 1)[1] and str(sshd.port) not in unexpected.summary


def test_full_disk_on_a_small_filesystem(small_filesystem: Path, sshd) -> None:
    probe = {"kind": "disk", "path": str(small_filesystem), "major_percent": 50, "critical_percent": 90}
    (before,) = check(probe)
    assert before.severity == "ok"
    with pytest.raises(OSError, match="No space left"):  # fill it up
        (small_filesystem / "fill").write_bytes(b"\0" * (5 * 1024 * 1024))
    (local,) = check(probe)
    (remote,) = check(probe | {"ssh_conn_id": sshd.conn_id})
    assert local.severity == remote.severity == "critical"
    assert "% full" in local.summary and "limit 90%" in local.summary
    assert "100.0% full" in local.summary
    (small_filesystem / "fill").write_bytes(b"\0" * (3 * 1024 * 1024))  # 75 %
    (major,) = check(probe)
    assert major.severity == "major" and "75.0% full" in major.summary


def test_tampered_file_against_the_baseline(tmp_path: Path, sshd) -> None:
    files = [tmp_path / "asterisk.conf", tmp_path / "sip.conf"]
    for f in files:
        f.write_text(f"[general]\n; {f.name}\n")
    baseline = tmp_path / "baseline.sha256"
    assert write_baseline(LocalRunner(), [str(f) for f in files], baseline) == 2
    probe = {"kind": "file_integrity", "baseline_file": str(baseline)}
    (clean,) = check(probe, probe | {"name": "remote", "ssh_conn_id": sshd.conn_id})[:1]
    assert clean.severity == "ok"

    files[1].write_text("[general]\nallowguest=yes\n")  # tampered
    local, remote = check(probe, probe | {"name": "remote", "ssh_conn_id": sshd.conn_id})
    assert local.severity == remote.severity == "major"
    assert "changed: " + str(files[1]) in local.summary and str(files[0]) not in local.summary
    files[0].unlink()
    (gone,) = check(probe)
    assert "missing or unreadable: " + str(files[0]) in gone.summary


def test_failed_logins_from_the_ssh_log(sshd) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    for user in ("root", "nosuchuser", "admin"):
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(
                "127.0.0.1",
                sshd.port,
                username=user,
                password="wrong",
                look_for_keys=False,
                allow_agent=False,
            )
        client.close()
    probe = {"kind": "failed_logins", "log_path": str(sshd.log_path), "ssh_conn_id": sshd.conn_id}
    deadline = datetime.now(UTC).timestamp() + 5
    while True:  # sshd writes its log lines asynchronously
        (finding,) = check(probe | {"max_failures": 2})
        if finding.severity != "ok" or datetime.now(UTC).timestamp() > deadline:
            break
    assert finding.severity == "major", finding
    assert finding.summary.startswith(("3 failed", "4 failed", "5 failed", "6 failed"))
    assert "Invalid user nosuchuser" in finding.evidence
    (under_limit,) = check(probe | {"max_failures": 100})
    assert under_limit.severity == "ok"
    # Yesterday's window holds none of today's failures.
    (yesterday,) = check(
        probe | {"max_failures": 0},
        day=AuditDay.of(TODAY.day.replace(day=1)) if TODAY.day.day > 1 else AuditDay.of(date(2000, 1, 1)),
    )
    assert yesterday.severity == "ok" and yesterday.summary.startswith("0 failed")


def test_log_time_forms() -> None:
    near = datetime(2027, 1, 1, 3, tzinfo=UTC)
    assert parse_log_time("2026-12-31T23:59:59.5+00:00 h sshd[1]: x", zone="UTC", near=near) == datetime(
        2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC
    )
    # Classic syslog has no year: the one nearest the window (the old year, across New Year).
    assert parse_log_time("Dec 31 23:00:00 h sshd[1]: x", zone="UTC", near=near) == datetime(
        2026, 12, 31, 23, tzinfo=UTC
    )
    assert parse_log_time("no stamp", zone="UTC", near=near) is None


def test_database_reachability_and_lost_replication(pg_conn_id: str, closed_port: int, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AUDIT_TEST_DEAD_PG", f"postgres://postgres@127.0.0.1:{closed_port}/x")
    standalone, lost, dead = check(
        {"kind": "database", "name": "db", "conn_id": pg_conn_id},
        {
            "kind": "database",
            "name": "replication",
            "conn_id": pg_conn_id,
            "role": "primary",
            "min_standbys": 1,
        },
        {"kind": "database", "name": "dead", "conn_id": "audit_test_dead_pg"},
    )
    assert standalone.severity == "ok"
    # Seed: loss of replication is not service affecting but needs correction -> major.
    assert lost.severity == "major" and lost.summary.startswith("replication lost")
    assert dead.severity == "critical" and "unreachable" in dead.summary


def test_clock_against_the_database_and_a_wrong_host_clock(pg_conn_id: str, sshd, closed_port: int) -> None:
    right, wrong, no_ntp = check(
        {
            "kind": "clock",
            "name": "db",
            "reference": "database",
            "conn_id": pg_conn_id,
            "ssh_conn_id": sshd.conn_id,
        },
        # A host two hours fast: its time command prints the time plus 7200 s.
        {
            "kind": "clock",
            "name": "fast",
            "reference": "database",
            "conn_id": pg_conn_id,
            "ssh_conn_id": sshd.conn_id,
            "time_command": ["sh", "-c", "echo $(( $(date +%s) + 7200 ))"],
        },
        {
            "kind": "clock",
            "name": "ntp",
            "reference": "ntp",
            "ntp_server": f"127.0.0.1:{closed_port}",
            "timeout_s": 1,
        },
    )
    assert right.severity == "ok", right
    # Seed: an incorrect time of day causes complaints only -> minor.
    assert wrong.severity == "minor" and "off by +7" in wrong.summary
    assert no_ntp.severity == "minor" and "could not be measured" in no_ntp.summary


def test_clamav_absent_without_signatures_and_infected(tmp_path: Path, sshd) -> None:
    scan_dir, db_dir = tmp_path / "scan", tmp_path / "db"
    scan_dir.mkdir()
    db_dir.mkdir()
    infected = scan_dir / "payload.bin"
    infected.write_bytes(b"XOP test payload, not a real virus\n")
    (scan_dir / "clean.txt").write_text("hello\n")
    (absent,) = check({"kind": "clamav", "paths": [str(scan_dir)], "clamscan": "/nonexistent/clamscan"})
    assert absent.severity == "minor" and "not installed" in absent.summary
    (absent_remote,) = check(
        {
            "kind": "clamav",
            "paths": [str(scan_dir)],
            "clamscan": "no-clamscan-here",
            "ssh_conn_id": sshd.conn_id,
        }
    )
    assert absent_remote.severity == "minor" and "not installed" in absent_remote.summary

    # Installed (Debian's clamav) but no signatures were ever downloaded: a finding, no crash.
    (no_sigs,) = check({"kind": "clamav", "paths": [str(scan_dir)], "database_dir": str(db_dir)})
    assert no_sigs.severity == "major" and "no official signatures" in no_sigs.summary

    # A local hash signature of the payload (sigtool) makes ClamAV detect it: critical finding.
    import subprocess

    sig = subprocess.run(["sigtool", "--sha256", str(infected)], capture_output=True, text=True, check=True)
    (db_dir / "xop-test.hsb").write_text(sig.stdout)
    found = check({"kind": "clamav", "paths": [str(scan_dir)], "database_dir": str(db_dir)})
    assert [f.severity for f in found] == ["major", "critical"]
    assert "1 infected" in found[1].summary and "payload.bin" in found[1].evidence


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"status: OK xop" if self.path == "/health" else b"nope"
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_status_and_text(http_server: int, sshd) -> None:
    base = f"http://127.0.0.1:{http_server}"
    ok, remote_ok, wrong_text, missing = check(
        {"kind": "http", "name": "a", "url": f"{base}/health", "expect_text": "OK"},
        {"kind": "http", "name": "b", "url": f"{base}/health", "ssh_conn_id": sshd.conn_id},
        {"kind": "http", "name": "c", "url": f"{base}/health", "expect_text": "all good"},
        {"kind": "http", "name": "d", "url": f"{base}/gone", "ssh_conn_id": sshd.conn_id},
    )
    assert ok.severity == remote_ok.severity == "ok"
    assert wrong_text.severity == "critical" and missing.severity == "critical" and "404" in missing.summary


def test_unreachable_ssh_host_is_a_finding(closed_port: int, monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUDIT_TEST_DEAD_SSH",
        f'{{"conn_type": "ssh", "host": "127.0.0.1", "port": {closed_port}, "login": "root"}}',
    )
    found = check(
        {"kind": "disk", "ssh_conn_id": "audit_test_dead_ssh"},
        {"kind": "tcp", "host": "127.0.0.1", "port": 22, "ssh_conn_id": "audit_test_dead_ssh"},
    )
    assert [f.severity for f in found] == ["major", "critical"]  # the probes' main impacts
    assert all("could not run" in f.summary and "SSH" in f.evidence for f in found)
    assert worst(found) == "critical"


def test_spec_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="thresholds must rise"):
        PROBE.validate_python({"kind": "disk", "major_percent": 95, "critical_percent": 80})
    with pytest.raises(ValidationError, match="needs ntp_server"):
        PROBE.validate_python({"kind": "clock"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PROBE.validate_python({"kind": "tcp", "host": "h", "port": 1, "prot": 2})
    with pytest.raises(ValueError, match="duplicate probe name"):
        check({"kind": "disk"}, {"kind": "disk"})

"""The pipeline's metrics arrive on a StatsD server, through Airflow's own metrics client.

The test starts a UDP listener, points Airflow's ``[metrics]`` StatsD settings at it, runs the
sweep DAG (open tickets, warnings, breaches, escalations) and the outbox delivery against real
PostgreSQL and SMTP, and reports a trunk check, an audit and a publication, then reads the
datagrams. Every name it receives is documented in ``docs/metrics.md``.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from xop.core.paths import REPO_ROOT
from xop.tasks import metrics
from xop.tickets import TicketService

CHI = ZoneInfo("America/Chicago")


@pytest.fixture
def statsd(monkeypatch):
    """A UDP StatsD server on a free loopback port; Airflow's metrics point at it."""
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    stats.initialize(factory=get_stats_factory(), export_legacy_names=False)

    def received() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        while True:
            try:
                data = sock.recv(65535).decode()
            except TimeoutError:
                return out
            for line in data.splitlines():
                metric, _, value = line.partition(":")
                out.setdefault(metric.removeprefix("airflow."), []).append(value)

    yield received
    stats.initialize(
        factory=lambda: __import__(
            "airflow.sdk._shared.observability.metrics.base_stats_logger", fromlist=["NoStatsLogger"]
        ).NoStatsLogger(),
        export_legacy_names=False,
    )
    sock.close()


def documented() -> list[re.Pattern]:
    names = re.findall(r"^\| `(xop\.[^`]+)`", (REPO_ROOT / "docs" / "metrics.md").read_text(), re.M)
    return [
        re.compile(
            "^"
            + re.sub(r"<[a-z]+>", r"[a-z0-9_-]+", re.escape(n).replace(r"\<", "<").replace(r"\>", ">"))
            + "$"
        )
        for n in names
    ]


def test_docs_list_every_metric():
    names = re.findall(r"^\| `(xop\.[^`]+)`", (REPO_ROOT / "docs" / "metrics.md").read_text(), re.M)
    assert sorted(names) == sorted(metrics.METRICS)


def test_metrics_arrive_on_a_statsd_listener(
    statsd, pg_engine, pg_url, xop_config, maildrop, monkeypatch, run_dag
):
    url = make_url(pg_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host,
                "port": url.port,
                "login": url.username,
                "schema": url.database,
            }
        ),
    )
    svc = TicketService(pg_engine, xop_config)
    svc.open(
        customer="acme",
        subject="All lines busy",
        reporter_name="Carl Caller",
        reporter_email="carl@acme.example",
        proposed_urgency="critical",
        now=datetime(2026, 12, 1, 9, 0, tzinfo=CHI),
    )
    dr = run_dag("xop_sla_sweep", now=datetime(2026, 12, 1, 11, 0, tzinfo=CHI).astimezone(UTC).isoformat())
    assert dr.state == "success"
    metrics.after_trunk_checks([{"trunk": "acme-sip-main", "kind": "options", "ok": True, "rtt_ms": 12.5}])
    metrics.after_audit(
        {"ok": 3, "critical": 1},
        system="acme-conf1",
        backup=SimpleNamespace(size=4096, duration_seconds=0.25),
    )
    metrics.after_publication(1_000_000, 0.5)

    got = statsd()
    assert got["xop.tickets.open.l3.critical"] == ["1|g"]  # the sweep escalated it to Level 3
    assert "xop.sweep.duration" in got and "xop.sweep.escalations" in got
    assert any(name.startswith("xop.sla.breached.") for name in got)
    assert "xop.outbox.sent" in got and set(got["xop.outbox.pending"]) == {"0|g"}  # all delivered
    assert "xop.outbox.oldest_pending_age" in got
    assert (
        got["xop.trunk.check.ok.options"] == ["1|c"]
        and float(got["xop.trunk.rtt.acme-sip-main"][0].split("|")[0]) == 12.5
    )
    assert got["xop.audit.findings.critical"] == ["1|c"]
    assert got["xop.backup.size.acme-conf1"] == ["4096|g"]
    assert float(got["xop.backup.duration.acme-conf1"][0].split("|")[0]) == 250.0
    assert float(got["xop.publication.throughput"][0].split("|")[0]) == 2_000_000
    patterns = documented()
    xop_names = [n for n in got if n.startswith("xop.")]
    undocumented = [n for n in xop_names if not any(p.match(n) for p in patterns)]
    assert not undocumented, undocumented


def test_trunk_call_quality_arrives_as_gauges(statsd):
    """A test call's MOS, jitter and loss (from the trunk check's RTP figures) reach StatsD."""
    results = [
        {
            "trunk": "acme-sip-1",
            "kind": "call",
            "ok": True,
            "rtt_ms": 41.0,
            "mos": 4.31,
            "jitter_ms": 1.5,
            "loss_pct": 0.0,
        },
        {"trunk": "acme-sip-1", "kind": "options", "ok": True, "rtt_ms": 12.0},
    ]
    metrics.after_trunk_checks(results)
    got = statsd()
    assert got["xop.trunk.mos.acme-sip-1"] == ["4.31|g"]
    assert got["xop.trunk.jitter.acme-sip-1"] == ["1.5|g"]
    assert got["xop.trunk.loss.acme-sip-1"] == ["0.0|g"]
    patterns = documented()
    assert all(any(p.match(n) for p in patterns) for n in got), sorted(got)

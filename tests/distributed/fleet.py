"""Many monitored systems on the distributed stack: the configuration and how to read a run back.

:func:`fleet` is a config builder for :func:`tests.distributed.conftest.deploy`: ``n`` systems in
customers of ten, each with a SIP trunk answered by one of the deployment's SIPp far ends
(several trunks per SIPp instance, round robin), a day of call detail records in a table of its
own (one CDR database for the fleet), health probes (a TCP service that answers; every
``finding_every``-th system also one that refuses, a critical finding that opens a ticket) and
a backup of the fleet's system database. The first customer publishes its backups to the FTPS
site. Used by ``tests/faults/test_fleet.py`` (scaled down) and ``bench/bench_distributed.py``.

:func:`task_split` reads a DAG run's task instances back from Airflow's REST API and splits
its wall time into where it went: waiting to be scheduled and queued, running, and the gaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tests.conftest import REPO, create_pg_database, drop_pg_database
from tests.distributed.conftest import ConfigBuilder, Peers, _postgres_conn
from xop.demo.peers import free_port


def scheduled_audit_day(now: datetime | None = None) -> date:
    """The local day the run that unpausing ``xop_daily_audit`` makes audits: the day before
    its latest 04:00 America/Chicago (catchup=False runs the latest interval once)."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo("America/Chicago"))
    latest = local.date() if local.time() >= time(4, 0) else local.date() - timedelta(days=1)
    return latest - timedelta(days=1)


#: The audited local day (America/Chicago); its CDRs are generated for it.
AUDIT_DAY = scheduled_audit_day()
SYSTEM_DB_CONN = "fleet_system_db"
#: Who gets the audit report (and nothing else): the fault test holds its delivery.
REPORT_RECIPIENT = "noc@xopnetworks.example"
CDR_DB_CONN = "fleet_cdr_db"


def system_id(n: int) -> str:
    return f"s{n:03d}"


def has_finding(n: int, finding_every: int) -> bool:
    return finding_every > 0 and n % finding_every == 0


def _fill_cdrs(url: str, n_systems: int, calls_per_day: int) -> None:
    """One table of Asterisk-style CDRs (``cdr`` columns) per system, ``calls_per_day`` each,
    spread over the audited day; one in five not answered."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for n in range(n_systems):
            table = f"cdr_{system_id(n)}"
            conn.exec_driver_sql(
                f"CREATE TABLE {table} (calldate timestamptz NOT NULL, duration integer NOT NULL,"
                " billsec integer NOT NULL, disposition text NOT NULL, dst text)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {table} SELECT"
                f" timestamptz '{AUDIT_DAY.isoformat()} 06:00:00+00'"
                f" + (i * interval '1 second' * 86000 / {calls_per_day}),"
                " 60 + mod(i, 600), CASE WHEN mod(i, 5) = 0 THEN 0 ELSE 50 + mod(i, 590) END,"
                " CASE WHEN mod(i, 5) = 0 THEN 'NO ANSWER' ELSE 'ANSWERED' END, 'bridge-' || mod(i, 7)"
                f" FROM generate_series(1, {calls_per_day}) i"
            )
    engine.dispose()


def fleet(n_systems: int, *, calls_per_day: int = 500, finding_every: int = 5) -> ConfigBuilder:
    """A config builder of ``n_systems`` monitored systems (see the module docstring)."""

    def build(home: Path, peers: Peers, cleanup: ExitStack) -> tuple[dict[str, Any], dict[str, str]]:
        cdr_url = create_pg_database("xop_e2e_cdr")
        cleanup.callback(drop_pg_database, cdr_url)
        _fill_cdrs(cdr_url, n_systems, calls_per_day)
        refused = free_port()  # nothing listens there: connection refused, a critical finding
        var = home / "var"
        customers: list[dict[str, Any]] = []
        for n in range(n_systems):
            if n % 10 == 0:
                k = n // 10
                customers.append(
                    {
                        "id": f"c{k:02d}",
                        "name": f"Customer {k:02d}",
                        "monitoring": True,
                        "management_contacts": [{"name": f"Ops {k:02d}", "email": f"ops@c{k:02d}.example"}],
                        "ftp_folder": f"/c{k:02d}",
                        "systems": [],
                    }
                )
            far_end = peers.far_ends[n % len(peers.far_ends)]
            probes: list[dict[str, Any]] = [
                {"kind": "tcp", "name": "smtp-relay", "host": "127.0.0.1", "port": peers.maildrop.port}
            ]
            if has_finding(n, finding_every):
                probes.append(
                    {"kind": "tcp", "name": "conference-service", "host": "127.0.0.1", "port": refused}
                )
            customers[-1]["systems"].append(
                {
                    "id": system_id(n),
                    "name": f"Conference bridge {system_id(n)}",
                    "trunks": [
                        {
                            "id": f"{system_id(n)}-sip",
                            "host": far_end.host,
                            "port": far_end.port,
                            "dial_number": f"+1512555{n:04d}",
                            "options_timeout_s": 5.0,
                            "call_timeout_s": 10.0,
                            "media_seconds": 0.5,
                        }
                    ],
                    "db_conn_id": CDR_DB_CONN,
                    "cdr": {"table": f"cdr_{system_id(n)}"},
                    "health_probes": probes,
                    "backup": {"kind": "postgres", "conn_id": SYSTEM_DB_CONN},
                }
            )
        customers[0]["publication"] = {"images": [], "publish_backups": True}
        config = {
            "extends": str(REPO / "include" / "config" / "xop.yaml"),
            "audit": {
                "report_dir": str(var / "reports"),
                "backup_dir": str(var / "backups"),
                "recipients": [REPORT_RECIPIENT],
            },
            "reports": {"report_dir": str(var / "sla-reports")},
            "customers": customers,
        }
        env = {
            f"AIRFLOW_CONN_{SYSTEM_DB_CONN.upper()}": _postgres_conn(peers.system_db_url),
            f"AIRFLOW_CONN_{CDR_DB_CONN.upper()}": _postgres_conn(cdr_url),
        }
        return config, env

    return build


# --- reading a run back --------------------------------------------------------------------------


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class RunSplit:
    """Where the wall time of one DAG run went, from its task instances' timestamps (seconds).

    ``wall``: run start to run end. ``busy``: the union of the intervals in which at least one
    task ran. ``task_seconds``: the sum of all task durations (more than ``busy`` when tasks ran
    in parallel; ``task_seconds / busy`` is the parallelism reached). ``idle``: ``wall - busy``,
    time in which no task ran: the scheduler deciding, queueing, a worker picking up, mapping.
    ``queued``: the mean time a task waited from queued to start (slots, the broker, a worker's
    start-up of the task process). ``by_task``: per task id, (count, sum of durations).
    """

    wall: float
    busy: float
    task_seconds: float
    idle: float
    queued_mean: float
    by_task: dict[str, tuple[int, float]]
    hostnames: dict[str, int]

    @property
    def parallelism(self) -> float:
        return self.task_seconds / self.busy if self.busy else 0.0


def task_split(run: dict[str, Any], tis: Iterable[dict[str, Any]]) -> RunSplit:
    start, end = _t(run["start_date"]), _t(run["end_date"])
    assert start and end, run
    intervals: list[tuple[datetime, datetime]] = []
    waits: list[float] = []
    by_task: dict[str, tuple[int, float]] = {}
    hostnames: dict[str, int] = {}
    for ti in tis:
        s, e, q = _t(ti["start_date"]), _t(ti["end_date"]), _t(ti.get("queued_when"))
        if not (s and e):
            continue
        intervals.append((s, e))
        if q:
            waits.append((s - q).total_seconds())
        count, total = by_task.get(ti["task_id"], (0, 0.0))
        by_task[ti["task_id"]] = (count + 1, total + (e - s).total_seconds())
        hostnames[ti.get("hostname") or "-"] = hostnames.get(ti.get("hostname") or "-", 0) + 1
    busy = 0.0
    cursor: datetime | None = None
    for s, e in sorted(intervals):
        if cursor is None or s > cursor:
            busy += (e - s).total_seconds()
            cursor = e
        elif e > cursor:
            busy += (e - cursor).total_seconds()
            cursor = e
    wall = (end - start).total_seconds()
    return RunSplit(
        wall=wall,
        busy=busy,
        task_seconds=sum(total for _, total in by_task.values()),
        idle=wall - busy,
        queued_mean=sum(waits) / len(waits) if waits else 0.0,
        by_task=by_task,
        hostnames=hostnames,
    )

"""Fixtures of the distributed test: the compose topology as local processes, and its peers.

One stack per module (start-up is the expensive part): a fresh Airflow metadata DB and a fresh
``xop`` DB on the machine's PostgreSQL, Redis on 127.0.0.1:6379 (database 13 and a queue of its
own), and the servers the DAGs talk to: an SMTP server (aiosmtpd), a SIPp far end for the trunk
check, an explicit-FTPS site (pyftpdlib) for the publication, and a customer system database on
PostgreSQL that the audit backs up and the restore DAG restores. Everything is stopped and
dropped afterwards, also when a test fails. Logs stay in ``test-artifacts/distributed/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL, REPO, create_pg_database, drop_pg_database
from tests.distributed.stack import AirflowApi, AirflowStack
from xop.demo.imap import Dovecot
from xop.demo.peers import FtpsSite, MailDrop, free_port

ARTIFACTS = REPO / "test-artifacts" / "distributed"
#: Redis on the machine; a database number of its own (0 is everyone's default).
BROKER_URL = os.environ.get("XOP_E2E_BROKER_URL", "redis://127.0.0.1:6379/13")


@dataclass
class Peers:
    maildrop: MailDrop
    ftp: FtpsSite
    trunk_host: str
    trunk_port: int
    system_db_url: str
    image: Path
    far_ends: list[Any] = field(default_factory=list)  # SippFarEnd of tests.trunks.trunk_farends


@dataclass
class Deployment:
    stack: AirflowStack
    api: AirflowApi
    xop_db_url: str
    config_path: Path
    peers: Peers


def _postgres_conn(url: str) -> str:
    u = make_url(url)
    return json.dumps(
        {"conn_type": "postgres", "host": u.host, "port": u.port, "login": u.username, "schema": u.database}
    )


def _system_database() -> str:
    """A customer system's database with a little data: what the audit backs up."""
    url = create_pg_database("xop_e2e_system")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE conferences (id serial PRIMARY KEY, name text NOT NULL)")
        conn.exec_driver_sql(
            "INSERT INTO conferences (name) SELECT 'bridge ' || n FROM generate_series(1, 50) n"
        )
    engine.dispose()
    return url


def _drop_system_databases(url: str) -> None:
    """The system database and the scratch copies the restore DAG made beside it."""
    name = make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        names = conn.execute(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"), {"prefix": f"{name}%"}
        ).scalars()
        for db in list(names):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin.dispose()


def _forget_queue(queue: str) -> None:
    """Drop what Celery kept in Redis for this run's queue (its binding, any message left)."""
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)
    client.close()


def _recovery_image(folder: Path) -> Path:
    folder.mkdir(parents=True)
    image = folder / "xop-recovery-7.2.1.img"
    image.write_bytes(secrets.token_bytes(256 * 1024))
    return image


def _xop_config(path: Path, peers: Peers) -> dict[str, Any]:
    """One monitored customer with one system: a SIP trunk (SIPp), a database to back up, and a
    publication (a vendor's recovery image and the newest backup) to the FTPS site."""
    var = path.parent / "var"  # files every worker reads and writes: a shared volume in compose
    config = {
        "extends": str(REPO / "include" / "config" / "xop.yaml"),
        "audit": {"report_dir": str(var / "reports"), "backup_dir": str(var / "backups")},
        "deadlines": {"ticket_customer": "acme"},  # tests/distributed/test_restore_approval.py
        "reports": {"report_dir": str(var / "sla-reports")},
        "customers": [
            {
                "id": "acme",
                "name": "Acme Conferencing",
                "monitoring": True,
                "management_contacts": [{"name": "Ann Boss", "email": "ann.boss@acme.example"}],
                "ftp_folder": "/acme",
                "publication": {
                    "images": [
                        {
                            "path": str(peers.image),
                            "vendor": "NEC",
                            "vendor_checksum": hashlib.sha256(peers.image.read_bytes()).hexdigest(),
                        }
                    ],
                    "publish_backups": True,
                },
                "systems": [
                    {
                        "id": "acme-conf1",
                        "name": "Acme conference bridge 1",
                        "trunks": [
                            {
                                "id": "acme-sip-main",
                                "host": peers.trunk_host,
                                "port": peers.trunk_port,
                                "dial_number": "+15125550100",
                                "options_timeout_s": 3.0,
                                "call_timeout_s": 6.0,
                                "media_seconds": 0.5,
                            }
                        ],
                        "backup": {
                            "kind": "postgres",
                            "conn_id": "acme_system_db",
                            "restore_approvers": ["restorer"],
                        },
                    }
                ],
            }
        ],
    }
    return config


#: What a deployment's config builder returns: the xop config (YAML data) and more environment
#: for every component (e.g. the Airflow connections of the systems it configures).
ConfigBuilder = Callable[[Path, Peers, ExitStack], tuple[dict[str, Any], dict[str, str]]]


def _one_system(home: Path, peers: Peers, cleanup: ExitStack) -> tuple[dict[str, Any], dict[str, str]]:
    config = _xop_config(home / "xop.yaml", peers)
    env = {
        "AIRFLOW_CONN_ACME_SYSTEM_DB": _postgres_conn(peers.system_db_url),
        # Who may approve a restore (tests/distributed/test_restore_approval.py).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,restorer:op,bystander:user",
    }
    return config, env


@contextmanager
def deploy(
    artifacts: Path,
    config: ConfigBuilder = _one_system,
    *,
    workers: tuple[str, ...] = ("worker-a", "worker-b"),
    sipp_hosts: int = 1,
    extra_env: Mapping[str, str] | None = None,
    restart_crashed: bool = False,
) -> Iterator[Deployment]:
    """The stack and its peers, as the ``deployment`` fixture has them, for any xop config.

    ``config`` builds the configuration from the peers; ``sipp_hosts`` SIPp far ends answer on
    127.0.0.1, 127.0.0.2, ... (``peers.far_ends``). ``extra_env`` goes to every component last
    (Airflow settings of a test). ``restart_crashed``: see :class:`AirflowStack` (the benchmark's
    long runs; a test fails on a crash). Everything is stopped and dropped on exit.
    """
    from tests.trunks.trunk_farends import SippPool

    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="xop-e2e-"))
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, home, ignore_errors=True)
        metadata_url = create_pg_database("xop_e2e_airflow")
        cleanup.callback(drop_pg_database, metadata_url)
        xop_db_url = create_pg_database("xop_e2e_tickets")
        cleanup.callback(drop_pg_database, xop_db_url)
        system_db_url = _system_database()
        cleanup.callback(_drop_system_databases, system_db_url)

        (home / "sipp").mkdir()
        sipp = SippPool(home / "sipp")
        cleanup.callback(sipp.stop_all)
        far_ends = [sipp.get("answer_echo.xml", "udp", host=f"127.0.0.{n + 1}") for n in range(sipp_hosts)]
        maildrop = cleanup.enter_context(MailDrop(artifacts / "mail"))
        ftp = cleanup.enter_context(
            FtpsSite(home / "ftp", user="xop-publisher", password=secrets.token_urlsafe(12))
        )
        mailbox = cleanup.enter_context(Dovecot())  # the support mailbox of xop_mail_intake
        peers = Peers(
            maildrop=maildrop,
            ftp=ftp,
            trunk_host=far_ends[0].host,
            trunk_port=far_ends[0].port,
            system_db_url=system_db_url,
            image=_recovery_image(home / "images"),
            far_ends=far_ends,
        )
        data, config_env = config(home, peers, cleanup)
        config_path = home / "xop.yaml"
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        stack = AirflowStack(
            artifacts=artifacts,
            home=home / "airflow",
            metadata_url=metadata_url.replace("postgresql+psycopg://", "postgresql+psycopg2://"),
            broker_url=BROKER_URL,
            api_port=free_port(),
            trigger_log_port=free_port(),
            workers=workers,
            restart_crashed=restart_crashed,
            extra_env={
                "XOP_CONFIG": str(config_path),
                "AIRFLOW_CONN_XOP_DB": _postgres_conn(xop_db_url),
                "AIRFLOW_CONN_SMTP_DEFAULT": maildrop.connection_uri(),
                "AIRFLOW_CONN_XOP_FTP": ftp.connection_json(),
                "AIRFLOW_CONN_XOP_IMAP": mailbox.connection_json(),
                **config_env,
                **(extra_env or {}),
            },
        )
        cleanup.callback(_forget_queue, stack.queue)
        cleanup.enter_context(stack)
        api = AirflowApi(stack.api_url, username=stack.admin_user, password=stack.admin_password)
        cleanup.callback(api.close)
        yield Deployment(stack, api, xop_db_url, config_path, peers)


@pytest.fixture(scope="package")
def deployment() -> Iterator[Deployment]:
    with deploy(ARTIFACTS) as deployed:
        yield deployed

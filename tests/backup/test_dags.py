"""Both DAGs end to end with ``dag.test()``: real PostgreSQL, a real FTPS server, real outbox.

``xop_publish_recovery_images``: an OEM image and the newest verified backup of the customer's
system go to its folder on pyftpdlib (TLS); SHA256SUMS, publications rows and the customer's
email (names, sizes, checksums, no password) are checked. ``xop_restore_database``: a confirmed
``replace`` brings the backed-up data back and keeps the damaged database renamed.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from airflow.sdk.exceptions import AirflowFailException

from tests.backup.conftest import admin, table_fingerprints
from tests.conftest import outbox_rows
from tests.publish.conftest import pyftpdlib_tls, tls_cert  # noqa: F401 - fixtures used below
from xop.backup import BackupSpec, take_backup
from xop.core.errors import BackupError, ConfigError
from xop.tasks.restore import find_backup

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dag_setup(system_db, pyftpdlib_tls, tmp_path: Path, monkeypatch) -> dict:  # noqa: F811
    backups = tmp_path / "backups"
    oem = tmp_path / "NEC-UNIVERGE-recovery-9.1.iso"
    oem.write_bytes(bytes(range(256)) * 4000)
    config = {
        "extends": str(REPO / "include" / "config" / "xop.yaml"),
        "customers": [
            {
                "id": "acme",
                "name": "Acme Conferencing",
                "monitoring": True,
                "management_contacts": [{"name": "Ann Boss", "email": "ann.boss@acme.example"}],
                "ftp_folder": "/acme",
                "publication": {
                    "ftp": {"retention": 2},
                    "publish_backups": True,
                    "images": [
                        {
                            "path": str(oem),
                            "vendor": "NEC",
                            "vendor_checksum": hashlib.sha256(oem.read_bytes()).hexdigest(),
                        }
                    ],
                },
                "systems": [
                    {
                        "id": "acme-conf1",
                        "name": "Acme bridge 1",
                        "backup": {
                            "kind": "postgres",
                            "conn_id": system_db.conn_id,
                            "directory": str(backups),
                        },
                    }
                ],
            }
        ],
    }
    config_path = tmp_path / "backup-config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("XOP_CONFIG", str(config_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "xop.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_XOP_FTP", pyftpdlib_tls.connection_uri())

    spec = BackupSpec(kind="postgres", conn_id=system_db.conn_id, directory=backups)
    manifest = take_backup(
        spec, system="acme-conf1", directory=backups, now=datetime(2026, 11, 25, 10, tzinfo=UTC)
    )
    return {"xop_db": tmp_path / "xop.db", "oem": oem, "manifest": manifest, "ftp_root": pyftpdlib_tls.root}


def test_publish_dag_end_to_end(run_dag, dag_setup: dict) -> None:
    dr = run_dag("xop_publish_recovery_images", now="2026-11-25T11:00:00+00:00")
    assert dr.state == "success"

    folder = dag_setup["ftp_root"] / "acme"
    manifest, oem = dag_setup["manifest"], dag_setup["oem"]
    sums = dict(line.split("  ")[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert sums == {
        manifest.path.name: manifest.sha256,
        oem.name: hashlib.sha256(oem.read_bytes()).hexdigest(),
    }
    assert (folder / manifest.path.name).read_bytes() == manifest.path.read_bytes()

    engine = sa.create_engine(f"sqlite:///{dag_setup['xop_db']}")
    with engine.connect() as conn:
        published = conn.execute(sa.text("SELECT name, vendor, size FROM publications ORDER BY name")).all()
    assert [tuple(r) for r in published] == [
        (oem.name, "NEC", oem.stat().st_size),
        (manifest.path.name, None, manifest.size),
    ]
    (mail,) = outbox_rows(engine)  # the publication notice is rendered at delivery, as here
    recipient, subject, mime = mail["recipient"], mail["subject"], mail["mime"]
    body = email.message_from_bytes(mime, policy=email.policy.default).get_body(("plain",)).get_content()
    assert recipient == "ann.boss@acme.example" and oem.name in subject
    assert manifest.sha256 in body and "vendor:  NEC" in body and "1000.0 KiB (1,024,000 bytes)" in body
    assert json.loads(os.environ["AIRFLOW_CONN_XOP_FTP"])["password"] not in mime.decode()


def test_restore_dag_replaces_after_confirmation(run_dag, dag_setup: dict, system_db) -> None:
    with system_db.connect() as conn:
        expected = table_fingerprints(conn)
        conn.execute("TRUNCATE billing.rates")
        conn.commit()

    dr = run_dag(
        "xop_restore_database",
        system="acme-conf1",
        backup_date="2026-11-25",
        target="replace",
        dry_run=False,
        confirmation="replace acme-conf1",
        now="2026-11-26T08:00:00+00:00",
    )
    assert dr.state == "success"
    with system_db.connect() as conn:
        assert table_fingerprints(conn) == expected
    with admin() as conn:
        kept = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"{system_db.name}_pre_restore_20261126080000",)
        ).fetchone()
    assert kept is not None


def test_restore_form_is_checked_before_anything_happens(dag_setup: dict) -> None:
    base = {"system": "acme-conf1", "target": "replace", "dry_run": False}
    with pytest.raises(AirflowFailException, match=r"needs the confirmation 'replace acme-conf1'"):
        find_backup({**base, "confirmation": "yes please"})  # a person's refusal: never retried
    with pytest.raises(BackupError, match=r"taken on 2026-11-01 \(UTC\); backups exist for \['2026-11-25'\]"):
        find_backup({**base, "confirmation": "replace acme-conf1", "backup_date": "2026-11-01"})
    with pytest.raises(ConfigError, match="backup_date: expected YYYY-MM-DD"):
        find_backup({**base, "dry_run": True, "backup_date": "25/11/2026"})
    chosen = find_backup({"system": "acme-conf1"})
    assert chosen["target"] == "scratch" and chosen["dry_run"] is True
    assert chosen["manifest"] == str(dag_setup["manifest"].manifest_path)


def _states(dr) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dr.get_task_instances()}


def test_a_wrong_confirmation_fails_once_and_changes_nothing(run_dag, dag_setup: dict, system_db) -> None:
    before = databases_like(system_db.name)
    dr = run_dag(
        "xop_restore_database",
        system="acme-conf1",
        target="replace",
        dry_run=False,
        confirmation="replace acme-conf2",
        now="2026-11-26T08:00:00+00:00",
    )
    assert dr.state == "failed"
    assert _states(dr)["choose_backup"] == ("failed", 1)  # not retried
    assert databases_like(system_db.name) == before


def test_a_dry_run_needs_no_confirmation_and_creates_nothing(run_dag, dag_setup: dict, system_db) -> None:
    before = databases_like(system_db.name)
    dr = run_dag(
        "xop_restore_database",
        system="acme-conf1",
        target="replace",
        dry_run=True,
        confirmation=None,
        now=None,
    )
    assert dr.state == "success"
    states = _states(dr)
    assert states["approve_swap"][0] == "skipped" and states["swap_in"][0] == "skipped"
    assert states["finish"][0] == "success"
    assert databases_like(system_db.name) == before


def test_a_scratch_restore_keeps_the_scratch_database(run_dag, dag_setup: dict, system_db) -> None:
    dr = run_dag(
        "xop_restore_database",
        system="acme-conf1",
        target="scratch",
        dry_run=False,
        confirmation=None,
        now="2026-11-26T09:00:00+00:00",
    )
    assert dr.state == "success"
    assert f"{system_db.name}_restore_20261126090000" in databases_like(system_db.name)


def databases_like(prefix: str) -> set[str]:
    with admin() as conn:
        return {
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        }

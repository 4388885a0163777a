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
                    },
                    {"id": "acme-edge", "name": "Acme edge router"},  # no backup: not offered
                    {
                        "id": "acme-spare",
                        "name": "Acme spare bridge",
                        "backup": {"kind": "postgres", "conn_id": "acme_spare_db", "directory": str(backups)},
                    },
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
    with pytest.raises(
        AirflowFailException,
        match=r"^params.backup_date: no verified backup of 'acme-conf1' .* taken on 2026-11-01 \(UTC\); "
        r"verified backups exist for 2026-11-25 \(UTC\)$",
    ):
        find_backup({**base, "confirmation": "replace acme-conf1", "backup_date": "2026-11-01"})
    with pytest.raises(
        AirflowFailException, match=r"^params\.backup_date: expected YYYY-MM-DD, got '25/11/2026'"
    ):
        find_backup({**base, "dry_run": True, "backup_date": "25/11/2026"})
    with pytest.raises(
        AirflowFailException,
        match=r"^params.system: 'acme-conf9' is not a system with a backup section in the configuration; "
        r"valid: acme-conf1, acme-spare$",
    ):
        find_backup({**base, "system": "acme-conf9"})
    with pytest.raises(
        AirflowFailException, match=r"^params.system: 'acme-edge' is not .* \(it has no backup section\)"
    ):
        find_backup({**base, "system": "acme-edge"})
    with pytest.raises(AirflowFailException, match=r"^params.system: nothing is not .*; valid: acme-conf1"):
        find_backup({"target": "scratch"})
    with pytest.raises(
        AirflowFailException,
        match=r"^params.system: no verified backup of 'acme-spare' .*; there is none yet$",
    ):
        find_backup({"system": "acme-spare"})
    chosen = find_backup({"system": "acme-conf1"})
    assert chosen["target"] == "scratch" and chosen["dry_run"] is True
    assert chosen["manifest"] == str(dag_setup["manifest"].manifest_path)
    # The confirmation counts only for a run that will swap: a dry run or a scratch restore
    # ignores a wrong one instead of refusing.
    for ignored in ({"dry_run": True}, {"target": "scratch"}):
        chosen = find_backup({**base, **ignored, "confirmation": "yes please"})
        assert chosen["preapproved"] is False


def test_the_restore_form_offers_the_systems_with_a_backup(airflow_db, dag_setup: dict) -> None:
    """Parsed with this config, the form's system field is a drop-down of the systems with a
    backup section (labelled), and Airflow refuses any other id before a run exists."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.param import ParamValidationError

    dag = DagBag(str(REPO / "dags" / "xop_restore_database.py")).get_dag("xop_restore_database")
    system = dag.params.get_param("system")
    assert system.schema["enum"] == ["acme-conf1", "acme-spare"]
    assert system.schema["values_display"] == {
        "acme-conf1": "acme-conf1 · Acme bridge 1 (Acme Conferencing)",
        "acme-spare": "acme-spare · Acme spare bridge (Acme Conferencing)",
    }
    assert system.resolve("acme-conf1") == "acme-conf1"
    with pytest.raises(
        ParamValidationError, match=r"'acme-edge' is not one of \['acme-conf1', 'acme-spare'\]"
    ):
        system.resolve("acme-edge")
    for name in ("dry_run", "confirmation", "target", "backup_date"):  # the rest of the form as before
        assert name in dag.params
    assert dag.params.get_param("confirmation").resolve(None) is None  # never required by the form


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


def test_a_date_without_a_backup_fails_once_and_changes_nothing(run_dag, dag_setup: dict, system_db) -> None:
    before = databases_like(system_db.name)
    dr = run_dag("xop_restore_database", system="acme-conf1", backup_date="2026-11-01", dry_run=False)
    assert dr.state == "failed"
    assert _states(dr)["choose_backup"] == ("failed", 1)  # not retried: the form is wrong
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

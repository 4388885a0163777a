"""One backup directory for the audit (writes), the publication and the restore (read).

The README's advice for workers on several hosts is to point ``XOP_BACKUP_DIR`` at shared
storage. With an ``audit:`` section in the config (whose ``backup_dir`` is a local path), the
audit used to keep writing locally while publication and restore looked on the share. This runs
audit → publish → restore on the shipped config with ``XOP_BACKUP_DIR`` set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.publish.conftest import pyftpdlib_tls, tls_cert  # noqa: F401 - fixtures used below
from xop.core.config import load_config
from xop.core.paths import REPO_ROOT
from xop.core.specs.backup import backup_root


@pytest.fixture
def shared_setup(system_db, pyftpdlib_tls, tmp_path: Path, monkeypatch) -> dict:  # noqa: F811
    share, local = tmp_path / "share", tmp_path / "local-backups"
    config = {
        "extends": str(REPO_ROOT / "include" / "config" / "xop.yaml"),
        "audit": {"report_dir": str(tmp_path / "reports"), "backup_dir": str(local)},
        "customers": [
            {
                "id": "acme",
                "name": "Acme Conferencing",
                "monitoring": True,
                "management_contacts": [{"name": "Ann Boss", "email": "ann.boss@acme.example"}],
                "ftp_folder": "/acme",
                "publication": {"publish_backups": True},
                "systems": [
                    {
                        "id": "acme-conf1",
                        "name": "Acme bridge 1",
                        "backup": {"kind": "postgres", "conn_id": system_db.conn_id},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("XOP_CONFIG", str(path))
    monkeypatch.setenv("XOP_BACKUP_DIR", str(share))
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "x.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_XOP_FTP", pyftpdlib_tls.connection_uri())
    return {"share": share, "local": local, "ftp_root": pyftpdlib_tls.root}


def test_precedence_is_stated_once(tmp_path, monkeypatch, shared_setup):
    cfg = load_config()
    _, system = cfg.system("acme-conf1")
    assert backup_root(cfg, system) == shared_setup["share"]  # the environment beats audit.backup_dir
    monkeypatch.delenv("XOP_BACKUP_DIR")
    assert backup_root(cfg, system) == shared_setup["local"]


def test_audit_publish_restore_share_the_directory_of_xop_backup_dir(run_dag, shared_setup, maildrop):
    audit = run_dag("xop_daily_audit", date="2026-06-15", now="2026-06-16T09:00:05+00:00")
    assert audit.state == "success"
    written = sorted(p.name for p in (shared_setup["share"] / "acme-conf1").glob("*.dump"))
    assert written == ["acme-conf1-20260616T090005Z.dump"]
    assert not shared_setup["local"].exists()

    publish = run_dag("xop_publish_recovery_images", now="2026-06-16T10:00:00+00:00")
    assert publish.state == "success"
    assert (shared_setup["ftp_root"] / "acme" / written[0]).is_file()

    restore = run_dag(
        "xop_restore_database", system="acme-conf1", backup_date="2026-06-16", target="replace", dry_run=True
    )
    assert restore.state == "success"

"""Backups are private: archives, manifests and globals.sql 0600, their folders 0700, even when
the process umask would let everyone read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.backup.test_postgres_backup import spec_for
from tests.backup.test_retention_and_sqlite import make_sqlite
from xop.backup import BackupSpec, take_backup
from xop.backup.manifest import write_manifest

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Umask 000: without explicit modes every new file would be 0666 and folder 0777."""
    old = os.umask(0)
    yield
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_postgres_backup_files_are_private(system_db, tmp_path, open_umask):
    root = tmp_path / "backups"
    manifest = take_backup(spec_for(system_db), system="acme-conf1", directory=root, now=NOW)
    write_manifest(manifest)
    found = modes(root)
    names = {Path(p).name for p in found}
    assert {manifest.path.name, manifest.globals_path.name, manifest.manifest_path.name} <= names
    for path, mode in found.items():
        want = 0o700 if (root / path).is_dir() else 0o600
        assert mode == want, (path, oct(mode))


def test_sqlite_backup_files_are_private(tmp_path, open_umask):
    live = tmp_path / "xop.sqlite"
    make_sqlite(live, 10)
    root = tmp_path / "bk"
    manifest = take_backup(BackupSpec(kind="sqlite", path=live), system="embedded", directory=root, now=NOW)
    write_manifest(manifest)
    found = modes(root)
    assert len(found) == 4  # root, embedded/, the archive, its manifest
    for path, mode in found.items():
        assert mode == (0o700 if (root / path).is_dir() else 0o600), (path, oct(mode))


def test_an_existing_open_folder_is_closed(tmp_path, open_umask):
    live = tmp_path / "xop.sqlite"
    make_sqlite(live, 1)
    root = tmp_path / "bk"
    (root / "embedded").mkdir(parents=True, mode=0o777)
    take_backup(BackupSpec(kind="sqlite", path=live), system="embedded", directory=root, now=NOW)
    assert stat.S_IMODE((root / "embedded").stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700

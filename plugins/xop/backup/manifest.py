"""The manifest written beside every backup: what it holds and how to check it.

A backup ``<system>-<UTC stamp>.dump`` has ``<same>.manifest.json`` beside it. The manifest is
written last (after the archive was verified and renamed into place): a backup without a
manifest is incomplete and never chosen for a restore.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from xop.backup.files import create_private

MANIFEST_SUFFIX = ".manifest.json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupManifest(BaseModel):
    """One completed backup. Paths are stored absolute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    kind: Literal["postgres", "sqlite"]
    database: str
    taken_at: AwareDatetime
    path: Path
    size: int
    sha256: str
    globals_path: Path | None = None
    globals_sha256: str | None = None
    globals_without_passwords: bool = False
    verified: bool
    verify_method: str
    row_counts: dict[str, int]
    duration_seconds: float
    server_version: str = ""

    @property
    def manifest_path(self) -> Path:
        return manifest_path_for(self.path)

    def files(self) -> list[Path]:
        """Every file that belongs to this backup, manifest last."""
        found = [self.path]
        if self.globals_path is not None:
            found.append(self.globals_path)
        found.append(self.manifest_path)
        return found


def manifest_path_for(archive: Path) -> Path:
    return archive.with_name(archive.name + MANIFEST_SUFFIX)


def write_manifest(manifest: BackupManifest) -> Path:
    """Write the manifest atomically (temp name, fsync, rename)."""
    target = manifest.manifest_path
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a crash
    with create_private(tmp) as handle:
        handle.write((json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target


def clear_incomplete(final: Path, *companions: Path) -> None:
    """Remove what a backup attempt that died left under ``final``'s name, before a new one.

    A try killed mid-dump leaves ``.<final name>.partial-<pid>`` files (its ``finally`` never ran);
    one killed between the rename and the manifest leaves the archive without a manifest, which
    is incomplete by definition. Same name means same system and timestamp: an earlier try of
    this very backup (the audit stamps a retry with its run's ``now``), never another backup.
    A completed backup (manifest present) is left alone: :func:`xop.backup.take_backup` reuses it.
    """
    for path in (final, *companions):
        for partial in path.parent.glob(f".{path.name}.partial-*"):
            partial.unlink(missing_ok=True)
    if final.exists() and not manifest_path_for(final).exists():
        for path in (final, *companions):
            path.unlink(missing_ok=True)


def read_manifest(path: Path) -> BackupManifest:
    return BackupManifest.model_validate_json(path.read_text())


def list_manifests(directory: Path, *, system: str) -> list[BackupManifest]:
    """The backups of ``system`` under ``directory/<system>``, oldest first."""
    folder = directory / system
    if not folder.is_dir():
        return []
    manifests = [read_manifest(p) for p in folder.glob(f"{system}-*{MANIFEST_SUFFIX}")]
    manifests = [m for m in manifests if m.system == system]
    return sorted(manifests, key=lambda m: m.taken_at)


def backup_stamp(now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware datetime (UTC)")
    return now.astimezone(UTC).strftime(STAMP_FORMAT)

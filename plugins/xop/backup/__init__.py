"""Verified backups of the system databases, publication to the FTP site, restore on demand.

Public API (imported lazily so that DAG files importing :mod:`xop.backup.assets` stay light)::

    take_backup(spec, *, system, directory, now, engine=None) -> BackupManifest
    verify_backup(manifest) -> None
    list_backups(directory, *, system) -> list[BackupManifest]
    latest_verified(directory, *, system, on=None) -> BackupManifest | None
    apply_retention(directory, *, system, retention, now, dry_run=False, engine=None)
    restore_backup(spec, manifest, *, target, now, dry_run, confirmation) -> RestoreResult
    publish(spec, *, files, now, engine=None) -> PublicationResult
"""

from __future__ import annotations

import importlib
from typing import Any

from xop.core.specs.backup import BackupSpec, FtpSpec, ImageSpec, PublicationSpec, RetentionSpec

_LAZY = {
    "take_backup": "xop.backup.api",
    "verify_backup": "xop.backup.api",
    "list_backups": "xop.backup.api",
    "latest_verified": "xop.backup.api",
    "apply_retention": "xop.backup.api",
    "record_backup": "xop.backup.api",
    "RetentionResult": "xop.backup.api",
    "BackupManifest": "xop.backup.manifest",
    "restore_backup": "xop.backup.restore",
    "RestoreResult": "xop.backup.restore",
    "publish": "xop.backup.publication",
    "PublicationResult": "xop.backup.publication",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xop.backup' has no attribute {name!r}")


__all__ = ["BackupSpec", "FtpSpec", "ImageSpec", "PublicationSpec", "RetentionSpec", *_LAZY]

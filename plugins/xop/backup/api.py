"""The entry points the daily audit and the DAGs call: take, verify, find and prune backups.

Layout on disk: ``<directory>/<system>/<system>-<YYYYmmddTHHMMSSZ>.dump`` (PostgreSQL custom
format, plus ``.globals.sql``) or ``.sqlite3``, each with ``.manifest.json`` beside it. The
manifest is written last; a backup without one is incomplete and ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from xop.backup.manifest import BackupManifest, backup_stamp, list_manifests, write_manifest
from xop.backup.pgserver import PgServer
from xop.backup.postgres import take_postgres_backup, verify_full_read
from xop.backup.retention import select_kept
from xop.backup.sqlite import sha256_file, take_sqlite_backup, verify_sqlite_file
from xop.backup.tables import backups
from xop.core.errors import BackupError
from xop.core.specs.backup import BackupSpec, RetentionSpec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def take_backup(
    spec: BackupSpec, *, system: str, directory: Path, now: datetime, engine: Engine | None = None
) -> BackupManifest:
    """Back up the database of ``system`` and return its manifest (verified, renamed in place).

    ``directory`` is the backup root (``spec.directory`` wins when set); ``now`` stamps the
    file name and ``taken_at``. With ``engine`` (the XOP database) a ``backups`` row is also
    written. Idempotent per (system, ``now``): when a verified backup with this stamp exists (an
    earlier try of the same task completed it), it is verified again and returned, not taken
    twice; what an attempt that died left half-written is removed first. Raises
    :class:`~xop.core.errors.BackupError` and leaves no file under a final name.
    """
    root = Path(spec.directory or directory)
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware datetime (UTC)")
    if (earlier := _completed_at(root, system=system, now=now)) is not None:
        # A retried task (its first try died after the backup was complete): the backup is taken
        # once. Read it whole again, as if just taken, instead of failing on the existing name.
        verify_backup(earlier)
        log.info("backup of %s at %s was completed by an earlier try: verified, reused", system, now)
        if engine is not None:
            record_backup(engine, earlier)
        return earlier
    if spec.kind == "postgres":
        assert spec.conn_id is not None  # enforced by BackupSpec
        server = PgServer.from_connection(spec.conn_id, database=spec.database)
        manifest = take_postgres_backup(
            server, system=system, directory=root, now=now, include_globals=spec.include_globals
        )
    else:
        assert spec.path is not None
        manifest = take_sqlite_backup(spec.path, system=system, directory=root, now=now)
    write_manifest(manifest)
    log.info(
        "backup of %s: %s, %d bytes, sha256 %s, %d tables, %.1f s",
        system,
        manifest.path.name,
        manifest.size,
        manifest.sha256,
        len(manifest.row_counts),
        manifest.duration_seconds,
    )
    if engine is not None:
        record_backup(engine, manifest)
    return manifest


def _completed_at(root: Path, *, system: str, now: datetime) -> BackupManifest | None:
    """The verified backup of ``system`` stamped ``now`` (same second), if one was completed."""
    stamp = backup_stamp(now)
    for manifest in list_backups(root, system=system):
        if manifest.verified and backup_stamp(manifest.taken_at) == stamp:
            return manifest
    return None


def verify_backup(manifest: BackupManifest) -> None:
    """Check the archive against its manifest (size, SHA-256) and read it whole."""

    if not manifest.path.is_file():
        raise BackupError(f"backup file {manifest.path} is missing")
    size, sha256 = sha256_file(manifest.path)
    if size != manifest.size or sha256 != manifest.sha256:
        raise BackupError(
            f"backup {manifest.path} does not match its manifest: size {size} (expected "
            f"{manifest.size}), sha256 {sha256} (expected {manifest.sha256})"
        )
    if manifest.globals_path is not None:
        _, globals_sha = sha256_file(manifest.globals_path)
        if globals_sha != manifest.globals_sha256:
            raise BackupError(f"globals file {manifest.globals_path} does not match its manifest")
    if manifest.kind == "postgres":
        verify_full_read(manifest.path, expect_tables=manifest.row_counts)
    else:
        counts = verify_sqlite_file(manifest.path)
        if counts != manifest.row_counts:
            raise BackupError(f"backup {manifest.path}: row counts differ from its manifest")


def list_backups(directory: Path, *, system: str) -> list[BackupManifest]:
    """Completed backups of ``system`` (those with a manifest), oldest first."""
    return list_manifests(Path(directory), system=system)


def latest_verified(directory: Path, *, system: str, on: date | None = None) -> BackupManifest | None:
    """The newest verified backup of ``system`` (taken on the UTC date ``on`` if given)."""
    for manifest in reversed(list_backups(directory, system=system)):
        if not manifest.verified or not manifest.path.is_file():
            continue
        if on is None or manifest.taken_at.astimezone(UTC).date() == on:
            return manifest
    return None


@dataclass
class RetentionResult:
    kept: dict[str, list[str]] = field(default_factory=dict)  # path -> reasons
    deleted: list[Path] = field(default_factory=list)


def apply_retention(
    directory: Path,
    *,
    system: str,
    retention: RetentionSpec,
    now: datetime,
    dry_run: bool = False,
    engine: Engine | None = None,
) -> RetentionResult:
    """Delete the backups of ``system`` that the retention rules do not keep.

    Never deletes the newest verified backup. Files of a deleted backup go archive first,
    manifest last, so an interrupted prune never leaves a manifest pointing at nothing usable
    that :func:`latest_verified` would pick (it also checks the file exists).
    """
    manifests = list_backups(directory, system=system)
    kept = select_kept(manifests, retention, now=now)
    result = RetentionResult(kept=kept)
    for manifest in manifests:
        if str(manifest.path) in kept:
            continue
        result.deleted.append(manifest.path)
        if dry_run:
            continue
        for path in manifest.files():
            path.unlink(missing_ok=True)
        log.info("retention removed %s (taken %s)", manifest.path.name, manifest.taken_at.isoformat())
    if engine is not None and result.deleted and not dry_run:
        from sqlalchemy import update

        with engine.begin() as conn:
            conn.execute(
                update(backups)
                .where(backups.c.path.in_([str(p) for p in result.deleted]), backups.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
    return result


def record_backup(engine: Engine, manifest: BackupManifest) -> None:
    """Insert the ``backups`` row of ``manifest`` (idempotent on the archive path)."""
    from sqlalchemy import insert, select

    values = {
        "system": manifest.system,
        "kind": manifest.kind,
        "database": manifest.database,
        "taken_at": manifest.taken_at,
        "path": str(manifest.path),
        "size": manifest.size,
        "sha256": manifest.sha256,
        "globals_path": str(manifest.globals_path) if manifest.globals_path else None,
        "globals_sha256": manifest.globals_sha256,
        "verified": manifest.verified,
        "verify_method": manifest.verify_method,
        "row_counts": manifest.row_counts,
        "duration_seconds": manifest.duration_seconds,
    }
    with engine.begin() as conn:
        exists = conn.execute(select(backups.c.id).where(backups.c.path == values["path"])).first()
        if exists is None:
            conn.execute(insert(backups).values(**values))

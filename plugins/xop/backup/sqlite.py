"""SQLite backups through the online backup API (consistent while the database is in use).

The copy is checked with ``PRAGMA integrity_check`` (reads every page) and its tables counted,
then hashed and renamed into place. SQLite writes the copy page by page through its own pager,
so the hash is a second read of the (small, page-cached) copy rather than a same-pass digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from xop.backup.files import create_private, make_private, private_dir
from xop.backup.manifest import BackupManifest, backup_stamp, clear_incomplete
from xop.core.errors import BackupError

VERIFY_METHOD = "PRAGMA integrity_check (full read)"


def take_sqlite_backup(source: Path, *, system: str, directory: Path, now: datetime) -> BackupManifest:
    started = time.monotonic()
    if not source.is_file():
        raise BackupError(f"SQLite database {source} of system {system!r} does not exist")
    folder = private_dir(directory / system, root=directory)
    final = folder / f"{system}-{backup_stamp(now)}.sqlite3"
    clear_incomplete(final)
    if final.exists():
        raise BackupError(f"{final} already exists: a backup with this timestamp was taken before")
    tmp = folder / f".{final.name}.partial-{os.getpid()}"
    try:
        create_private(tmp).close()  # SQLite keeps the mode of an existing (empty) file
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            src.close()
        try:
            check_integrity(dst, tmp)
            row_counts = count_rows(dst)
        finally:
            dst.close()
        size, sha256 = sha256_file(tmp)
        make_private(tmp)
        os.replace(tmp, final)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupManifest(
        system=system,
        kind="sqlite",
        database=str(source.resolve()),
        taken_at=now,
        path=final.resolve(),
        size=size,
        sha256=sha256,
        verified=True,
        verify_method=VERIFY_METHOD,
        row_counts=row_counts,
        duration_seconds=round(time.monotonic() - started, 3),
        server_version=sqlite3.sqlite_version,
    )


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if rows != ["ok"]:
        raise BackupError(f"SQLite file {path} failed integrity_check: {rows[:5]}")


def count_rows(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts = {}
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        counts[f"main.{name}"] = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
    return counts


def verify_sqlite_file(path: Path) -> dict[str, int]:
    """Full read of a SQLite backup; returns its row counts."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            check_integrity(conn, path)
            return count_rows(conn)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"SQLite file {path} is not a readable database: {exc}") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()

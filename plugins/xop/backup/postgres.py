"""PostgreSQL backups: ``pg_dump -Fc`` streamed through Python, hashed in the same pass.

Why stream through Python instead of ``pg_dump -f``: the SHA-256 is computed on the bytes as
they are written, so the archive is read once for hashing, and nothing ever sits under the
final name before it was verified.

Consistency: the row counts recorded in the manifest are taken in the very snapshot pg_dump
dumps (``pg_export_snapshot()`` + ``pg_dump --snapshot``), so a restore can compare them
exactly.

Verification reads the WHOLE archive: ``pg_restore --file=/dev/null`` renders every object and
inflates every table's data; each data block is a zlib stream with an Adler-32 trailer, so a
flipped or truncated byte in the data fails with "could not uncompress data". ``pg_restore
--list`` only reads the table of contents and misses that. A restore into a scratch database
would also read everything, but needs CREATEDB and the disk space of the live database, so it is
done by a restore (:mod:`xop.backup.restore`), not by every nightly backup. The TOC is also
compared with the counted tables: every table must have its data entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from xop.backup.files import create_private, private_dir
from xop.backup.manifest import BackupManifest, backup_stamp, clear_incomplete
from xop.backup.pgserver import PgServer, pg_program
from xop.core.errors import BackupError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
VERIFY_METHOD = "pg_restore --file=/dev/null (full read) + TOC vs tables"

_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def take_postgres_backup(
    server: PgServer, *, system: str, directory: Path, now: datetime, include_globals: bool = True
) -> BackupManifest:
    """Dump, hash, verify and rename into ``directory/<system>/<system>-<stamp>.dump``."""
    started = time.monotonic()
    folder = private_dir(directory / system, root=directory)
    final = folder / f"{system}-{backup_stamp(now)}.dump"
    final_globals = final.with_name(final.stem + ".globals.sql")
    clear_incomplete(final, final_globals)
    if final.exists():
        raise BackupError(f"{final} already exists: a backup with this timestamp was taken before")
    tmp = folder / f".{final.name}.partial-{os.getpid()}"
    tmp_globals = folder / f".{final_globals.name}.partial-{os.getpid()}"
    try:
        with server.connect() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            version = conn.execute("SHOW server_version").fetchone()[0]
            size, sha256 = dump_to(server, tmp, extra_args=[f"--snapshot={snapshot}"])
            row_counts = count_rows(conn)
            conn.rollback()
        log.info("dumped %s (%s) to %s: %d bytes, sha256 %s", system, server.database, tmp.name, size, sha256)
        verify_full_read(tmp, expect_tables=row_counts)
        globals_sha, without_passwords = None, False
        if include_globals:
            globals_sha, without_passwords = dump_globals(server, tmp_globals)
            os.replace(tmp_globals, final_globals)
        os.replace(tmp, final)
        _fsync_dir(folder)
    except BaseException:
        for leftover in (tmp, tmp_globals):
            leftover.unlink(missing_ok=True)
        raise
    return BackupManifest(
        system=system,
        kind="postgres",
        database=server.database,
        taken_at=now,
        path=final.resolve(),
        size=size,
        sha256=sha256,
        globals_path=final_globals.resolve() if include_globals else None,
        globals_sha256=globals_sha,
        globals_without_passwords=without_passwords,
        verified=True,
        verify_method=VERIFY_METHOD,
        row_counts=row_counts,
        duration_seconds=round(time.monotonic() - started, 3),
        server_version=version,
    )


def dump_to(server: PgServer, target: Path, *, extra_args: list[str] | None = None) -> tuple[int, str]:
    """Run ``pg_dump -Fc`` into ``target``, hashing the stream; returns (size, sha256 hex)."""
    argv = [pg_program("pg_dump"), "--format=custom", "--no-password", *(extra_args or [])]
    return _stream_program(argv, server, target)


def dump_globals(server: PgServer, target: Path) -> tuple[str, bool]:
    """``pg_dumpall --globals-only``; without role passwords if the role may not read them."""
    # pg_dumpall picks its own maintenance database (postgres, else template1).
    argv = [pg_program("pg_dumpall"), "--globals-only", "--no-password"]
    try:
        _, sha = _stream_program(argv, server, target)
        return sha, False
    except BackupError as exc:
        if "permission denied" not in str(exc):
            raise
        log.warning("role %s may not read pg_authid: globals saved without role passwords", server.user)
        _, sha = _stream_program([*argv, "--no-role-passwords"], server, target)
        return sha, True


def _stream_program(argv: list[str], server: PgServer, target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with tempfile.TemporaryFile() as stderr, create_private(target) as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=server.env(), bufsize=0)
        assert proc.stdout is not None
        try:
            while n := proc.stdout.readinto(buffer):
                chunk = view[:n]
                digest.update(chunk)
                out.write(chunk)
                size += n
        finally:
            proc.stdout.close()
            returncode = proc.wait()
        out.flush()
        os.fsync(out.fileno())
        if returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"{Path(argv[0]).name} of {server.database!r} failed ({returncode}): {message}")
    return size, digest.hexdigest()


def count_rows(conn) -> dict[str, int]:
    """Exact row count of every user table, keyed ``schema.table``, in the connection's snapshot."""
    from psycopg import sql

    counts: dict[str, int] = {}
    for schema, table in conn.execute(_TABLES_SQL).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


def verify_full_read(archive: Path, *, expect_tables: dict[str, int] | None = None) -> None:
    """Read the whole archive with pg_restore; raise :class:`BackupError` if anything is off."""
    restore = pg_program("pg_restore")
    result = subprocess.run(
        [restore, "--file=/dev/null", str(archive)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"archive {archive} failed the full read: {result.stderr.strip()[-2000:]}")
    if expect_tables is None:
        return
    listing = subprocess.run([restore, "--list", str(archive)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise BackupError(f"cannot list archive {archive}: {listing.stderr.strip()[-2000:]}")
    missing = missing_table_data(listing.stdout, expect_tables)
    if missing:
        raise BackupError(f"archive {archive} lacks the data of tables {missing}")


def missing_table_data(listing: str, tables: dict[str, int]) -> list[str]:
    """Tables (``schema.table``) without a TABLE DATA entry in a ``pg_restore --list`` output.

    Entries read "3370; 0 16390 TABLE DATA public items postgres"; names are not quoted, so
    match the whole "TABLE DATA <schema> <table> " run (a name may contain spaces).
    """
    entries = [line for line in listing.splitlines() if " TABLE DATA " in line and not line.startswith(";")]
    missing = []
    for key in tables:
        schema, _, table = key.partition(".")
        needle = f" TABLE DATA {schema} {table} "
        if not any(needle in line for line in entries):
            missing.append(key)
    return sorted(missing)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Restore a backup: verify it, restore into a scratch database, check it, swap it in on request.

Order of steps, each logged; the live database is touched only by the final swap:

1. the archive's size and SHA-256 against its manifest;
2. restore into a new scratch database (PostgreSQL: CREATE DATABASE with the live one's
   owner/encoding/locale, then ``pg_restore --single-transaction --exit-on-error``; SQLite: a
   copy beside the live file);
3. sanity checks: every table of the manifest present, row counts equal to the manifest's;
4. ``target="replace"`` only, with the typed confirmation: connections to the live database are
   refused and terminated, then in ONE transaction the live database is renamed to
   ``<name>_pre_restore_<stamp>`` and the scratch one to ``<name>``. The old one is kept.

A failure before step 4 drops the scratch database and leaves the live one as it was; a failure
inside step 4 rolls the renames back and re-allows connections. ``dry_run`` performs step 1 plus
a full read of the archive and reports the plan without creating anything.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from xop.backup.api import verify_backup
from xop.backup.manifest import BackupManifest
from xop.core.errors import BackupError
from xop.core.specs.backup import BackupSpec

log = logging.getLogger(__name__)

RestoreTarget = Literal["scratch", "replace"]
_MAX_IDENT = 63


def confirmation_phrase(system: str) -> str:
    """What the operator must type to replace the live database of ``system``."""
    return f"replace {system}"


@dataclass
class RestoreResult:
    system: str
    backup: str
    target: RestoreTarget
    dry_run: bool
    live: str
    scratch: str
    swapped: bool = False
    previous_renamed_to: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def step(self, message: str) -> None:
        log.info("restore %s: %s", self.system, message)
        self.steps.append(message)


def restore_backup(
    spec: BackupSpec,
    manifest: BackupManifest,
    *,
    target: RestoreTarget,
    now: datetime,
    dry_run: bool = False,
    confirmation: str | None = None,
) -> RestoreResult:
    """Restore ``manifest`` for the system ``manifest.system`` described by ``spec``."""
    if target not in ("scratch", "replace"):
        raise BackupError(f"target {target!r} must be 'scratch' or 'replace'")
    if manifest.kind != spec.kind:
        raise BackupError(f"backup {manifest.path.name} is {manifest.kind}, the system is {spec.kind}")
    phrase = confirmation_phrase(manifest.system)
    if target == "replace" and not dry_run and (confirmation or "").strip() != phrase:
        raise BackupError(
            f"replacing the live database of {manifest.system!r} needs the confirmation {phrase!r}; "
            f"got {confirmation!r}. Nothing was changed."
        )
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    if spec.kind == "postgres":
        return _PostgresRestore(spec, manifest, target=target, stamp=stamp, dry_run=dry_run).run()
    return _SqliteRestore(spec, manifest, target=target, stamp=stamp, dry_run=dry_run).run()


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Human-readable differences between the manifest's row counts and the restored ones."""
    problems = [f"table {t} missing" for t in sorted(set(expected) - set(actual))]
    problems += [f"table {t} not in the manifest" for t in sorted(set(actual) - set(expected))]
    problems += [
        f"table {t}: {actual[t]} rows, manifest says {expected[t]}"
        for t in sorted(set(expected) & set(actual))
        if expected[t] != actual[t]
    ]
    return problems


class _PostgresRestore:
    def __init__(self, spec, manifest, *, target, stamp, dry_run) -> None:
        from xop.backup.pgserver import PgServer

        self.manifest = manifest
        self.server = PgServer.from_connection(spec.conn_id, database=spec.database)
        live = self.server.database
        if live in ("postgres", "template0", "template1"):
            raise BackupError(f"refusing to restore over the maintenance database {live!r}")
        self.result = RestoreResult(
            system=manifest.system,
            backup=str(manifest.path),
            target=target,
            dry_run=dry_run,
            live=live,
            scratch=_ident(live, f"_restore_{stamp}"),
        )
        self.previous = _ident(live, f"_pre_restore_{stamp}")

    def run(self) -> RestoreResult:
        from psycopg import sql

        result = self.result
        verify_backup(self.manifest)
        result.step(f"{self.manifest.path.name}: size and sha256 match the manifest; full read ok")
        with self.server.connect(database="postgres", autocommit=True) as admin:
            live_row = admin.execute(
                "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
                "FROM pg_database WHERE datname = %s",
                (result.live,),
            ).fetchone()
            for name in (result.scratch, self.previous):
                if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    raise BackupError(f"database {name!r} already exists; nothing was changed")
            if result.dry_run:
                result.step(
                    f"dry run: would create {result.scratch!r}, restore {self.manifest.path.name} into it, "
                    f"check {len(self.manifest.row_counts)} tables"
                    + (
                        f", then rename {result.live!r} to {self.previous!r} and {result.scratch!r} "
                        f"to {result.live!r}"
                        if result.target == "replace"
                        else ""
                    )
                )
                return result
            create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(result.scratch))
            if live_row is not None:
                owner, encoding, collate, ctype = live_row
                create = sql.SQL("{} OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                    create,
                    sql.Identifier(owner),
                    sql.Literal(encoding),
                    sql.Literal(collate),
                    sql.Literal(ctype),
                )
            admin.execute(create)
            result.step(f"created scratch database {result.scratch!r}")
            try:
                self._restore_and_check()
            except BaseException:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(result.scratch))
                )
                result.step(f"dropped scratch database {result.scratch!r}; live database untouched")
                raise
            if result.target == "replace":
                self._swap(admin, live_exists=live_row is not None)
        return result

    def _restore_and_check(self) -> None:
        from xop.backup.pgserver import pg_program
        from xop.backup.postgres import count_rows

        result = self.result
        started = time.monotonic()
        proc = subprocess.run(
            [
                pg_program("pg_restore"),
                "--no-password",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={result.scratch}",
                str(self.manifest.path),
            ],
            env=self.server.with_database(result.scratch).env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BackupError(f"pg_restore into {result.scratch!r} failed: {proc.stderr.strip()[-2000:]}")
        result.step(f"restored into {result.scratch!r} in {time.monotonic() - started:.1f} s")
        with self.server.connect(database=result.scratch) as conn:
            result.row_counts = count_rows(conn)
        problems = compare_counts(self.manifest.row_counts, result.row_counts)
        if problems:
            raise BackupError(f"sanity checks of {result.scratch!r} failed: {'; '.join(problems)}")
        result.step(
            f"sanity checks passed: {len(result.row_counts)} tables, row counts equal to the manifest"
        )

    def _swap(self, admin, *, live_exists: bool) -> None:
        from psycopg import sql

        result = self.result
        live, scratch, previous = (sql.Identifier(n) for n in (result.live, result.scratch, self.previous))
        if not live_exists:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(scratch, live))
            result.swapped = True
            result.step(f"live database was absent: renamed {result.scratch!r} to {result.live!r}")
            return
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(live))
        try:
            _terminate_connections(admin, result.live)
            with admin.transaction():
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(live, previous))
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(scratch, live))
        except BaseException:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(live))
            result.step("swap failed: renames rolled back, live database allows connections again")
            raise
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(previous))
        result.swapped = True
        result.previous_renamed_to = self.previous
        result.step(f"swapped: {result.live!r} is the restored data; the old one is {self.previous!r}")


def _terminate_connections(admin, database: str, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()[0]
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise BackupError(f"{left} sessions still connected to {database!r} after {timeout:.0f} s")
        time.sleep(0.1)


class _SqliteRestore:
    def __init__(self, spec, manifest, *, target, stamp, dry_run) -> None:
        self.manifest = manifest
        self.live = Path(spec.path)
        self.scratch = self.live.with_name(f"{self.live.name}.restore-{stamp}")
        self.previous = self.live.with_name(f"{self.live.name}.pre-restore-{stamp}")
        self.result = RestoreResult(
            system=manifest.system,
            backup=str(manifest.path),
            target=target,
            dry_run=dry_run,
            live=str(self.live),
            scratch=str(self.scratch),
        )

    def run(self) -> RestoreResult:
        from xop.backup.sqlite import verify_sqlite_file

        result = self.result
        verify_backup(self.manifest)
        result.step(f"{self.manifest.path.name}: size and sha256 match the manifest; integrity ok")
        for path in (self.scratch, self.previous):
            if path.exists():
                raise BackupError(f"{path} already exists; nothing was changed")
        if result.dry_run:
            result.step(
                f"dry run: would copy to {self.scratch}, check it"
                + (", swap" if result.target == "replace" else "")
            )
            return result
        try:
            shutil.copyfile(self.manifest.path, self.scratch)
            result.row_counts = verify_sqlite_file(self.scratch)
            problems = compare_counts(self.manifest.row_counts, result.row_counts)
            if problems:
                raise BackupError(f"sanity checks of {self.scratch} failed: {'; '.join(problems)}")
        except BaseException:
            self.scratch.unlink(missing_ok=True)
            raise
        result.step(f"restored into {self.scratch}; {len(result.row_counts)} tables match the manifest")
        if result.target == "replace":
            if self.live.exists():
                os.replace(self.live, self.previous)
                result.previous_renamed_to = str(self.previous)
            try:
                os.replace(self.scratch, self.live)
            except BaseException:
                if result.previous_renamed_to:
                    os.replace(self.previous, self.live)
                raise
            result.swapped = True
            result.step(f"swapped: {self.live} is the restored data; the old one is {self.previous}")
        return result


def _ident(base: str, suffix: str) -> str:
    """``base + suffix`` within PostgreSQL's 63-byte identifier limit (the base is cut)."""
    room = _MAX_IDENT - len(suffix.encode())
    cut = base.encode()[:room].decode(errors="ignore")
    return cut + suffix

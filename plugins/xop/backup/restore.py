"""Restore a backup: verify it, restore into a scratch database, check it, swap it in when approved.

Order of steps, each logged; the live database is touched only by the swap:

1. the archive's size and SHA-256 against its manifest, and a full read;
2. restore into a new scratch database (PostgreSQL: CREATE DATABASE with the live one's
   owner/encoding/locale, then ``pg_restore --single-transaction --exit-on-error``; SQLite: a
   copy beside the live file);
3. sanity checks: every table of the manifest present, row counts equal to the manifest's; the
   live database's counts are read too, for the person who approves;
4. only when approved (a person in Airflow, or the typed confirmation up front): the crash-safe
   swap of :mod:`xop.backup.swap`; the old database keeps the name ``<name>_pre_restore_<stamp>``.

:func:`prepare_restore` is steps 1–3 (it keeps the scratch database), :func:`swap_restored` is
step 4, :func:`discard_scratch` drops the scratch database of a refused, timed-out or failed
restore. Each holds the system's restore lock. A failure in step 2 or 3 drops the scratch
database; a failed swap drops it too. ``dry_run`` performs step 1 and reports the plan without
creating anything. :func:`restore_backup` runs them in one call (scripts, the API).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from psycopg import sql

from xop.backup.api import verify_backup
from xop.backup.manifest import BackupManifest
from xop.backup.pgserver import PgServer, pg_program
from xop.backup.postgres import count_rows
from xop.backup.sqlite import verify_sqlite_file
from xop.backup.swap import (
    SWAP_STEPS,
    StepHook,
    file_restore_lock,
    file_swap,
    no_step,
    pg_restore_lock,
    pg_swap,
)
from xop.core.errors import BackupError
from xop.core.specs.backup import BackupSpec

log = logging.getLogger(__name__)

RestoreTarget = Literal["scratch", "replace"]
_MAX_IDENT = 63

__all__ = [
    "SWAP_STEPS",
    "ConfirmationRefused",
    "RestoreResult",
    "compare_counts",
    "confirmation_phrase",
    "discard_scratch",
    "prepare_restore",
    "restore_backup",
    "swap_restored",
    "was_swapped",
]


class ConfirmationRefused(BackupError):
    """The typed confirmation does not match: a person's decision, never worth a retry."""


def confirmation_phrase(system: str) -> str:
    """What the operator must type to replace the live database of ``system``."""
    return f"replace {system}"


def check_confirmation(system: str, confirmation: str | None) -> None:
    phrase = confirmation_phrase(system)
    if (confirmation or "").strip() != phrase:
        raise ConfirmationRefused(
            f"replacing the live database of {system!r} needs the confirmation {phrase!r}; "
            f"got {confirmation!r}. Nothing was changed."
        )


@dataclass
class RestoreResult:
    system: str
    backup: str
    target: RestoreTarget
    dry_run: bool
    kind: str
    live: str
    scratch: str
    previous: str
    sha256: str = ""
    taken_at: str = ""
    swapped: bool = False
    previous_renamed_to: str | None = None
    scratch_dropped: bool = False
    row_counts: dict[str, int] = field(default_factory=dict)
    live_row_counts: dict[str, int] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def step(self, message: str) -> None:
        log.info("restore %s: %s", self.system, message)
        self.steps.append(message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RestoreResult:
        return cls(**data)


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


# -- the three steps ------------------------------------------------------------------------------


def prepare_restore(
    spec: BackupSpec, manifest: BackupManifest, *, target: RestoreTarget, now: datetime, dry_run: bool = False
) -> RestoreResult:
    """Verify, restore into a scratch database and check it (steps 1–3); the scratch one is kept."""
    if target not in ("scratch", "replace"):
        raise BackupError(f"target {target!r} must be 'scratch' or 'replace'")
    if manifest.kind != spec.kind:
        raise BackupError(f"backup {manifest.path.name} is {manifest.kind}, the system is {spec.kind}")
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    engine = _PostgresRestore(spec) if spec.kind == "postgres" else _SqliteRestore(spec)
    result = engine.new_result(manifest, target=target, stamp=stamp, dry_run=dry_run)
    with engine.locked(result.system):
        engine.prepare(manifest, result)
    return result


def swap_restored(spec: BackupSpec, result: RestoreResult, *, on_step: StepHook = no_step) -> RestoreResult:
    """Swap the checked scratch database in (step 4); a failed swap drops the scratch database.

    Idempotent: a swap that completed before its process died is recognised (the scratch name
    is gone, the previous one exists) and reported as done.
    """
    engine = _PostgresRestore(spec) if spec.kind == "postgres" else _SqliteRestore(spec)
    with engine.locked(result.system):
        on_step("locked")
        engine.swap(result, on_step=on_step)
    return result


def discard_scratch(spec: BackupSpec, result: RestoreResult, *, why: str) -> RestoreResult:
    """Drop the scratch database of a restore that will not be swapped in; the live one is untouched."""
    engine = _PostgresRestore(spec) if spec.kind == "postgres" else _SqliteRestore(spec)
    with engine.locked(result.system):
        engine.drop_scratch(result)
    result.step(f"{why}: scratch database {result.scratch!r} dropped; live database unchanged")
    return result


def was_swapped(spec: BackupSpec, result: RestoreResult) -> bool:
    """Whether the swap of ``result`` happened: the previous name exists and the scratch one is gone."""
    engine = _PostgresRestore(spec) if spec.kind == "postgres" else _SqliteRestore(spec)
    return engine.was_swapped(result)


def restore_backup(
    spec: BackupSpec,
    manifest: BackupManifest,
    *,
    target: RestoreTarget,
    now: datetime,
    dry_run: bool = False,
    confirmation: str | None = None,
) -> RestoreResult:
    """All steps in one call: ``target="replace"`` needs the typed confirmation (not for a dry run)."""
    if target == "replace" and not dry_run:
        check_confirmation(manifest.system, confirmation)
    result = prepare_restore(spec, manifest, target=target, now=now, dry_run=dry_run)
    if target == "replace" and not dry_run:
        swap_restored(spec, result)
    return result


# -- PostgreSQL -----------------------------------------------------------------------------------


class _PostgresRestore:
    def __init__(self, spec: BackupSpec) -> None:
        assert spec.conn_id is not None  # BackupSpec validates it for kind postgres
        self.server = PgServer.from_connection(spec.conn_id, database=spec.database)
        if self.server.database in ("postgres", "template0", "template1"):
            raise BackupError(f"refusing to restore over the maintenance database {self.server.database!r}")
        self._admin = None

    def admin(self):
        if self._admin is None:
            self._admin = self.server.connect(database="postgres", autocommit=True)
        return self._admin

    @contextlib.contextmanager
    def locked(self, system: str) -> Iterator[None]:
        try:
            with pg_restore_lock(self.admin(), system):
                yield
        finally:
            if self._admin is not None:
                self._admin.close()
                self._admin = None

    def new_result(self, manifest, *, target, stamp, dry_run) -> RestoreResult:
        live = self.server.database
        return RestoreResult(
            system=manifest.system,
            backup=str(manifest.path),
            target=target,
            dry_run=dry_run,
            kind="postgres",
            live=live,
            scratch=_ident(live, f"_restore_{stamp}"),
            previous=_ident(live, f"_pre_restore_{stamp}"),
            sha256=manifest.sha256,
            taken_at=manifest.taken_at.isoformat(),
        )

    def was_swapped(self, result: RestoreResult) -> bool:
        try:
            return self._exists(result.previous) and not self._exists(result.scratch)
        finally:
            if self._admin is not None:
                self._admin.close()
                self._admin = None

    def _exists(self, name: str) -> bool:
        return (
            self.admin().execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )

    def prepare(self, manifest: BackupManifest, result: RestoreResult) -> None:
        admin = self.admin()
        verify_backup(manifest)
        result.step(
            f"{manifest.path.name}: size and sha256 {manifest.sha256[:16]}… match the manifest; full read ok"
        )
        live_row = admin.execute(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
            "FROM pg_database WHERE datname = %s",
            (result.live,),
        ).fetchone()
        for name in (result.scratch, result.previous):
            if self._exists(name):
                raise BackupError(f"database {name!r} already exists; nothing was changed")
        if live_row is not None:
            with self.server.connect() as live:
                result.live_row_counts = count_rows(live)
        if result.dry_run:
            result.step(
                f"dry run: would create {result.scratch!r}, restore {manifest.path.name} into it, "
                f"check {len(manifest.row_counts)} tables"
                + (
                    f", then rename {result.live!r} to {result.previous!r} and {result.scratch!r} "
                    f"to {result.live!r}"
                    if result.target == "replace"
                    else ""
                )
            )
            return
        create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(result.scratch))
        if live_row is not None:
            owner, encoding, collate, ctype = live_row
            create = sql.SQL("{} OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                create, sql.Identifier(owner), sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)
            )
        admin.execute(create)
        result.step(f"created scratch database {result.scratch!r}")
        try:
            self._restore_and_check(manifest, result)
        except BaseException:
            self.drop_scratch(result)
            result.step(f"dropped scratch database {result.scratch!r}; live database untouched")
            raise

    def _restore_and_check(self, manifest: BackupManifest, result: RestoreResult) -> None:
        started = time.monotonic()
        proc = subprocess.run(
            [
                pg_program("pg_restore"),
                "--no-password",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={result.scratch}",
                str(manifest.path),
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
        problems = compare_counts(manifest.row_counts, result.row_counts)
        if problems:
            raise BackupError(f"sanity checks of {result.scratch!r} failed: {'; '.join(problems)}")
        result.step(
            f"sanity checks passed: {len(result.row_counts)} tables, row counts equal to the manifest"
        )

    def swap(self, result: RestoreResult, *, on_step: StepHook) -> None:
        admin = self.admin()
        scratch_there, previous_there = self._exists(result.scratch), self._exists(result.previous)
        if not scratch_there and previous_there and self._exists(result.live):
            result.swapped, result.previous_renamed_to = True, result.previous
            result.step(
                f"already swapped: {result.live!r} is the restored data; the old one is {result.previous!r}"
            )
            return
        if not scratch_there:
            raise BackupError(
                f"scratch database {result.scratch!r} is gone: nothing to swap in; nothing was changed"
            )
        try:
            if not self._exists(result.live):
                admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(result.scratch), sql.Identifier(result.live)
                    )
                )
                on_step("committed")
                result.step(f"live database was absent: renamed {result.scratch!r} to {result.live!r}")
            else:
                pg_swap(
                    admin, live=result.live, scratch=result.scratch, previous=result.previous, on_step=on_step
                )
                result.previous_renamed_to = result.previous
                result.step(
                    f"swapped: {result.live!r} is the restored data; the old one is {result.previous!r}"
                )
        except Exception:
            self.drop_scratch(result)
            result.step(f"swap failed: nothing renamed; scratch database {result.scratch!r} dropped")
            raise
        result.swapped = True

    def drop_scratch(self, result: RestoreResult) -> None:
        self.admin().execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(result.scratch))
        )
        result.scratch_dropped = True


# -- SQLite ---------------------------------------------------------------------------------------


class _SqliteRestore:
    def __init__(self, spec: BackupSpec) -> None:
        assert spec.path is not None  # BackupSpec validates it for kind sqlite
        self.live = Path(spec.path)

    def locked(self, system: str):
        return file_restore_lock(self.live, system)

    def new_result(self, manifest, *, target, stamp, dry_run) -> RestoreResult:
        return RestoreResult(
            system=manifest.system,
            backup=str(manifest.path),
            target=target,
            dry_run=dry_run,
            kind="sqlite",
            live=str(self.live),
            scratch=str(self.live.with_name(f"{self.live.name}.restore-{stamp}")),
            previous=str(self.live.with_name(f"{self.live.name}.pre-restore-{stamp}")),
            sha256=manifest.sha256,
            taken_at=manifest.taken_at.isoformat(),
        )

    def prepare(self, manifest: BackupManifest, result: RestoreResult) -> None:
        scratch = Path(result.scratch)
        verify_backup(manifest)
        result.step(
            f"{manifest.path.name}: size and sha256 {manifest.sha256[:16]}… match the manifest; integrity ok"
        )
        for path in (scratch, Path(result.previous)):
            if path.exists():
                raise BackupError(f"{path} already exists; nothing was changed")
        if self.live.exists():
            result.live_row_counts = verify_sqlite_file(self.live)
        if result.dry_run:
            result.step(
                f"dry run: would copy to {scratch}, check it"
                + (", swap" if result.target == "replace" else "")
            )
            return
        try:
            shutil.copyfile(manifest.path, scratch)
            result.row_counts = verify_sqlite_file(scratch)
            problems = compare_counts(manifest.row_counts, result.row_counts)
            if problems:
                raise BackupError(f"sanity checks of {scratch} failed: {'; '.join(problems)}")
        except BaseException:
            self.drop_scratch(result)
            raise
        result.step(f"restored into {scratch}; {len(result.row_counts)} tables match the manifest")

    def was_swapped(self, result: RestoreResult) -> bool:
        return Path(result.previous).exists() and not Path(result.scratch).exists()

    def swap(self, result: RestoreResult, *, on_step: StepHook) -> None:
        scratch, previous = Path(result.scratch), Path(result.previous)
        if not scratch.exists() and previous.exists() and self.live.exists():
            result.swapped, result.previous_renamed_to = True, str(previous)
            result.step(f"already swapped: {self.live} is the restored data; the old one is {previous}")
            return
        if not scratch.exists():
            raise BackupError(f"scratch file {scratch} is gone: nothing to swap in; nothing was changed")
        try:
            had_live = file_swap(self.live, scratch, previous, on_step=on_step)
        except Exception:
            self.drop_scratch(result)
            raise
        result.swapped = True
        result.previous_renamed_to = str(previous) if had_live else None
        result.step(f"swapped: {self.live} is the restored data; the old one is {previous}")

    def drop_scratch(self, result: RestoreResult) -> None:
        Path(result.scratch).unlink(missing_ok=True)
        result.scratch_dropped = True


def _ident(base: str, suffix: str) -> str:
    """``base + suffix`` within PostgreSQL's 63-byte identifier limit (the base is cut)."""
    room = _MAX_IDENT - len(suffix.encode())
    cut = base.encode()[:room].decode(errors="ignore")
    return cut + suffix

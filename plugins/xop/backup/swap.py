"""Swapping a checked scratch database in for the live one, safe against a process dying anywhere.

PostgreSQL: the live database is never set to refuse connections. Sessions on the live database
are terminated, then ONE transaction renames live → ``<name>_pre_restore_<stamp>`` and scratch →
``<name>``. ``ALTER DATABASE … RENAME`` takes an exclusive lock on the database object, which a
new session must share to connect, so once the first rename holds it nobody gets in; a session
that slipped in between the termination and the lock makes the rename fail ("being accessed by
other users"), and the step is retried. Whatever moment the process dies, PostgreSQL rolls the
open transaction back (nothing changed, both databases accept connections) or it had committed
(the swap is complete). A swap that fails drops its scratch database.

SQLite: the live file is hard-linked to the ``pre-restore`` name first, then the scratch file
replaces it with one atomic ``rename(2)``: the live path always names a complete database.

One restore per system at a time: a PostgreSQL advisory lock (session level, on the server's
``postgres`` database, so it ends with the session that dies) or, for SQLite, an ``flock`` on
``<file>.restore.lock``. A second restore gets :class:`RestoreBusy` at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from psycopg import errors, sql

from xop.core.errors import BackupError

log = logging.getLogger(__name__)

#: Called with the name of each step as it is reached (tests kill the process there).
StepHook = Callable[[str], None]
SWAP_STEPS = ("locked", "sessions_terminated", "live_renamed", "scratch_renamed", "committed")


class RestoreBusy(BackupError):
    """Another restore of the same system holds the lock."""


def no_step(_step: str) -> None:
    pass


def lock_key(system: str) -> str:
    return f"xop-restore:{system}"


@contextlib.contextmanager
def pg_restore_lock(admin, system: str) -> Iterator[None]:
    """Session-level advisory lock of ``system``'s restores on the admin connection."""
    key = lock_key(system)
    got = admin.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]
    if not got:
        holder = admin.execute(
            "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
            "AND l.objid = (hashtextextended(%s, 0) & 4294967295)::oid LIMIT 1",
            (key,),
        ).fetchone()
        who = (
            f" (server process {holder[0]}, {holder[1]!r}, since {holder[2]:%Y-%m-%d %H:%M:%S %Z})"
            if holder
            else ""
        )
        raise RestoreBusy(
            f"another restore of {system!r} is running{who}: one restore per system at a time; "
            "nothing was changed"
        )
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a dead connection released it already
            admin.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@contextlib.contextmanager
def file_restore_lock(live: Path, system: str) -> Iterator[None]:
    """``flock`` on ``<live>.restore.lock`` (released by the kernel when the process dies)."""
    path = live.with_name(f"{live.name}.restore.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RestoreBusy(
                f"another restore of {system!r} is running (lock {path}): one restore per system at a time; "
                "nothing was changed"
            ) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # removed while still held: nothing is left beside the file
    finally:
        os.close(fd)


def pg_swap(
    admin,
    *,
    live: str,
    scratch: str,
    previous: str,
    on_step: StepHook = no_step,
    attempts: int = 20,
) -> None:
    """Rename live → previous and scratch → live in one transaction (admin is autocommit)."""
    live_id, scratch_id, previous_id = (sql.Identifier(n) for n in (live, scratch, previous))
    for attempt in range(1, attempts + 1):
        _terminate_connections(admin, live)
        on_step("sessions_terminated")
        try:
            with admin.transaction():
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(live_id, previous_id))
                on_step("live_renamed")
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(scratch_id, live_id))
                on_step("scratch_renamed")
        except errors.ObjectInUse:
            if attempt == attempts:
                raise BackupError(
                    f"{live!r} kept getting new sessions; tried {attempts} times. Nothing was changed"
                ) from None
            log.info("a session reached %r before the rename; terminating again (%d)", live, attempt)
            time.sleep(0.05 * attempt)
            continue
        on_step("committed")
        return


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


def file_swap(live: Path, scratch: Path, previous: Path, *, on_step: StepHook = no_step) -> bool:
    """Keep the live file as ``previous`` (hard link) and move the scratch file over it atomically.

    Returns whether there was a live file to keep.
    """
    had_live = live.exists()
    if had_live:
        os.link(live, previous)
        on_step("live_renamed")
    try:
        os.replace(scratch, live)
    except BaseException:
        if had_live:
            previous.unlink(missing_ok=True)
        raise
    on_step("committed")
    return had_live

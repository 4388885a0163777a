"""The swap survives its process being killed at every step; one restore per system at a time.

A child process runs :func:`swap_restored` and stops at one named step; the test kills it with
SIGKILL there (what the OOM killer or a lost worker does) and then checks what a client sees:
the live database accepts connections and holds either the old data or the restored data, never
anything in between, and no database is left refusing connections. Running the swap again (the
task's retry) completes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.backup.conftest import admin
from xop.backup import BackupSpec, take_backup
from xop.backup.restore import RestoreResult, discard_scratch, prepare_restore, swap_restored
from xop.backup.swap import SWAP_STEPS, RestoreBusy, pg_restore_lock
from xop.core.paths import REPO_ROOT

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

CHILD = """
import json, sys, time
from xop.backup import BackupSpec
from xop.backup.restore import RestoreResult, swap_restored
spec = BackupSpec(kind="postgres", conn_id=sys.argv[1])
result = RestoreResult.from_dict(json.loads(sys.argv[2]))
stop_at = sys.argv[3]

def on_step(step):
    if step == stop_at:
        print("AT", step, flush=True)
        time.sleep(600)

swap_restored(spec, result, on_step=on_step)
print("DONE", flush=True)
"""


def run_child_until(step: str, conn_id: str, result: RestoreResult) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "plugins"))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, conn_id, json.dumps(result.as_dict()), step],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in child.stdout:  # Airflow's own log lines come first
        if line.strip() == f"AT {step}":
            return child
        seen.append(line)
    child.kill()
    raise AssertionError(f"child did not reach {step}: {''.join(seen)[-2000:]} {child.stderr.read()[-2000:]}")


def allow_connections(prefix: str) -> dict[str, bool]:
    with admin() as conn:
        rows = conn.execute(
            "SELECT datname, datallowconn FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall()
    return dict(rows)


def marker(db: str) -> str:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db, connect_timeout=30) as conn:
        return conn.execute("SELECT name FROM conferences WHERE id = 1").fetchone()[0]


@pytest.fixture
def prepared(system_db, tmp_path: Path):
    """A backup of the seeded database, then the live one edited, then a checked scratch restore."""
    spec = BackupSpec(kind="postgres", conn_id=system_db.conn_id)
    manifest = take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW)
    with system_db.connect() as conn:
        conn.execute("UPDATE conferences SET name = 'edited after the backup' WHERE id = 1")
    result = prepare_restore(spec, manifest, target="replace", now=NOW + timedelta(hours=1))
    assert result.live_row_counts == result.row_counts  # same tables and counts; one row edited
    return spec, result


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_killed_at_any_step_the_live_database_still_accepts_connections(prepared, system_db, step):
    spec, result = prepared
    child = run_child_until(step, system_db.conn_id, result)
    # A client session on the live database while the swap is parked (the swap terminates it).
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    assert all(allow_connections(system_db.name).values()), allow_connections(system_db.name)
    content = marker(system_db.name)
    if step == "committed":
        assert content == "conf 1"  # the swap had committed: restored data
    else:
        assert content == "edited after the backup"  # rolled back: the old data, untouched

    again = swap_restored(spec, RestoreResult.from_dict(result.as_dict()))  # the task's retry
    assert again.swapped
    assert marker(system_db.name) == "conf 1"
    assert marker(result.previous) == "edited after the backup"
    assert all(allow_connections(system_db.name).values())


def test_live_sessions_are_cut_and_new_ones_wait_for_the_swap(prepared, system_db):
    spec, result = prepared
    idle = system_db.connect()  # a client of the live database during the swap
    swap_restored(spec, result)
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")
    assert marker(system_db.name) == "conf 1"


def test_a_second_restore_of_the_same_system_is_refused(prepared, system_db):
    spec, result = prepared
    holder = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    entered, release = threading.Event(), threading.Event()

    def first_restore() -> None:
        with pg_restore_lock(holder, "acme-conf1"):
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=first_restore)
    thread.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RestoreBusy, match="another restore of 'acme-conf1' is running"):
            swap_restored(spec, result)
        with pytest.raises(RestoreBusy):
            discard_scratch(spec, result, why="refused")
        assert marker(system_db.name) == "edited after the backup"
    finally:
        release.set()
        thread.join()
        holder.close()
    assert swap_restored(spec, result).swapped  # free again once the first one ends


def test_lock_dies_with_the_process_that_held_it(prepared, system_db):
    spec, result = prepared
    child = run_child_until("locked", system_db.conn_id, result)
    try:
        with pytest.raises(RestoreBusy):
            swap_restored(spec, RestoreResult.from_dict(result.as_dict()))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert swap_restored(spec, result).swapped


def test_a_failed_swap_drops_its_scratch_database(prepared, system_db):
    spec, result = prepared
    with admin() as conn:  # make the rename impossible: the previous name is taken
        conn.execute(f'CREATE DATABASE "{result.previous}"')
    with pytest.raises(Exception, match="already exists"):
        swap_restored(spec, result)
    names = set(allow_connections(system_db.name))
    assert result.scratch not in names
    assert marker(system_db.name) == "edited after the backup"
    assert all(allow_connections(system_db.name).values())

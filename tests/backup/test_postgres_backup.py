"""PostgreSQL backup, verification and restore against the real local server."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.backup.conftest import admin, table_fingerprints
from xop.backup import BackupSpec, latest_verified, list_backups, restore_backup, take_backup, verify_backup
from xop.backup.postgres import verify_full_read
from xop.backup.restore import confirmation_phrase
from xop.core.errors import BackupError

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def databases(prefix: str) -> set[str]:
    with admin() as conn:
        return {
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        }


def spec_for(system_db) -> BackupSpec:
    return BackupSpec(kind="postgres", conn_id=system_db.conn_id)


def test_backup_files_manifest_and_counts(system_db, tmp_path: Path) -> None:
    manifest = take_backup(spec_for(system_db), system="acme-conf1", directory=tmp_path, now=NOW)

    folder = tmp_path / "acme-conf1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "acme-conf1-20261125T100000Z.dump",
        "acme-conf1-20261125T100000Z.dump.manifest.json",
        "acme-conf1-20261125T100000Z.globals.sql",
    ]
    assert manifest.verified and manifest.size == manifest.path.stat().st_size
    assert manifest.row_counts == {
        "billing.rates": 50,
        "public.call records": 20000,
        "public.conferences": 200,
        "public.empty_table": 0,
    }
    assert "CREATE ROLE postgres" in manifest.globals_path.read_text()
    assert list_backups(tmp_path, system="acme-conf1") == [manifest]
    verify_backup(manifest)


def test_round_trip_restores_identical_data(system_db, tmp_path: Path) -> None:
    with system_db.connect() as conn:
        before = table_fingerprints(conn)
    manifest = take_backup(spec_for(system_db), system="acme-conf1", directory=tmp_path, now=NOW)

    result = restore_backup(spec_for(system_db), manifest, target="scratch", now=NOW + timedelta(hours=1))

    assert result.scratch == f"{system_db.name}_restore_20261125110000" and not result.swapped
    with system_db.connect(result.scratch) as conn:
        assert table_fingerprints(conn) == before
    assert before["public.call records"][0] == 20000


def test_one_flipped_byte_is_detected_and_live_untouched(system_db, tmp_path: Path) -> None:
    manifest = take_backup(spec_for(system_db), system="acme-conf1", directory=tmp_path, now=NOW)
    data = bytearray(manifest.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the compressed data of the big table
    manifest.path.write_bytes(bytes(data))

    # The table of contents still reads fine: --list alone would call this archive good.
    listing = subprocess.run(["pg_restore", "--list", str(manifest.path)], capture_output=True, check=False)
    assert listing.returncode == 0
    with pytest.raises(BackupError, match="full read"):
        verify_full_read(manifest.path)
    with pytest.raises(BackupError, match="does not match its manifest"):
        verify_backup(manifest)
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore_backup(
            spec_for(system_db),
            manifest,
            target="replace",
            now=NOW,
            confirmation=confirmation_phrase("acme-conf1"),
        )
    assert databases(system_db.name) == {system_db.name}


def test_replace_needs_confirmation_then_swaps_keeping_old(system_db, tmp_path: Path) -> None:
    spec = spec_for(system_db)
    manifest = take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW)
    with system_db.connect() as conn:
        expected = table_fingerprints(conn)
        conn.execute('DELETE FROM "call records" WHERE id > 100')  # the accident to recover from
        conn.commit()
        damaged = table_fingerprints(conn)

    with pytest.raises(BackupError, match="needs the confirmation 'replace acme-conf1'"):
        restore_backup(spec, manifest, target="replace", now=NOW, confirmation="yes")
    assert databases(system_db.name) == {system_db.name}

    dry = restore_backup(spec, manifest, target="replace", now=NOW, dry_run=True)
    assert dry.dry_run and not dry.swapped and databases(system_db.name) == {system_db.name}

    idle = system_db.connect()  # a client still connected to the live database gets cut off
    result = restore_backup(
        spec, manifest, target="replace", now=NOW + timedelta(minutes=5), confirmation="replace acme-conf1"
    )
    idle.close()

    assert result.swapped and result.previous_renamed_to == f"{system_db.name}_pre_restore_20261125100500"
    assert databases(system_db.name) == {system_db.name, result.previous_renamed_to}
    with system_db.connect() as conn:
        assert table_fingerprints(conn) == expected
    with system_db.connect(result.previous_renamed_to) as conn:
        assert table_fingerprints(conn) == damaged


def test_failed_sanity_check_drops_scratch_and_leaves_live(system_db, tmp_path: Path) -> None:
    spec = spec_for(system_db)
    manifest = take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW)
    lying = manifest.model_copy(update={"row_counts": {**manifest.row_counts, "billing.rates": 51}})

    with pytest.raises(BackupError, match=r"billing.rates: 50 rows, manifest says 51"):
        restore_backup(spec, lying, target="replace", now=NOW, confirmation="replace acme-conf1")
    assert databases(system_db.name) == {system_db.name}


def test_failed_backup_never_replaces_a_good_one(system_db, tmp_path: Path, monkeypatch) -> None:
    spec = spec_for(system_db)
    good = take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW)
    before = sorted(p.name for p in (tmp_path / "acme-conf1").iterdir())

    # The same stamp again (a retried task): the verified backup is reused, not taken twice.
    assert take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW) == good
    assert sorted(p.name for p in (tmp_path / "acme-conf1").iterdir()) == before
    missing_db = BackupSpec(kind="postgres", conn_id=system_db.conn_id, database="xop_bk_no_such_db")
    with pytest.raises(BackupError, match="no_such_db"):
        take_backup(missing_db, system="acme-conf1", directory=tmp_path, now=NOW + timedelta(days=1))
    # pg_dump dies mid-stream (a table it may not read): nothing left behind, not even a temp file.
    with system_db.connect() as conn:
        conn.execute("CREATE ROLE xop_bk_reader LOGIN")
        conn.execute("GRANT SELECT ON conferences TO xop_bk_reader")
        conn.commit()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_XOP_TEST_SYS", f"postgresql://xop_bk_reader@127.0.0.1:5432/{system_db.name}"
        )
        with pytest.raises(BackupError, match="permission denied"):
            take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW + timedelta(days=2))
    finally:
        with system_db.connect() as conn:
            conn.execute("DROP OWNED BY xop_bk_reader")
            conn.execute("DROP ROLE xop_bk_reader")
            conn.commit()

    assert sorted(p.name for p in (tmp_path / "acme-conf1").iterdir()) == before
    assert latest_verified(tmp_path, system="acme-conf1") == good


def test_a_retry_clears_what_a_killed_try_left_and_takes_the_backup_once(system_db, tmp_path: Path) -> None:
    """A try SIGKILLed mid-dump leaves a partial file; one killed after the rename leaves an archive
    without a manifest. The retry (same stamp) removes both and takes one complete backup."""
    spec = spec_for(system_db)
    folder = tmp_path / "acme-conf1"
    folder.mkdir(mode=0o700)
    final = folder / "acme-conf1-20261125T100000Z.dump"
    (folder / f".{final.name}.partial-4242").write_bytes(b"PGDMP half a dump")
    final.write_bytes(b"PGDMP renamed, never got its manifest")
    other = folder / ".acme-conf1-20261124T100000Z.dump.partial-99"  # another stamp: not ours
    other.write_bytes(b"x")

    manifest = take_backup(spec, system="acme-conf1", directory=tmp_path, now=NOW)

    assert manifest.path == final.resolve()
    verify_backup(manifest)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [other.name, final.name, final.name + ".manifest.json", "acme-conf1-20261125T100000Z.globals.sql"]
    )
    assert list_backups(tmp_path, system="acme-conf1") == [manifest]

"""Retention rules (pure and on disk) and SQLite backups through the online backup API."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from xop.backup import (
    BackupManifest,
    BackupSpec,
    RetentionSpec,
    apply_retention,
    latest_verified,
    record_backup,
    restore_backup,
    take_backup,
)
from xop.backup.manifest import write_manifest
from xop.backup.retention import select_kept
from xop.backup.tables import backups
from xop.core.errors import BackupError
from xop.db.meta import metadata


def fake(taken_at: datetime, *, verified: bool = True, folder: Path = Path("/backups/s")) -> BackupManifest:
    path = folder / f"s-{taken_at:%Y%m%dT%H%M%SZ}.dump"
    return BackupManifest(
        system="s",
        kind="postgres",
        database="s",
        taken_at=taken_at,
        path=path,
        size=1,
        sha256="0" * 64,
        verified=verified,
        verify_method="test",
        row_counts={},
        duration_seconds=0.0,
    )


def stamps(kept: dict[str, list[str]]) -> list[str]:
    return sorted(Path(p).name[2:17] for p in kept)


def test_daily_weekly_monthly_buckets() -> None:
    # Two backups a day (04:00 and 16:00 UTC) from 2026-08-01 to 2026-11-25.
    start = datetime(2026, 8, 1, 4, tzinfo=UTC)
    manifests = [fake(start + timedelta(hours=12 * i)) for i in range(2 * 117)]
    now = manifests[-1].taken_at + timedelta(minutes=1)

    kept = select_kept(manifests, RetentionSpec(daily=3, weekly=2, monthly=3), now=now)

    assert stamps(kept) == [
        "20260930T160000",  # monthly: September's newest
        "20261031T160000",  # monthly: October's newest
        "20261122T160000",  # weekly: newest of ISO week 47 (Sunday)
        "20261123T160000",  # daily
        "20261124T160000",  # daily
        "20261125T160000",  # newest; daily; weekly (week 48); monthly (November)
    ]
    assert kept[str(manifests[-1].path)] == ["newest verified", "daily", "weekly", "monthly"]


def test_newest_verified_is_kept_even_with_zero_retention_and_unverified_never_count() -> None:
    t = datetime(2026, 11, 20, 4, tzinfo=UTC)
    good, bad1, bad2 = (
        fake(t),
        fake(t + timedelta(days=1), verified=False),
        fake(t + timedelta(days=2), verified=False),
    )

    kept = select_kept(
        [good, bad1, bad2], RetentionSpec(daily=0, weekly=0, monthly=0), now=t + timedelta(days=3)
    )
    assert kept == {str(good.path): ["newest verified"]}

    kept = select_kept(
        [good, bad1, bad2], RetentionSpec(daily=5, weekly=0, monthly=0), now=t + timedelta(days=3)
    )
    assert list(kept) == [str(good.path)]


def test_future_backups_are_not_deleted() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    old, future = fake(now - timedelta(days=30)), fake(now + timedelta(hours=2))
    kept = select_kept([old, future], RetentionSpec(daily=0, weekly=0, monthly=0), now=now)
    assert kept[str(future.path)] == ["dated in the future"]
    assert kept[str(old.path)] == ["newest verified"]  # the newest as of now is never deleted


def test_a_rerun_for_an_earlier_now_keeps_the_backup_it_took() -> None:
    """An audit rerun stamped 10:05 after the 11:10 backup of the same day: as of 10:05 its own
    backup is the newest and the day's, and the later one is left alone."""
    later = fake(datetime(2026, 12, 2, 11, 10, tzinfo=UTC))
    rerun = fake(datetime(2026, 12, 2, 10, 5, tzinfo=UTC))
    older = fake(datetime(2026, 12, 1, 10, 5, tzinfo=UTC))
    kept = select_kept([older, rerun, later], RetentionSpec(daily=1, weekly=0, monthly=0), now=rerun.taken_at)
    assert kept == {str(rerun.path): ["newest verified", "daily"], str(later.path): ["dated in the future"]}


def test_apply_retention_deletes_files_and_marks_rows(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    engine = create_engine(f"sqlite:///{tmp_path / 'xop.db'}")
    metadata.create_all(engine)
    start = datetime(2026, 11, 1, 4, tzinfo=UTC)
    manifests = []
    for day in range(10):
        m = fake(start + timedelta(days=day), folder=folder)
        m.path.write_bytes(b"x")
        write_manifest(m)
        record_backup(engine, m)
        manifests.append(m)
    now = manifests[-1].taken_at

    planned = apply_retention(
        tmp_path, system="s", retention=RetentionSpec(daily=3, weekly=0, monthly=0), now=now, dry_run=True
    )
    assert len(planned.deleted) == 7 and len(list(folder.iterdir())) == 20

    done = apply_retention(
        tmp_path, system="s", retention=RetentionSpec(daily=3, weekly=0, monthly=0), now=now, engine=engine
    )
    assert done.deleted == planned.deleted
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".dump") == [
        "s-20261108T040000Z.dump",
        "s-20261109T040000Z.dump",
        "s-20261110T040000Z.dump",
    ]
    assert not any(folder.glob("s-20261101*"))  # manifest went with its archive
    with engine.connect() as conn:
        marked = conn.execute(select(backups.c.path).where(backups.c.deleted_at.is_not(None))).scalars().all()
    assert sorted(marked) == sorted(str(p) for p in done.deleted)
    assert latest_verified(tmp_path, system="s").taken_at == now


def make_sqlite(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, subject TEXT)")
        conn.executemany("INSERT INTO tickets (subject) VALUES (?)", [(f"t{i}",) for i in range(rows)])
        conn.execute('CREATE TABLE IF NOT EXISTS "odd name" (x)')


def test_sqlite_backup_restore_and_swap(tmp_path: Path) -> None:
    live = tmp_path / "live" / "xop.sqlite"
    live.parent.mkdir()
    make_sqlite(live, 500)
    reader = sqlite3.connect(live)  # online: a connection stays open during the backup
    spec = BackupSpec(kind="sqlite", path=live)
    now = datetime(2026, 11, 25, 10, tzinfo=UTC)

    manifest = take_backup(spec, system="embedded", directory=tmp_path / "bk", now=now)
    reader.close()
    assert manifest.row_counts == {"main.odd name": 0, "main.tickets": 500}
    assert manifest.path.name == "embedded-20261125T100000Z.sqlite3"

    make_sqlite(live, 7)  # changes after the backup
    with pytest.raises(BackupError, match="needs the confirmation"):
        restore_backup(spec, manifest, target="replace", now=now, confirmation="replace wrong")
    result = restore_backup(
        spec, manifest, target="replace", now=now + timedelta(hours=1), confirmation="replace embedded"
    )
    assert result.swapped
    with sqlite3.connect(live) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 500
    with sqlite3.connect(result.previous_renamed_to) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 507


def test_sqlite_corrupt_backup_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "xop.sqlite"
    make_sqlite(live, 2000)
    spec = BackupSpec(kind="sqlite", path=live)
    manifest = take_backup(
        spec, system="embedded", directory=tmp_path / "bk", now=datetime(2026, 11, 25, tzinfo=UTC)
    )
    data = bytearray(manifest.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    manifest.path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its manifest"):
        restore_backup(spec, manifest, target="scratch", now=datetime(2026, 11, 26, tzinfo=UTC))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bk", "xop.sqlite"]


def test_spec_messages() -> None:
    with pytest.raises(ValueError, match="kind 'postgres' needs conn_id"):
        BackupSpec(kind="postgres")
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        BackupSpec(kind="sqlite", path="/x.db", passwd="x")

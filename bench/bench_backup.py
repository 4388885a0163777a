"""Benchmark: a hashed backup vs plain ``pg_dump -Fc`` of the same database.

Builds a database of a few hundred MB with ``generate_series`` (once; ``--keep`` keeps it for
the next run), then alternates, ``--runs`` times each:

- baseline: ``pg_dump -Fc -f FILE`` (pg_dump writes the file itself);
- ours, dump step: ``pg_dump -Fc`` piped through Python to a temporary file, SHA-256 computed
  in the same pass (:func:`xop.backup.postgres.dump_to`) — the target is <= 1.1x the baseline;
- ours, whole backup: :func:`xop.backup.postgres.take_postgres_backup` (snapshot, dump + hash,
  exact row counts in the dump's snapshot, full-read verification, globals, rename), printed
  for information: the verification reads the whole archive again by design.

Medians are compared. Run from the repo root: ``.venv/bin/python bench/bench_backup.py``
(PostgreSQL on 127.0.0.1:5432, user postgres, trust auth, as in the tests).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

import psycopg

from xop.backup.pgserver import PgServer
from xop.backup.postgres import dump_to, take_postgres_backup

DB = "xop_bench_backup"
SERVER = PgServer(host="127.0.0.1", port=5432, user="postgres", database=DB)

BUILD_SQL = """
CREATE TABLE cdr (
    id bigint PRIMARY KEY, conference int, started timestamptz, seconds int,
    caller text, callee text, disposition text, note text);
INSERT INTO cdr
SELECT g, g % 5000, '2026-01-01'::timestamptz + g * interval '7 seconds', (g * 7919) % 7200,
       '+1312' || lpad((g % 10000000)::text, 7, '0'), md5(g::text),
       (ARRAY['ANSWERED','BUSY','NO ANSWER','FAILED'])[1 + g % 4],
       repeat(chr((65 + g % 26)::int), (20 + g % 40)::int)
FROM generate_series(1::bigint, %(rows)s) g;
CREATE TABLE conferences AS
SELECT g AS id, 'conference ' || g AS name, md5((g * 31)::text) AS pin FROM generate_series(1, 5000) g;
"""


def admin() -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)


def ensure_database(rows: int) -> int:
    with admin() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
        if not exists:
            print(f"building {DB} with {rows:,} rows ...", flush=True)
            conn.execute(f'CREATE DATABASE "{DB}"')
    if not exists:
        started = time.perf_counter()
        try:
            with psycopg.connect(
                host="127.0.0.1", port=5432, user="postgres", dbname=DB, autocommit=True
            ) as conn:
                conn.execute(BUILD_SQL.replace("%(rows)s", str(rows)))
                conn.execute("VACUUM ANALYZE")
        except BaseException:  # never leave a half-built database that the next run would reuse
            with admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
            raise
        print(f"built in {time.perf_counter() - started:.1f} s")
    with admin() as conn:
        return conn.execute("SELECT pg_database_size(%s)", (DB,)).fetchone()[0]


def plain_pg_dump(target: Path) -> None:
    subprocess.run(["pg_dump", "--format=custom", f"--file={target}"], env=SERVER.env(), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    size = ensure_database(args.rows)
    print(f"database {DB}: {size / 1e6:.0f} MB on disk")
    with tempfile.TemporaryDirectory(prefix="xop-bench-backup-") as scratch:
        work = Path(scratch)
        plain_pg_dump(work / "warmup.dump")  # warm the page cache for both sides
        archive_size = (work / "warmup.dump").stat().st_size
        baseline, ours, whole = [], [], []
        for run in range(args.runs):
            target = work / f"plain-{run}.dump"
            t = time.perf_counter()
            plain_pg_dump(target)
            baseline.append(time.perf_counter() - t)
            target.unlink()

            target = work / f"ours-{run}.dump"
            t = time.perf_counter()
            _, digest = dump_to(SERVER, target)
            ours.append(time.perf_counter() - t)
            if run == 0:  # the streamed hash is the file's hash
                assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
            target.unlink()

            t = time.perf_counter()
            manifest = take_postgres_backup(
                SERVER, system="bench", directory=work, now=datetime.now(UTC) + timedelta(seconds=run)
            )
            whole.append(time.perf_counter() - t)
            for path in (manifest.path, manifest.globals_path):
                path.unlink()
            print(
                f"run {run + 1}: pg_dump {baseline[-1]:.2f} s, dump+sha256 {ours[-1]:.2f} s, "
                f"whole backup {whole[-1]:.2f} s"
            )

    b, o, w = statistics.median(baseline), statistics.median(ours), statistics.median(whole)
    print()
    print(f"archive size             {archive_size / 1e6:8.1f} MB")
    print(f"plain pg_dump -Fc        {b:8.2f} s   {archive_size / b / 1e6:7.1f} MB/s of archive")
    print(f"dump + sha256 (ours)     {o:8.2f} s   ratio {o / b:.3f}  (target <= 1.10)")
    print(f"whole verified backup    {w:8.2f} s   ratio {w / b:.3f}  (snapshot, counts, full read, globals)")
    if not args.keep:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    os.sync()


if __name__ == "__main__":
    main()

"""Fixtures for backup/restore tests: a fresh PostgreSQL database per test on the local server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


def admin() -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)


def drop_like(prefix: str) -> None:
    with admin() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix.replace("_", r"\_") + "%",)
            )
        ]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class SystemDb:
    name: str
    conn_id: str

    def connect(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database or self.name)


SEED_SQL = """
CREATE TABLE conferences (id int PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL);
CREATE TABLE "call records" (id bigserial PRIMARY KEY, conference int REFERENCES conferences(id),
                             started timestamptz, seconds int, caller text, payload jsonb);
CREATE SCHEMA billing;
CREATE TABLE billing.rates (code text PRIMARY KEY, cents numeric(10,4));
CREATE TABLE empty_table (x int);
INSERT INTO conferences SELECT g, 'conf ' || g, '2026-01-01'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 200) g;
INSERT INTO "call records" (conference, started, seconds, caller, payload)
  SELECT 1 + g % 200, '2026-02-01'::timestamptz + g * interval '1 minute', g % 3600, md5(g::text),
         jsonb_build_object('n', g, 'tag', repeat('x', g % 50))
  FROM generate_series(1, 20000) g;
INSERT INTO billing.rates SELECT 'R' || g, g / 7.0 FROM generate_series(1, 50) g;
"""


@pytest.fixture(scope="session")
def seeded_template() -> Iterator[str]:
    """A seeded database, created once; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    name = f"xop_bk_tpl_{uuid.uuid4().hex[:10]}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=name, autocommit=True) as conn:
            conn.execute(SEED_SQL)
        yield name
    finally:
        drop_like(name)


@pytest.fixture
def system_db(seeded_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SystemDb]:
    """A seeded database of its own, reachable through the Airflow connection ``xop_test_sys``."""
    name = f"xop_bk_{uuid.uuid4().hex[:10]}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded_template}"')
    conn_id = "xop_test_sys"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    )
    try:
        yield SystemDb(name=name, conn_id=conn_id)
    finally:
        drop_like(name)


def table_fingerprints(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every user table."""
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1, 2"
    ).fetchall()
    result = {}
    for schema, table in tables:
        row = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "
            f'FROM "{schema}"."{table}" t'
        ).fetchone()
        result[f"{schema}.{table}"] = (row[0], row[1])
    return result

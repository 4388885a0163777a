"""The migrations build exactly the tables the features declare, on SQLite and PostgreSQL.

Every ``plugins/xop/**/tables.py`` declares its tables on ``xop.db.meta.metadata``; the
migrations under ``db/migrations/versions`` are written by hand. Alembic's comparison of the
two after ``upgrade`` must find nothing, and the history must have exactly one head, so that
features added side by side cannot leave a table unmigrated or the history split.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from xop.db.meta import metadata
from xop.db.migrate import MIGRATIONS, alembic_config

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "xop"


def _import_every_table_module() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("tables.py")):
        module = "xop." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        importlib.import_module(module)
        names.append(module)
    return names


#: SQLite only: the FTS5 full-text table of the ticket search (migration i16_ticket_search_doc)
#: and the shadow tables FTS5 creates for it (_data, _idx, _docsize, _config, _content). They are
#: not in the declared metadata because a virtual table cannot be declared for both dialects; the
#: search tests (tests/tickets/test_search.py) check them instead.
FTS5_TABLES = {
    f"ticket_search{suffix}" for suffix in ("", "_data", "_idx", "_docsize", "_config", "_content")
}

#: PostgreSQL only: the search's stored document ``tickets.search_doc`` (a tsvector kept by
#: triggers) and its GIN index (same migration). Not declared on purpose, so that
#: ``select(tickets)`` never reads the words of internal notes (see xop.tickets.search).
SEARCH_COLUMNS = {("tickets", "search_doc")}
SEARCH_INDEXES = {"ix_tickets_search_doc"}


def _significant(diff) -> bool:
    # Server defaults are compared textually and differ in spelling between dialects; the
    # migrations' own tests cover them. Everything else (tables, columns, types, indexes,
    # nullability, foreign keys) must agree.
    kind = diff[0][0] if isinstance(diff, list) else diff[0]
    if kind == "remove_table" and diff[1].name in FTS5_TABLES:
        return False
    if kind == "remove_index" and diff[1].name in SEARCH_INDEXES:
        return False
    if kind == "remove_column" and (diff[2], diff[3].name) in SEARCH_COLUMNS:
        return False
    return kind not in {"modify_default"}


def test_one_head() -> None:
    with_connection = alembic_config(None)
    heads = ScriptDirectory.from_config(with_connection).get_heads()
    assert len(heads) == 1, f"the migration history has several heads: {heads} (set down_revision)"
    assert MIGRATIONS.is_dir()


def test_migrations_match_the_declared_tables(db_engine: Engine) -> None:
    modules = _import_every_table_module()
    assert "xop.tickets.tables" in modules and "xop.notify.tables" in modules
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, metadata) if _significant(d)]
    assert diffs == []

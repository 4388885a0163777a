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


def _significant(diff) -> bool:
    # Server defaults are compared textually and differ in spelling between dialects; the
    # migrations' own tests cover them. Everything else (tables, columns, types, indexes,
    # nullability, foreign keys) must agree.
    kind = diff[0][0] if isinstance(diff, list) else diff[0]
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

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


def test_the_order_keys_migration_goes_down_and_up_keeping_the_search(db_engine: Engine, xop_config) -> None:
    """i2x_ticket_urgent_order (0015) on a database with tickets: down drops the keys and gives
    back the row trigger of new events' words; up fills the keys from the clocks again."""
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import inspect

    from xop.api.queries import TicketFilter, list_tickets
    from xop.tickets import TicketService

    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    svc = TicketService(db_engine, xop_config)
    first = svc.open(
        customer="acme", subject="Bridge drops", reporter_name="R", reporter_email="r@acme.example", now=now
    )
    svc.pause(first.number, actor="lena", now=now)
    second = svc.open(
        customer="acme", subject="Gateway down", reporter_name="R", reporter_email="r@acme.example", now=now
    )

    def board() -> list[tuple[str, bool]]:
        with db_engine.connect() as c:
            page = list_tickets(c, xop_config, TicketFilter(), now=now).items
        return [(t["number"], t["breached"]) for t in page]

    order = board()
    assert [n for n, _ in order] == [second.number, first.number]  # the waiting one after
    with db_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "i16_ticket_search_doc")
    with db_engine.connect() as c:
        assert not {"urgent_rank", "urgent_at"} & {col["name"] for col in inspect(c).get_columns("tickets")}
    with db_engine.begin() as c:  # an event written under the old schema is still searchable
        from xop.tickets.model import Actor
        from xop.tickets.records import add_event

        add_event(c, first.id, "note", actor=Actor.staff("lena", 2), now=now, public=False, body="zebra")
    with db_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert board() == order  # the keys were filled from the clocks
    with db_engine.connect() as c:
        found = list_tickets(c, xop_config, TicketFilter(q="zebra"), now=now).items
    assert [t["number"] for t in found] == [first.number]

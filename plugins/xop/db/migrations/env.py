"""Alembic environment of the XOP database. Run through :mod:`xop.db.migrate`, not the CLI."""

from __future__ import annotations

from alembic import context

from xop.db.meta import metadata
from xop.db.schema import all_tables

all_tables()
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

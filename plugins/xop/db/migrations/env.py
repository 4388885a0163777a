"""Alembic environment of the XOP database. Run through :mod:`xop.db.migrate`, not the CLI."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # No target metadata: the migrations are written by hand; tests/test_schema.py checks that
    # they build exactly the tables the features declare.
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

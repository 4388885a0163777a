"""The XOP ticket database: schema (SQLAlchemy Core), engine, migrations."""

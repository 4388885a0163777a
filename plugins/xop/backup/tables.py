"""Tables of backups taken and files published, on the shared :data:`xop.db.meta.metadata`.

The JSON manifest beside each backup file is the source of truth for a restore (it survives
the loss of this database); these rows are the history the reports and the UI read.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from xop.db.meta import metadata
from xop.db.types import UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")

backups = Table(
    "backups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("system", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # postgres | sqlite
    Column("database", String(128), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("globals_path", Text),
    Column("globals_sha256", String(64)),
    Column("verified", Boolean, nullable=False),
    Column("verify_method", String(120), nullable=False, server_default=""),
    # {"schema.table": rows} at the instant of the dump (same snapshot): restore sanity checks.
    Column("row_counts", JSON, nullable=False),
    Column("duration_seconds", Float),
    Column("deleted_at", UTCDateTime),  # set when retention removed the files
)
Index("ix_backups_system_taken_at", backups.c.system, backups.c.taken_at)
Index("uq_backups_path", backups.c.path, unique=True)

publications = Table(
    "publications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer", String(64), nullable=False),
    Column("ftp_conn_id", String(64), nullable=False),
    Column("folder", Text, nullable=False),
    Column("name", String(255), nullable=False),
    Column("series", String(255), nullable=False),
    Column("source", Text, nullable=False),  # local path that was uploaded
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("vendor", String(64)),
    Column("vendor_checksum", String(128)),
    Column("vendor_checksum_algorithm", String(16)),
    Column("published_at", UTCDateTime, nullable=False),
    Column("resumed", Integer, nullable=False, server_default="0"),  # reconnects during upload
    Column("pruned_at", UTCDateTime),
)
Index("ix_publications_customer_name", publications.c.customer, publications.c.name)

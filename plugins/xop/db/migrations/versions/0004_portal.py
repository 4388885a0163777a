"""customer portal: sign-in tokens, sessions, rate limits, access log

Revision ID: 0004_portal
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xop.db.types

revision = "0004_portal"
down_revision = "0003"
branch_labels = None
depends_on = None

_ts = xop.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portal_signin_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("next_path", sa.String(length=200), server_default="/", nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("expires_at", _ts, nullable=False),
        sa.Column("used_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_portal_signin_tokens")),
    )
    op.create_index("ix_portal_signin_tokens_expires_at", "portal_signin_tokens", ["expires_at"])
    op.create_table(
        "portal_sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("ticket", sa.String(length=16), nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("expires_at", _ts, nullable=False),
        sa.Column("ended_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_portal_sessions")),
    )
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"])
    op.create_table(
        "portal_rate_limits",
        sa.Column("bucket", sa.String(length=120), nullable=False),
        sa.Column("window_end", _ts, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_portal_rate_limits")),
    )
    op.create_index("ix_portal_rate_limits_window_end", "portal_rate_limits", ["window_end"])
    op.create_table(
        "portal_access_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", _ts, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("customer", sa.String(length=64), nullable=True),
        sa.Column("ticket", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=300), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_access_log")),
    )
    op.create_index("ix_portal_access_log_at", "portal_access_log", ["at"])
    op.create_index("ix_portal_access_log_email", "portal_access_log", ["email", "at"])


def downgrade() -> None:
    for table, indexes in (
        ("portal_access_log", ["ix_portal_access_log_email", "ix_portal_access_log_at"]),
        ("portal_rate_limits", ["ix_portal_rate_limits_window_end"]),
        ("portal_sessions", ["ix_portal_sessions_expires_at"]),
        ("portal_signin_tokens", ["ix_portal_signin_tokens_expires_at"]),
    ):
        for ix in indexes:
            op.drop_index(ix, table_name=table)
        op.drop_table(table)

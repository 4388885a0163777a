"""trunk call quality: RTP figures, E-model rating and audio check of the test call (issue 19)

Revision ID: i19_trunk_call_quality
Revises: i18_emergency_calls
Create Date: 2026-12-02 00:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i19_trunk_call_quality"
down_revision = "i18_emergency_calls"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("rtp_lost", sa.Integer),
    ("rtp_duplicates", sa.Integer),
    ("rtp_reordered", sa.Integer),
    ("rtp_late", sa.Integer),
    ("loss_pct", sa.Float),
    ("jitter_ms", sa.Float),
    ("delay_ms", sa.Float),
    ("r_factor", sa.Float),
    ("mos", sa.Float),
    ("audio_correlation", sa.Float),
    ("audio_level_db", sa.Float),
    ("quality", lambda: sa.String(length=16)),
    ("quality_note", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("trunk_checks", schema=None) as batch_op:
        for name, kind in _COLUMNS:
            batch_op.add_column(sa.Column(name, kind(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_trunk_checks_quality_known"), "quality IN ('good', 'degraded', 'failed')"
        )


def downgrade() -> None:
    with op.batch_alter_table("trunk_checks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_trunk_checks_quality_known"), type_="check")
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)

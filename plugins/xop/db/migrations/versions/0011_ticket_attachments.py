"""ticket attachments: files uploaded in the customer portal as well as by email (issue 15)

``attachments.inbound_message_id`` becomes nullable: a portal upload has no inbound message;
its ``event_id`` names the event it came with. The table moves to ``xop.tickets.tables`` (the
intake and the portal both write it); its name and other columns stay.

Revision ID: i2x_ticket_attachments
Revises: i16_ticket_search
Create Date: 2026-12-02 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from xop.db.types import BigId

revision = "i2x_ticket_attachments"
down_revision = "i16_ticket_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite a batch rebuild of this one table: nothing references it, so nothing cascades.
    with op.batch_alter_table("attachments") as batch_op:
        batch_op.alter_column("inbound_message_id", existing_type=BigId, nullable=True)


def downgrade() -> None:
    # Portal uploads have no message to hang on in the old schema; never drop a customer's file.
    portal_files = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM attachments WHERE inbound_message_id IS NULL"))
        .scalar_one()
    )
    if portal_files:
        raise RuntimeError(
            f"{portal_files} attachment(s) were uploaded in the portal (no inbound message): "
            "export them before downgrading below i2x_ticket_attachments"
        )
    with op.batch_alter_table("attachments") as batch_op:
        batch_op.alter_column("inbound_message_id", existing_type=BigId, nullable=False)

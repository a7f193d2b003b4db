"""send pacing: a channel's next free sending slot, shared by every worker

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pacing",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_send_pacing_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_send_pacing_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_send_pacing")),
    )
    for statement in rls.enable_statements("send_pacing"):
        op.execute(statement)


def downgrade() -> None:
    for statement in rls.disable_statements("send_pacing"):
        op.execute(statement)
    op.drop_table("send_pacing")

"""routing: each channel's way of assigning new conversations; agents' capacity

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_routing",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("group_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("algorithm", sa.String(length=20), server_default="round_robin",
                  nullable=False),
        sa.Column("sticky", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("when_nobody", sa.String(length=20), server_default="queue", nullable=False),
        sa.Column("away_message", sa.String(), server_default="", nullable=False),
        sa.Column("last_assigned_user_id", sa.Uuid(), server_default=sa.text("NULL"),
                  nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("algorithm IN ('random', 'round_robin', 'least_today', "
                           "'longest_waiting')", name=op.f("ck_channel_routing_algorithm_valid")),
        sa.CheckConstraint("when_nobody IN ('queue', 'away_message')",
                           name=op.f("ck_channel_routing_when_nobody_valid")),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_channel_routing_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_channel_routing_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_routing")),
        sa.UniqueConstraint("tenant_id", "channel_id",
                            name=op.f("uq_channel_routing_tenant_id_channel_id")),
    )
    for statement in rls.enable_statements("channel_routing"):
        op.execute(statement)
    op.add_column("users", sa.Column("max_open_conversations", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "max_open_conversations")
    for statement in rls.disable_statements("channel_routing"):
        op.execute(statement)
    op.drop_table("channel_routing")

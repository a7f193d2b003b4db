"""channel operations: welcome messages, idle reassignment, auto-close

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_operations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("welcome_new", sa.String(), server_default="", nullable=False),
        sa.Column("welcome_returning", sa.String(), server_default="", nullable=False),
        sa.Column("idle_minutes", sa.Integer(), nullable=True),
        sa.Column("auto_close_hours", sa.Integer(), nullable=True),
        sa.Column("auto_close_pending_hours", sa.Integer(), nullable=True),
        sa.Column("closing_message", sa.String(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("idle_minutes IS NULL OR idle_minutes > 0",
                           name=op.f("ck_channel_operations_idle_minutes_positive")),
        sa.CheckConstraint("auto_close_hours IS NULL OR auto_close_hours > 0",
                           name=op.f("ck_channel_operations_auto_close_hours_positive")),
        sa.CheckConstraint(
            "auto_close_pending_hours IS NULL OR auto_close_pending_hours > 0",
            name=op.f("ck_channel_operations_auto_close_pending_hours_positive")),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_channel_operations_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_channel_operations_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_operations")),
        sa.UniqueConstraint("tenant_id", "channel_id",
                            name=op.f("uq_channel_operations_tenant_id_channel_id")),
    )
    for statement in rls.enable_statements("channel_operations"):
        op.execute(statement)


def downgrade() -> None:
    for statement in rls.disable_statements("channel_operations"):
        op.execute(statement)
    op.drop_table("channel_operations")

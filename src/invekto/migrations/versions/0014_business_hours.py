"""business hours (company-wide or per channel) and holidays

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_hours",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("away_message", sa.String(), server_default="", nullable=False),
        sa.Column("after_hours_group_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_business_hours_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "after_hours_group_id"], ["agent_groups.tenant_id", "agent_groups.id"],
            name=op.f("fk_business_hours_tenant_id_after_hours_group_id_agent_groups"),
            ondelete="SET NULL (after_hours_group_id)"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_business_hours_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_hours")),
    )
    op.create_index("uq_business_hours_company", "business_hours", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("channel_id IS NULL"))
    op.create_index("uq_business_hours_channel", "business_hours", ["tenant_id", "channel_id"],
                    unique=True, postgresql_where=sa.text("channel_id IS NOT NULL"))
    op.create_table(
        "holidays",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_holidays_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holidays")),
        sa.UniqueConstraint("tenant_id", "day", name=op.f("uq_holidays_tenant_id_day")),
    )
    for table in ("business_hours", "holidays"):
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in ("holidays", "business_hours"):
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table("holidays")
    op.drop_index("uq_business_hours_channel", table_name="business_hours")
    op.drop_index("uq_business_hours_company", table_name="business_hours")
    op.drop_table("business_hours")

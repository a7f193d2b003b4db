"""WhatsApp message templates managed from the product

Revision ID: 0017
Revises: 0016
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("parameter_format", sa.String(length=12), server_default="POSITIONAL",
                  nullable=False),
        sa.Column("components", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("status", sa.String(length=30), server_default="DRAFT", nullable=False),
        sa.Column("rejected_reason", sa.String(length=500), nullable=True),
        sa.Column("provider_template_id", sa.String(length=100), nullable=True),
        sa.Column("variables", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("category IN ('MARKETING', 'UTILITY', 'AUTHENTICATION')",
                           name=op.f("ck_message_templates_category_valid")),
        sa.CheckConstraint("parameter_format IN ('POSITIONAL', 'NAMED')",
                           name=op.f("ck_message_templates_parameter_format_valid")),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_message_templates_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_message_templates_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("tenant_id", "id", name="uq_message_templates_tenant_id_id"),
        sa.UniqueConstraint(
            "tenant_id", "channel_id", "name", "language",
            name=op.f("uq_message_templates_tenant_id_channel_id_name_language")),
    )
    for statement in rls.enable_statements("message_templates"):
        op.execute(statement)


def downgrade() -> None:
    for statement in rls.disable_statements("message_templates"):
        op.execute(statement)
    op.drop_table("message_templates")

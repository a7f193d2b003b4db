"""SLA policies, their due times on conversations, and breaches

Revision ID: 0016
Revises: 0015
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("tag", sa.String(length=50), nullable=True),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("escalation", sa.String(length=20), server_default="notify", nullable=False),
        sa.Column("escalation_tag", sa.String(length=50), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("escalation IN ('notify', 'reassign', 'tag', 'priority')",
                           name=op.f("ck_sla_policies_escalation_valid")),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_sla_policies_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_sla_policies_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("tenant_id", "id", name="uq_sla_policies_tenant_id_id"),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sla_policies_tenant_id_name")),
    )
    op.create_table(
        "sla_breaches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("target IN ('first_response', 'resolution')",
                           name=op.f("ck_sla_breaches_target_valid")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "conversation_id"], ["conversations.tenant_id", "conversations.id"],
            name=op.f("fk_sla_breaches_tenant_id_conversation_id_conversations"),
            ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "policy_id"], ["sla_policies.tenant_id", "sla_policies.id"],
            name=op.f("fk_sla_breaches_tenant_id_policy_id_sla_policies"),
            ondelete="SET NULL (policy_id)"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_sla_breaches_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_breaches")),
        sa.UniqueConstraint("tenant_id", "conversation_id", "target",
                            name=op.f("uq_sla_breaches_tenant_id_conversation_id_target")),
    )
    for table in ("sla_policies", "sla_breaches"):
        for statement in rls.enable_statements(table):
            op.execute(statement)
    op.add_column("conversations", sa.Column("sla_policy_id", sa.Uuid(), nullable=True))
    op.add_column("conversations", sa.Column("first_response_due_at",
                                             sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversations", sa.Column("resolution_due_at", sa.DateTime(timezone=True),
                                             nullable=True))
    op.create_index("ix_conversations_first_response_due", "conversations",
                    ["first_response_due_at"],
                    postgresql_where=sa.text("first_response_at IS NULL AND status <> 'closed'"))
    op.create_index("ix_conversations_resolution_due", "conversations", ["resolution_due_at"],
                    postgresql_where=sa.text("status <> 'closed'"))


def downgrade() -> None:
    op.drop_index("ix_conversations_resolution_due", table_name="conversations")
    op.drop_index("ix_conversations_first_response_due", table_name="conversations")
    for column in ("resolution_due_at", "first_response_due_at", "sla_policy_id"):
        op.drop_column("conversations", column)
    for table in ("sla_breaches", "sla_policies"):
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table("sla_breaches")
    op.drop_table("sla_policies")

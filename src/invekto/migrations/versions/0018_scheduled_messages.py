"""Messages scheduled to be sent later

Revision ID: 0018
Revises: 0017
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="scheduled", nullable=False),
        sa.Column("failure_reason", sa.String(length=50), nullable=True),
        sa.Column("failure_message", sa.String(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'sent', 'cancelled', 'failed')",
                           name=op.f("ck_scheduled_messages_status_valid")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "conversation_id"], ["conversations.tenant_id", "conversations.id"],
            name=op.f("fk_scheduled_messages_tenant_id_conversation_id_conversations"),
            ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "author_id"], ["users.tenant_id", "users.id"],
            name=op.f("fk_scheduled_messages_tenant_id_author_id_users"),
            ondelete="SET NULL (author_id)"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_scheduled_messages_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_messages")),
        sa.UniqueConstraint("tenant_id", "client_id",
                            name=op.f("uq_scheduled_messages_tenant_id_client_id")),
    )
    op.create_index("ix_scheduled_messages_due", "scheduled_messages", ["send_at"],
                    postgresql_where=sa.text("status = 'scheduled'"))
    op.create_index("ix_scheduled_messages_conversation", "scheduled_messages",
                    ["tenant_id", "conversation_id", "send_at"])
    for statement in rls.enable_statements("scheduled_messages"):
        op.execute(statement)


def downgrade() -> None:
    for statement in rls.disable_statements("scheduled_messages"):
        op.execute(statement)
    op.drop_index("ix_scheduled_messages_conversation", table_name="scheduled_messages")
    op.drop_index("ix_scheduled_messages_due", table_name="scheduled_messages")
    op.drop_table("scheduled_messages")

"""webhook intake: raw events, the status backlog, ad referrals, more message kinds

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TENANT_TABLES = ("webhook_events", "status_backlog")
_KINDS_BEFORE = ("text", "image", "audio", "video", "document", "location", "contact",
                 "template", "interactive", "call")
_KINDS_AFTER = (*_KINDS_BEFORE, "sticker", "reaction", "unsupported")


def _kinds_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_messages_content_kind_valid"), "messages", type_="check")
    op.create_check_constraint(op.f("ck_messages_content_kind_valid"), "messages",
                               "content_kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")")


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_webhook_events_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_webhook_events_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("tenant_id", "channel_id", "event_key",
                            name=op.f("uq_webhook_events_tenant_id_channel_id_event_key")),
    )
    op.create_index("ix_webhook_events_unprocessed", "webhook_events", ["received_at"],
                    postgresql_where=sa.text("processed_at IS NULL"))
    op.create_table(
        "status_backlog",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_message", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_status_backlog_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_status_backlog_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_backlog")),
    )
    op.create_index("ix_status_backlog_lookup", "status_backlog",
                    ["tenant_id", "channel_id", "provider_message_id"])
    op.add_column("conversations", sa.Column("referral", postgresql.JSONB(astext_type=sa.Text()),
                                             nullable=True))
    _kinds_check(_KINDS_AFTER)
    for table in NEW_TENANT_TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in NEW_TENANT_TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.execute("DELETE FROM messages WHERE content_kind IN ('sticker', 'reaction', 'unsupported')")
    _kinds_check(_KINDS_BEFORE)
    op.drop_column("conversations", "referral")
    op.drop_index("ix_status_backlog_lookup", table_name="status_backlog")
    op.drop_table("status_backlog")
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events",
                  postgresql_where=sa.text("processed_at IS NULL"))
    op.drop_table("webhook_events")

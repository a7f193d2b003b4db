"""Twilio Voice: the voice_twilio channel kind, and call recordings waiting for their call entry

Revision ID: 0010
Revises: 0009
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = ("whatsapp_cloud", "whatsapp_bsp", "instagram", "messenger", "telegram",
                 "sms_twilio", "sms_netgsm", "voice", "webchat")
_KINDS_AFTER = ("whatsapp_cloud", "whatsapp_bsp", "instagram", "messenger", "telegram",
                "sms_twilio", "sms_netgsm", "voice", "voice_twilio", "webchat")


def _kinds_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_channels_kind_valid"), "channels", type_="check")
    op.create_check_constraint(op.f("ck_channels_kind_valid"), "channels",
                               "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")")


def upgrade() -> None:
    _kinds_check(_KINDS_AFTER)
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("recording_id", sa.String(length=200), nullable=False),
        sa.Column("attachment_id", sa.Uuid(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "channel_id"], ["channels.tenant_id", "channels.id"],
                                name=op.f("fk_call_recordings_tenant_id_channel_id_channels"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "attachment_id"],
                                ["attachments.tenant_id", "attachments.id"],
                                name=op.f("fk_call_recordings_tenant_id_attachment_id_attachments"),
                                ondelete="SET NULL (attachment_id)"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_call_recordings_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
        sa.UniqueConstraint("tenant_id", "channel_id", "recording_id",
                            name=op.f("uq_call_recordings_tenant_id_channel_id_recording_id")),
    )
    op.create_index("ix_call_recordings_call", "call_recordings",
                    ["tenant_id", "channel_id", "provider_message_id"])
    for statement in rls.enable_statements("call_recordings"):
        op.execute(statement)


def downgrade() -> None:
    for statement in rls.disable_statements("call_recordings"):
        op.execute(statement)
    op.drop_index("ix_call_recordings_call", table_name="call_recordings")
    op.drop_table("call_recordings")
    # Row-level security is forced on channels: the system scope sees every tenant's.
    op.execute("SELECT set_config('app.scope', 'system', true)")
    op.execute("DELETE FROM channels WHERE kind = 'voice_twilio'")
    _kinds_check(_KINDS_BEFORE)

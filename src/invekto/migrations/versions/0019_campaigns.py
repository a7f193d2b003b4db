"""Broadcast campaigns, their recipient lists and recipients; contacts' marketing consents

Revision ID: 0019
Revises: 0018
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("recipient_lists", "campaigns", "contact_consents", "recipient_list_rows",
          "campaign_recipients")


def upgrade() -> None:
    op.create_table('recipient_lists',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('columns', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('phone_column', sa.String(length=100), nullable=False),
    sa.Column('name_column', sa.String(length=100), nullable=True),
    sa.Column('row_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_recipient_lists_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_lists')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_recipient_lists_tenant_id_id')
    )
    op.create_table('campaigns',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='draft', nullable=False),
    sa.Column('content_kind', sa.String(length=20), server_default='text', nullable=False),
    sa.Column('body', sa.String(), server_default='', nullable=False),
    sa.Column('template_name', sa.String(length=512), nullable=True),
    sa.Column('template_language', sa.String(length=15), nullable=True),
    sa.Column('template_parameters', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('segment', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('list_id', sa.Uuid(), nullable=True),
    sa.Column('commercial', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quiet_start', sa.Time(), nullable=True),
    sa.Column('quiet_end', sa.Time(), nullable=True),
    sa.Column('reply_tag', sa.String(length=50), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("content_kind IN ('text', 'template')", name=op.f('ck_campaigns_content_kind_valid')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')", name=op.f('ck_campaigns_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_campaigns_tenant_id_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'list_id'], ['recipient_lists.tenant_id', 'recipient_lists.id'], name=op.f('fk_campaigns_tenant_id_list_id_recipient_lists'), ondelete='SET NULL (list_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_campaigns_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_campaigns_tenant_id_id')
    )
    op.create_index('ix_campaigns_due', 'campaigns', ['status', 'scheduled_at'], unique=False)
    op.create_table('contact_consents',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('consent_type', sa.String(length=10), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('iys_status', sa.String(length=4), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("consent_type IN ('message', 'call', 'email')", name=op.f('ck_contact_consents_type_valid')),
    sa.CheckConstraint("iys_status IS NULL OR iys_status IN ('ONAY', 'RET')", name=op.f('ck_contact_consents_iys_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_contact_consents_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_consents_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_consents')),
    sa.UniqueConstraint('tenant_id', 'contact_id', 'consent_type', name=op.f('uq_contact_consents_tenant_id_contact_id_consent_type'))
    )
    op.create_table('recipient_list_rows',
    sa.Column('list_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('values', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('error', sa.String(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'list_id'], ['recipient_lists.tenant_id', 'recipient_lists.id'], name=op.f('fk_recipient_list_rows_tenant_id_list_id_recipient_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_recipient_list_rows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'row_number', name=op.f('pk_recipient_list_rows'))
    )
    op.create_table('campaign_recipients',
    sa.Column('id', sa.Uuid(), server_default=sa.text('uuidv7()'), nullable=False),
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('handle', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('values', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('body', sa.String(), nullable=True),
    sa.Column('state', sa.String(length=10), server_default='queued', nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=True),
    sa.Column('detail', sa.String(), nullable=True),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("state IN ('queued', 'excluded', 'sending', 'sent', 'delivered', 'read', 'replied', 'failed')", name=op.f('ck_campaign_recipients_state_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'campaign_id'], ['campaigns.tenant_id', 'campaigns.id'], name=op.f('fk_campaign_recipients_tenant_id_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_campaign_recipients_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_campaign_recipients_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_recipients')),
    sa.UniqueConstraint('campaign_id', 'contact_id', name=op.f('uq_campaign_recipients_campaign_id_contact_id'))
    )
    op.create_index('ix_campaign_recipients_contact', 'campaign_recipients', ['tenant_id', 'contact_id', 'sent_at'], unique=False)
    op.create_index('ix_campaign_recipients_provider_id', 'campaign_recipients', ['tenant_id', 'provider_message_id'], unique=True, postgresql_where=sa.text('provider_message_id IS NOT NULL'))
    op.create_index('ix_campaign_recipients_queue', 'campaign_recipients', ['campaign_id', 'id'], unique=False, postgresql_where=sa.text("state = 'queued'"))
    op.create_index('ix_campaign_recipients_state', 'campaign_recipients', ['campaign_id', 'state'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    _event_kinds((*EVENT_KINDS, "campaign"))


EVENT_KINDS = ("assigned", "transferred", "closed", "reopened", "tagged", "untagged", "snoozed",
               "priority", "takeover", "status")


def _event_kinds(kinds: tuple[str, ...]) -> None:
    """The thread's events: a campaign message a customer answered is one ("campaign")."""
    op.drop_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                       type_="check")
    op.create_check_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                               "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")")


def downgrade() -> None:
    _event_kinds(EVENT_KINDS)
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
        op.drop_table(table)

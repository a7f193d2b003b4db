"""Follow-up sequences and CSAT surveys

Revision ID: 0020
Revises: 0019
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("csat_surveys", "follow_up_sequences", "csat_responses", "follow_up_runs",
          "follow_up_steps")


def upgrade() -> None:
    op.create_table('csat_surveys',
        sa.Column('channel_id', sa.Uuid(), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('thank_you_text', sa.String(), server_default='', nullable=False),
        sa.Column('question_text', sa.String(), server_default='', nullable=False),
        sa.Column('delay_minutes', sa.Integer(), server_default='0', nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('delay_minutes >= 0', name=op.f('ck_csat_surveys_delay_not_negative')),
        sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_csat_surveys_tenant_id_channel_id_channels'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_csat_surveys_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_surveys')),
        sa.UniqueConstraint('tenant_id', 'channel_id', name=op.f('uq_csat_surveys_tenant_id_channel_id'))
    )
    op.create_table('follow_up_sequences',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
        sa.Column('trigger', sa.String(length=30), nullable=False),
        sa.Column('trigger_tag', sa.String(length=50), nullable=True),
        sa.Column('trigger_campaign_id', sa.Uuid(), nullable=True),
        sa.Column('channel_id', sa.Uuid(), nullable=True),
        sa.Column('stop_tag', sa.String(length=50), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("trigger <> 'tag_added' OR trigger_tag IS NOT NULL", name=op.f('ck_follow_up_sequences_tag_trigger_has_tag')),
        sa.CheckConstraint("trigger IN ('conversation_closed', 'tag_added', 'campaign_replied', 'campaign_not_replied')", name=op.f('ck_follow_up_sequences_trigger_valid')),
        sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_follow_up_sequences_tenant_id_channel_id_channels'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_follow_up_sequences_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_sequences')),
        sa.UniqueConstraint('tenant_id', 'id', name='uq_follow_up_sequences_tenant_id_id'),
        sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_follow_up_sequences_tenant_id_name'))
    )
    op.create_table('csat_responses',
        sa.Column('conversation_id', sa.Uuid(), nullable=False),
        sa.Column('contact_id', sa.Uuid(), nullable=False),
        sa.Column('channel_id', sa.Uuid(), nullable=False),
        sa.Column('agent_id', sa.Uuid(), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('score', sa.SmallInteger(), nullable=True),
        sa.Column('comment', sa.String(), server_default='', nullable=False),
        sa.Column('answer_message_id', sa.Uuid(), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.CheckConstraint('score IS NULL OR score BETWEEN 1 AND 5', name=op.f('ck_csat_responses_score_range')),
        sa.ForeignKeyConstraint(['tenant_id', 'agent_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_csat_responses_tenant_id_agent_id_users'), ondelete='SET NULL (agent_id)'),
        sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_csat_responses_tenant_id_channel_id_channels'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_csat_responses_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_csat_responses_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_csat_responses_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_responses')),
        sa.UniqueConstraint('tenant_id', 'conversation_id', 'closed_at', name=op.f('uq_csat_responses_tenant_id_conversation_id_closed_at'))
    )
    op.create_index('ix_csat_responses_answered', 'csat_responses', ['tenant_id', 'answered_at'], unique=False)
    op.create_index('ix_csat_responses_due', 'csat_responses', ['due_at'], unique=False, postgresql_where=sa.text('asked_at IS NULL'))
    op.create_index('ix_csat_responses_waiting', 'csat_responses', ['tenant_id', 'channel_id', 'contact_id'], unique=False, postgresql_where=sa.text('asked_at IS NOT NULL AND answered_at IS NULL'))
    op.create_table('follow_up_runs',
        sa.Column('sequence_id', sa.Uuid(), nullable=False),
        sa.Column('conversation_id', sa.Uuid(), nullable=False),
        sa.Column('next_step', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('state', sa.String(length=20), server_default='running', nullable=False),
        sa.Column('stop_reason', sa.String(length=30), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.CheckConstraint("state IN ('running', 'finished', 'stopped')", name=op.f('ck_follow_up_runs_state_valid')),
        sa.CheckConstraint("stop_reason IS NULL OR stop_reason IN ('replied', 'condition', 'cancelled', 'reply_window_closed', 'send_failed')", name=op.f('ck_follow_up_runs_stop_reason_valid')),
        sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_follow_up_runs_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id', 'sequence_id'], ['follow_up_sequences.tenant_id', 'follow_up_sequences.id'], name=op.f('fk_follow_up_runs_tenant_id_sequence_id_follow_up_sequences'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_follow_up_runs_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_runs')),
        sa.UniqueConstraint('tenant_id', 'sequence_id', 'conversation_id', name=op.f('uq_follow_up_runs_tenant_id_sequence_id_conversation_id'))
    )
    op.create_index('ix_follow_up_runs_conversation', 'follow_up_runs', ['tenant_id', 'conversation_id'], unique=False)
    op.create_index('ix_follow_up_runs_due', 'follow_up_runs', ['next_at'], unique=False, postgresql_where=sa.text("state = 'running'"))
    op.create_table('follow_up_steps',
        sa.Column('sequence_id', sa.Uuid(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('delay_minutes', sa.Integer(), nullable=False),
        sa.Column('body', sa.String(), server_default='', nullable=False),
        sa.Column('template_name', sa.String(length=512), nullable=True),
        sa.Column('template_language', sa.String(length=15), nullable=True),
        sa.Column('template_parameters', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.CheckConstraint("body <> '' OR template_name IS NOT NULL", name=op.f('ck_follow_up_steps_has_content')),
        sa.CheckConstraint('delay_minutes >= 0', name=op.f('ck_follow_up_steps_delay_not_negative')),
        sa.ForeignKeyConstraint(['tenant_id', 'sequence_id'], ['follow_up_sequences.tenant_id', 'follow_up_sequences.id'], name=op.f('fk_follow_up_steps_tenant_id_sequence_id_follow_up_sequences'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_follow_up_steps_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_steps')),
        sa.UniqueConstraint('tenant_id', 'sequence_id', 'position', name=op.f('uq_follow_up_steps_tenant_id_sequence_id_position'))
    )
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
        op.drop_table(table)

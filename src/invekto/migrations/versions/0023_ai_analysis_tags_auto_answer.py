"""AI: conversation analyses (sentiment, purchase intent, quality), the embedded texts tags are
learnt from, and auto-answer sessions

Revision ID: 0023
Revises: 0022
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("ai_auto_answers", "ai_tag_examples", "conversation_analyses")


def upgrade() -> None:
    op.create_table('ai_auto_answers',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=12), server_default='answering', nullable=False),
    sa.Column('answers', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_message_id', sa.Uuid(), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("state IN ('answering', 'handed_off', 'ended')", name=op.f('ck_ai_auto_answers_state_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_ai_auto_answers_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ai_auto_answers_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_auto_answers')),
    sa.UniqueConstraint('tenant_id', 'conversation_id', name=op.f('uq_ai_auto_answers_tenant_id_conversation_id'))
    )
    op.create_table('ai_tag_examples',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('embedding', Vector(384), nullable=False),
    sa.Column('embedding_model', sa.String(length=50), nullable=False),
    sa.Column('ai_applied', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_ai_tag_examples_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ai_tag_examples_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_tag_examples')),
    sa.UniqueConstraint('tenant_id', 'conversation_id', name=op.f('uq_ai_tag_examples_tenant_id_conversation_id'))
    )
    op.create_table('conversation_analyses',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('sentiment', sa.String(length=10), nullable=False),
    sa.Column('sentiment_scores', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('intent', sa.String(length=10), nullable=False),
    sa.Column('intent_reasons', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('quality', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('quality_score', sa.SmallInteger(), nullable=True),
    sa.Column('messages_analysed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('analysed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("intent IN ('none', 'low', 'medium', 'high')", name=op.f('ck_conversation_analyses_intent_valid')),
    sa.CheckConstraint("provider IN ('builtin', 'anthropic', 'openai')", name=op.f('ck_conversation_analyses_provider_valid')),
    sa.CheckConstraint("sentiment IN ('negative', 'neutral', 'positive')", name=op.f('ck_conversation_analyses_sentiment_valid')),
    sa.CheckConstraint('quality_score IS NULL OR quality_score BETWEEN 0 AND 100', name=op.f('ck_conversation_analyses_quality_score_percent')),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_conversation_analyses_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversation_analyses_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_analyses')),
    sa.UniqueConstraint('tenant_id', 'conversation_id', name=op.f('uq_conversation_analyses_tenant_id_conversation_id'))
    )
    op.create_index('ix_conversation_analyses_agent', 'conversation_analyses', ['tenant_id', 'agent_id', 'analysed_at'], unique=False)
    op.create_index('ix_conversation_analyses_intent', 'conversation_analyses', ['tenant_id', 'intent', 'analysed_at'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
        op.drop_table(table)

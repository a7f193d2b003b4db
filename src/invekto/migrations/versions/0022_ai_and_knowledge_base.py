"""AI: settings and usage, the knowledge base (documents, articles, embedded chunks), the memory of
past answers for reply suggestions

Revision ID: 0022
Revises: 0021
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("ai_settings", "ai_usage", "ai_answer_memory", "kb_documents", "kb_articles",
          "kb_chunks")


def upgrade() -> None:
    op.create_table('ai_answer_memory',
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('question', sa.String(), nullable=False),
    sa.Column('answer', sa.String(), nullable=False),
    sa.Column('embedding', Vector(384), nullable=False),
    sa.Column('embedding_model', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("source IN ('agent_answer', 'quick_reply')", name=op.f('ck_ai_answer_memory_source_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ai_answer_memory_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_answer_memory')),
    sa.UniqueConstraint('tenant_id', 'source', 'source_id', name=op.f('uq_ai_answer_memory_tenant_id_source_source_id'))
    )
    op.create_index('ix_ai_answer_memory_embedding', 'ai_answer_memory', ['embedding'], unique=False, postgresql_using='hnsw', postgresql_ops={'embedding': 'vector_cosine_ops'})
    op.create_table('ai_settings',
    sa.Column('provider', sa.String(length=20), server_default='builtin', nullable=False),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('base_url', sa.String(length=500), nullable=True),
    sa.Column('credentials_encrypted', sa.String(), nullable=True),
    sa.Column('request_timeout_seconds', sa.SmallInteger(), server_default='20', nullable=False),
    sa.Column('monthly_token_limit', sa.BigInteger(), nullable=True),
    sa.Column('suggestions_enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('answer_threshold', sa.Double(), server_default='0.76', nullable=False),
    sa.Column('tagging_mode', sa.String(length=10), server_default='suggest', nullable=False),
    sa.Column('tag_threshold', sa.Double(), server_default='0.6', nullable=False),
    sa.Column('auto_answer_channel_ids', postgresql.ARRAY(sa.Uuid()), server_default='{}', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("provider IN ('builtin', 'anthropic', 'openai')", name=op.f('ck_ai_settings_provider_valid')),
    sa.CheckConstraint("tagging_mode IN ('off', 'suggest', 'apply')", name=op.f('ck_ai_settings_tagging_mode_valid')),
    sa.CheckConstraint('answer_threshold BETWEEN 0 AND 1 AND tag_threshold BETWEEN 0 AND 1', name=op.f('ck_ai_settings_thresholds_fraction')),
    sa.CheckConstraint('request_timeout_seconds BETWEEN 1 AND 120', name=op.f('ck_ai_settings_timeout_range')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ai_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_ai_settings_tenant_id'))
    )
    op.create_table('ai_usage',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('requests', sa.Integer(), server_default='0', nullable=False),
    sa.Column('input_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('fallbacks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ai_usage_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_usage')),
    sa.UniqueConstraint('tenant_id', 'month', 'provider', name=op.f('uq_ai_usage_tenant_id_month_provider'))
    )
    op.create_table('kb_documents',
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('article_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_kb_documents_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_documents')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_kb_documents_tenant_id_id')
    )
    op.create_table('kb_articles',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('published', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=True),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('index_state', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("index_state IN ('pending', 'ready', 'failed')", name=op.f('ck_kb_articles_index_state_valid')),
    sa.CheckConstraint("kind IN ('article', 'faq')", name=op.f('ck_kb_articles_kind_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_kb_articles_tenant_id_channel_id_channels'), ondelete='SET NULL (channel_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'document_id'], ['kb_documents.tenant_id', 'kb_documents.id'], name=op.f('fk_kb_articles_tenant_id_document_id_kb_documents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_kb_articles_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_kb_articles_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'slug', name=op.f('uq_kb_articles_tenant_id_slug'))
    )
    op.create_index('ix_kb_articles_pending', 'kb_articles', ['tenant_id'], unique=False, postgresql_where=sa.text("index_state = 'pending'"))
    op.create_table('kb_chunks',
    sa.Column('article_id', sa.Uuid(), nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=True),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('embedding', Vector(384), nullable=False),
    sa.Column('title_embedding', Vector(384), nullable=False),
    sa.Column('embedding_model', sa.String(length=50), nullable=False),
    sa.Column('search_vector', postgresql.TSVECTOR(), sa.Computed("to_tsvector('invekto_turkish'::regconfig, text)", persisted=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'article_id'], ['kb_articles.tenant_id', 'kb_articles.id'], name=op.f('fk_kb_chunks_tenant_id_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_kb_chunks_tenant_id_channel_id_channels'), ondelete='SET NULL (channel_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_kb_chunks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_chunks')),
    sa.UniqueConstraint('tenant_id', 'article_id', 'position', name=op.f('uq_kb_chunks_tenant_id_article_id_position'))
    )
    op.create_index('ix_kb_chunks_embedding', 'kb_chunks', ['embedding'], unique=False, postgresql_using='hnsw', postgresql_ops={'embedding': 'vector_cosine_ops'})
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
        op.drop_table(table)

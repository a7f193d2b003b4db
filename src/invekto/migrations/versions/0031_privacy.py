"""Data subject requests and retention policies

Revision ID: 0031
Revises: 0030
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('privacy_requests', 'privacy_retention_policies', 'privacy_retention_runs',
          'privacy_anonymised')


def upgrade() -> None:
    op.create_table('privacy_requests',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('requested_by_kind', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='received', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind IN ('export', 'erasure')", name=op.f('ck_privacy_requests_kind_valid')),
    sa.CheckConstraint("status IN ('received', 'fulfilled')", name=op.f('ck_privacy_requests_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_privacy_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_requests'))
    )
    op.create_index('ix_privacy_requests_contact', 'privacy_requests', ['tenant_id', 'contact_id'], unique=False)
    op.create_index('ix_privacy_requests_recent', 'privacy_requests', ['tenant_id', 'received_at'], unique=False)
    op.create_table('privacy_retention_policies',
    sa.Column('attachment_days', sa.Integer(), nullable=True),
    sa.Column('conversation_months', sa.SmallInteger(), nullable=True),
    sa.Column('audit_days', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('attachment_days IS NULL OR attachment_days BETWEEN 30 AND 3650', name=op.f('ck_privacy_retention_policies_attachment_days_range')),
    sa.CheckConstraint('conversation_months IS NULL OR conversation_months BETWEEN 3 AND 120', name=op.f('ck_privacy_retention_policies_conversation_months_range')),
    sa.CheckConstraint('audit_days IS NULL OR audit_days BETWEEN 180 AND 3650', name=op.f('ck_privacy_retention_policies_audit_days_range')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_privacy_retention_policies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_retention_policies')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_privacy_retention_policies_tenant_id'))
    )
    op.create_table('privacy_retention_runs',
    sa.Column('status', sa.String(length=10), server_default='running', nullable=False),
    sa.Column('policy', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attachments_deleted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('bytes_deleted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('conversations_anonymised', sa.Integer(), server_default='0', nullable=False),
    sa.Column('audit_events_deleted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('running', 'finished', 'failed')", name=op.f('ck_privacy_retention_runs_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_privacy_retention_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_retention_runs'))
    )
    op.create_index('ix_privacy_retention_runs_recent', 'privacy_retention_runs', ['tenant_id', 'started_at'], unique=False)
    op.create_table('privacy_anonymised',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=10), nullable=False),
    sa.Column('anonymised_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("reason IN ('erasure', 'retention')", name=op.f('ck_privacy_anonymised_reason_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_privacy_anonymised_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_privacy_anonymised_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'conversation_id', name=op.f('pk_privacy_anonymised'))
    )
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    # Erasure and retention delete attachments: find them by age, and their messages by id.
    op.create_index('ix_attachments_created', 'attachments', ['tenant_id', 'created_at'], unique=False)
    op.create_index('ix_messages_attachment', 'messages', ['tenant_id', 'attachment_id'], unique=False, postgresql_where=sa.text('attachment_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_messages_attachment', table_name='messages', postgresql_where=sa.text('attachment_id IS NOT NULL'))
    op.drop_index('ix_attachments_created', table_name='attachments')
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table('privacy_anonymised')
    op.drop_index('ix_privacy_retention_runs_recent', table_name='privacy_retention_runs')
    op.drop_table('privacy_retention_runs')
    op.drop_table('privacy_retention_policies')
    op.drop_index('ix_privacy_requests_recent', table_name='privacy_requests')
    op.drop_index('ix_privacy_requests_contact', table_name='privacy_requests')
    op.drop_table('privacy_requests')

"""Integrations: a company's connections to other systems, and the events they post

``integrations`` (one row per company and provider: settings, encrypted credentials and kept
state, the last test's status) and ``integration_events`` (each provider event once, by its
delivery id).

Revision ID: 0033
Revises: 0032
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('integrations', 'integration_events')


def upgrade() -> None:
    op.create_table('integrations',
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('credentials_encrypted', sa.Text(), nullable=True),
    sa.Column('state_encrypted', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='unchecked', nullable=False),
    sa.Column('status_detail', sa.String(length=500), server_default='', nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('unchecked', 'ok', 'failing')", name=op.f('ck_integrations_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_integrations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integrations')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_integrations_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'kind', name=op.f('uq_integrations_tenant_id_kind'))
    )
    op.create_table('integration_events',
    sa.Column('integration_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'integration_id'], ['integrations.tenant_id', 'integrations.id'], name=op.f('fk_integration_events_tenant_id_integration_id_integrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_integration_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integration_events')),
    sa.UniqueConstraint('tenant_id', 'integration_id', 'event_id', name=op.f('uq_integration_events_tenant_id_integration_id_event_id'))
    )
    op.create_index('ix_integration_events_received', 'integration_events', ['tenant_id', 'integration_id', 'received_at'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('ix_integration_events_received', table_name='integration_events')
    op.drop_table('integration_events')
    op.drop_table('integrations')

"""Consent history and İYS synchronisation

Every change of a contact's marketing consent as an append-only event (consent_events), the
company's İYS account (iys_settings, password and tokens encrypted) and the İYS outbox
(iys_pushes). The consents recorded so far start the history, one event each.

Revision ID: 0032
Revises: 0031
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('consent_events', 'iys_settings', 'iys_pushes')


def upgrade() -> None:
    op.create_table('consent_events',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('consent_type', sa.String(length=10), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('iys_status', sa.String(length=4), nullable=True),
    sa.Column('iys_source', sa.String(length=40), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_kind', sa.String(length=10), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('iys_transaction_id', sa.String(length=100), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("actor_kind IN ('user', 'api_key', 'system', 'iys')", name=op.f('ck_consent_events_actor_kind_valid')),
    sa.CheckConstraint("consent_type IN ('message', 'call', 'email')", name=op.f('ck_consent_events_type_valid')),
    sa.CheckConstraint("iys_status IS NULL OR iys_status IN ('ONAY', 'RET')", name=op.f('ck_consent_events_iys_status_valid')),
    sa.CheckConstraint("source IN ('widget', 'keyword', 'import', 'manual', 'iys')", name=op.f('ck_consent_events_source_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_consent_events_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_consent_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_consent_events_tenant_id_id')
    )
    op.create_index('ix_consent_events_contact', 'consent_events', ['tenant_id', 'contact_id', 'recorded_at'], unique=False)
    op.create_index('uq_consent_events_iys_transaction', 'consent_events', ['tenant_id', 'iys_transaction_id'], unique=True, postgresql_where=sa.text('iys_transaction_id IS NOT NULL'))
    op.create_table('iys_settings',
    sa.Column('enabled', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('base_url', sa.String(length=300), nullable=False),
    sa.Column('iys_code', sa.String(length=20), nullable=False),
    sa.Column('brand_code', sa.String(length=20), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password_encrypted', sa.Text(), nullable=True),
    sa.Column('recipient_type', sa.String(length=10), server_default='BIREYSEL', nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('changes_after', sa.String(length=300), nullable=True),
    sa.Column('pulled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pull_error', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("recipient_type IN ('BIREYSEL', 'TACIR')", name=op.f('ck_iys_settings_recipient_type_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_iys_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iys_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_iys_settings_tenant_id'))
    )
    op.create_table('iys_pushes',
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transaction_id', sa.String(length=100), nullable=True),
    sa.Column('error_code', sa.String(length=20), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name=op.f('ck_iys_pushes_state_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'event_id'], ['consent_events.tenant_id', 'consent_events.id'], name=op.f('fk_iys_pushes_tenant_id_event_id_consent_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_iys_pushes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iys_pushes')),
    sa.UniqueConstraint('tenant_id', 'event_id', name=op.f('uq_iys_pushes_tenant_id_event_id'))
    )
    op.create_index('ix_iys_pushes_state', 'iys_pushes', ['tenant_id', 'state', 'next_attempt_at'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    # Consents recorded before the history began: one event each, as they stand.
    op.execute("SELECT set_config('app.scope', 'system', true)")
    op.execute(
        "INSERT INTO consent_events (id, tenant_id, contact_id, consent_type, granted, source, "
        "iys_status, recipient, occurred_at, recorded_at, actor_kind, evidence) "
        "SELECT uuidv7(), c.tenant_id, c.contact_id, c.consent_type, c.granted, c.source, "
        "c.iys_status, CASE WHEN c.consent_type = 'email' THEN k.email ELSE k.phone END, "
        "c.recorded_at, c.recorded_at, 'system', '{\"recorded_before_history\": true}'::jsonb "
        "FROM contact_consents c JOIN contacts k ON k.tenant_id = c.tenant_id "
        "AND k.id = c.contact_id")
    op.execute("SELECT set_config('app.scope', '', true)")


def downgrade() -> None:
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('ix_iys_pushes_state', table_name='iys_pushes')
    op.drop_table('iys_pushes')
    op.drop_table('iys_settings')
    op.drop_index('uq_consent_events_iys_transaction', table_name='consent_events', postgresql_where=sa.text('iys_transaction_id IS NOT NULL'))
    op.drop_index('ix_consent_events_contact', table_name='consent_events')
    op.drop_table('consent_events')

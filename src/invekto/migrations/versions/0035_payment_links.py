"""Payment links

``payment_links``: a link to pay (iyzico, PayTR) sent in a conversation, and what the provider's
verified callback said of it. Conversation events gain the kind ``payment`` (the thread's
"Payment received" line).

Revision ID: 0035
Revises: 0034
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('payment_links',)
EVENT_KINDS_BEFORE = ("assigned", "transferred", "closed", "reopened", "tagged", "untagged",
                      "snoozed", "priority", "takeover", "status", "campaign", "bot", "automation")


def _event_kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                       type_="check")
    op.create_check_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                               "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")")


def upgrade() -> None:
    op.create_table('payment_links',
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('integration_id', sa.Uuid(), nullable=True),
    sa.Column('provider', sa.String(length=30), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='created', nullable=False),
    sa.Column('provider_token', sa.String(length=200), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('paid_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('provider_payment_id', sa.String(length=100), nullable=True),
    sa.Column('failure_reason', sa.String(length=500), nullable=True),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payment_links_amount_positive')),
    sa.CheckConstraint("status IN ('created', 'sent', 'paid', 'failed', 'expired')", name=op.f('ck_payment_links_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_payment_links_tenant_id_contact_id_contacts'), ondelete='SET NULL (contact_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_payment_links_tenant_id_conversation_id_conversations'), ondelete='SET NULL (conversation_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'created_by'], ['users.tenant_id', 'users.id'], name=op.f('fk_payment_links_tenant_id_created_by_users'), ondelete='SET NULL (created_by)'),
    sa.ForeignKeyConstraint(['tenant_id', 'integration_id'], ['integrations.tenant_id', 'integrations.id'], name=op.f('fk_payment_links_tenant_id_integration_id_integrations'), ondelete='SET NULL (integration_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_payment_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_links')),
    sa.UniqueConstraint('tenant_id', 'reference', name=op.f('uq_payment_links_tenant_id_reference'))
    )
    op.create_index('ix_payment_links_conversation', 'payment_links', ['tenant_id', 'conversation_id', 'created_at'], unique=False)
    op.create_index('ix_payment_links_token', 'payment_links', ['tenant_id', 'provider', 'provider_token'], unique=False)
    op.create_index('uq_payment_links_idempotency_key', 'payment_links', ['tenant_id', 'idempotency_key'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    _event_kinds((*EVENT_KINDS_BEFORE, "payment"))


def downgrade() -> None:
    op.execute("DELETE FROM conversation_events WHERE kind = 'payment'")
    _event_kinds(EVENT_KINDS_BEFORE)
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('uq_payment_links_idempotency_key', table_name='payment_links', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('ix_payment_links_token', table_name='payment_links')
    op.drop_index('ix_payment_links_conversation', table_name='payment_links')
    op.drop_table('payment_links')

"""Zoho CRM contact sync

``zoho_links``: which Zoho CRM record (a Lead or a Contact) each contact is kept the same as,
with a fingerprint of the values last synced and when each side last changed.

Revision ID: 0036
Revises: 0035
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('zoho_links',)


def upgrade() -> None:
    op.create_table('zoho_links',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('module', sa.String(length=30), nullable=False),
    sa.Column('record_id', sa.String(length=30), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('zoho_modified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pulled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_zoho_links_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_zoho_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zoho_links')),
    sa.UniqueConstraint('tenant_id', 'contact_id', name=op.f('uq_zoho_links_tenant_id_contact_id')),
    sa.UniqueConstraint('tenant_id', 'module', 'record_id', name=op.f('uq_zoho_links_tenant_id_module_record_id'))
    )
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table('zoho_links')

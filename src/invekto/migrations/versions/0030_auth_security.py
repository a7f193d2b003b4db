"""Two-factor authentication, single sign-on, session limits and password policy

Revision ID: 0030
Revises: 0029
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('user_two_factor', 'user_recovery_codes', 'pending_logins', 'security_settings',
          'sso_settings', 'user_sso_identities')


def _id_and_tenant(table: str) -> list:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f(f'fk_{table}_tenant_id_tenants'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
    ]


def _timestamps() -> list:
    return [
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    ]


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'], name=op.f(f'fk_{table}_tenant_id_user_id_users'), ondelete='CASCADE')


def upgrade() -> None:
    op.create_table('user_two_factor',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.BigInteger(), nullable=True),
    *_id_and_tenant('user_two_factor'),
    *_timestamps(),
    _user_fk('user_two_factor'),
    sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_user_two_factor_tenant_id_user_id'))
    )
    op.create_table('user_recovery_codes',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    *_id_and_tenant('user_recovery_codes'),
    _user_fk('user_recovery_codes'),
    sa.UniqueConstraint('tenant_id', 'user_id', 'code_hash', name=op.f('uq_user_recovery_codes_tenant_id_user_id_code_hash'))
    )
    op.create_table('pending_logins',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('user_agent', sa.String(length=400), server_default='', nullable=False),
    *_id_and_tenant('pending_logins'),
    _user_fk('pending_logins'),
    sa.CheckConstraint("purpose IN ('verify', 'enrol')", name=op.f('ck_pending_logins_purpose_valid')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_pending_logins_token_hash'))
    )
    op.create_table('security_settings',
    sa.Column('require_two_factor', sa.Boolean(), nullable=False),
    sa.Column('session_idle_minutes', sa.Integer(), nullable=False),
    sa.Column('session_absolute_hours', sa.Integer(), nullable=False),
    sa.Column('password_min_length', sa.SmallInteger(), nullable=False),
    sa.Column('password_needs_letters_and_digits', sa.Boolean(), nullable=False),
    *_id_and_tenant('security_settings'),
    *_timestamps(),
    sa.CheckConstraint('session_idle_minutes BETWEEN 15 AND 43200', name=op.f('ck_security_settings_idle_range')),
    sa.CheckConstraint('session_absolute_hours BETWEEN 1 AND 2160', name=op.f('ck_security_settings_absolute_range')),
    sa.CheckConstraint('password_min_length BETWEEN 10 AND 128', name=op.f('ck_security_settings_min_length_range')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_security_settings_tenant_id'))
    )
    op.create_table('sso_settings',
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('client_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('create_users', sa.Boolean(), nullable=False),
    sa.Column('default_role', sa.String(length=20), nullable=False),
    sa.Column('sso_only', sa.Boolean(), nullable=False),
    *_id_and_tenant('sso_settings'),
    *_timestamps(),
    sa.CheckConstraint("default_role IN ('agent', 'supervisor')", name=op.f('ck_sso_settings_default_role_valid')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_sso_settings_tenant_id'))
    )
    op.create_table('user_sso_identities',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=False),
    *_id_and_tenant('user_sso_identities'),
    _user_fk('user_sso_identities'),
    sa.UniqueConstraint('tenant_id', 'issuer', 'subject', name=op.f('uq_user_sso_identities_tenant_id_issuer_subject'))
    )
    op.create_index('ix_user_sso_identities_user', 'user_sso_identities', ['tenant_id', 'user_id'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('ix_user_sso_identities_user', table_name='user_sso_identities')
    for table in reversed(TABLES):
        op.drop_table(table)

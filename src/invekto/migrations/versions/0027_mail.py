"""Mail: a company's SMTP settings, its weekly summary's settings, and each week's summary sent

Revision ID: 0027
Revises: 0026
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('mail_smtp_settings', 'mail_summary_settings', 'mail_summary_sends')


def upgrade() -> None:
    op.create_table('mail_smtp_settings',
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=10), nullable=False),
    sa.Column('username', sa.String(length=320), nullable=True),
    sa.Column('password_encrypted', sa.Text(), nullable=True),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("security IN ('starttls', 'tls', 'none')", name=op.f('ck_mail_smtp_settings_security_valid')),
    sa.CheckConstraint('port BETWEEN 1 AND 65535', name=op.f('ck_mail_smtp_settings_port_range')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_smtp_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_smtp_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_mail_smtp_settings_tenant_id'))
    )
    op.create_table('mail_summary_sends',
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_code', sa.String(length=20), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('sending', 'sent', 'failed')", name=op.f('ck_mail_summary_sends_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_summary_sends_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_summary_sends')),
    sa.UniqueConstraint('tenant_id', 'week_start', name=op.f('uq_mail_summary_sends_tenant_id_week_start'))
    )
    op.create_table('mail_summary_settings',
    sa.Column('enabled', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('recipients', postgresql.ARRAY(sa.String(length=320)), server_default='{}', nullable=False),
    sa.Column('weekday', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('hour', sa.SmallInteger(), server_default='8', nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("language IN ('tr', 'en')", name=op.f('ck_mail_summary_settings_language_valid')),
    sa.CheckConstraint('hour BETWEEN 0 AND 23', name=op.f('ck_mail_summary_settings_hour_of_day')),
    sa.CheckConstraint('weekday BETWEEN 1 AND 7', name=op.f('ck_mail_summary_settings_weekday_iso')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_summary_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_summary_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_mail_summary_settings_tenant_id'))
    )
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table('mail_summary_settings')
    op.drop_table('mail_summary_sends')
    op.drop_table('mail_smtp_settings')

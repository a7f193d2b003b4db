"""Reports: daily sums in the company's zone, and sums per tag (the facts carry their tags)

Revision ID: 0026
Revises: 0025
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUM_KEY = ['detail', 'channel_id', 'group_id', 'user_id', 'tag']


def upgrade() -> None:
    op.create_table('report_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.String(length=100), server_default='', nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('seconds_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('business_seconds_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('value_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('tag', sa.String(length=100), server_default='', nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_daily_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_daily'))
    )
    op.create_index('ix_report_daily_read', 'report_daily', ['tenant_id', 'tag', 'kind', 'day'], unique=False)
    op.create_index('uq_report_daily_key', 'report_daily', ['tenant_id', 'day', 'kind', *SUM_KEY], unique=True, postgresql_nulls_not_distinct=True)
    for statement in rls.enable_statements('report_daily'):
        op.execute(statement)
    op.add_column('report_facts', sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False))
    # Facts are now found by conversation only (the sums are kept by difference).
    op.drop_index('ix_report_facts_at', table_name='report_facts')
    op.add_column('report_hourly', sa.Column('tag', sa.String(length=100), server_default='', nullable=False))
    op.drop_index('ix_report_hourly_hour', table_name='report_hourly')
    op.drop_index('ix_report_hourly_kind_hour', table_name='report_hourly')
    op.create_index('ix_report_hourly_read', 'report_hourly', ['tenant_id', 'tag', 'kind', 'hour'], unique=False)
    op.create_index('uq_report_hourly_key', 'report_hourly', ['tenant_id', 'hour', 'kind', *SUM_KEY], unique=True, postgresql_nulls_not_distinct=True)
    op.add_column('report_refreshes', sa.Column('daily_zone', sa.String(length=64), nullable=True))
    op.alter_column('report_refreshes', 'refreshed_at', nullable=True)
    # The facts there are know no tags: derive every conversation again, from nothing.
    op.execute("SELECT set_config('app.scope', 'system', true)")
    op.execute("DELETE FROM report_facts")
    op.execute("DELETE FROM report_hourly")
    op.execute("DELETE FROM report_refreshes")
    op.execute("INSERT INTO report_dirty (tenant_id, conversation_id) "
               "SELECT tenant_id, id FROM conversations ORDER BY opened_at")
    op.execute("SELECT set_config('app.scope', '', true)")


def downgrade() -> None:
    op.execute("DELETE FROM report_refreshes WHERE refreshed_at IS NULL")
    op.alter_column('report_refreshes', 'refreshed_at', nullable=False)
    op.drop_column('report_refreshes', 'daily_zone')
    op.drop_index('uq_report_hourly_key', table_name='report_hourly', postgresql_nulls_not_distinct=True)
    op.drop_index('ix_report_hourly_read', table_name='report_hourly')
    # Only the sums over all conversations are what the older schema holds.
    op.execute("DELETE FROM report_hourly WHERE tag <> ''")
    op.create_index(op.f('ix_report_hourly_kind_hour'), 'report_hourly', ['tenant_id', 'kind', 'hour'], unique=False)
    op.create_index(op.f('ix_report_hourly_hour'), 'report_hourly', ['tenant_id', 'hour'], unique=False)
    op.drop_column('report_hourly', 'tag')
    op.create_index('ix_report_facts_at', 'report_facts', ['tenant_id', 'at'], unique=False)
    op.drop_column('report_facts', 'tags')
    for statement in rls.disable_statements('report_daily'):
        op.execute(statement)
    op.drop_index('uq_report_daily_key', table_name='report_daily', postgresql_nulls_not_distinct=True)
    op.drop_index('ix_report_daily_read', table_name='report_daily')
    op.drop_table('report_daily')

"""Reports: derived facts, hourly rollups, the dirty queue its triggers fill; agents' presence periods

Revision ID: 0024
Revises: 0023
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from invekto.db import rls

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("presence_periods", "report_dirty", "report_facts", "report_hourly",
          "report_refreshes")

# What a report could read changed: the conversation goes on the refresher's list. Inserts are
# marked a statement at a time (a campaign's thousand messages, one INSERT ... SELECT), updates
# of the columns that matter a row at a time. Deletes too: the refresher drops the facts of a
# conversation that is gone and re-sums their hours.
_MARK_FROM_NEW_ROWS = '''
CREATE FUNCTION report_mark_rows_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (tenant_id, conversation_id)
    SELECT DISTINCT tenant_id, conversation_id FROM changed;
    RETURN NULL;
END $$'''
_MARK_FROM_ROW = '''
CREATE FUNCTION report_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (tenant_id, conversation_id)
    VALUES (NEW.tenant_id, NEW.conversation_id);
    RETURN NULL;
END $$'''
_MARK_CONVERSATION = '''
CREATE FUNCTION report_mark_conversation_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Not when the whole company goes (its facts go with it).
        IF EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
            INSERT INTO report_dirty (tenant_id, conversation_id) VALUES (OLD.tenant_id, OLD.id);
        END IF;
    ELSE
        INSERT INTO report_dirty (tenant_id, conversation_id) VALUES (NEW.tenant_id, NEW.id);
    END IF;
    RETURN NULL;
END $$'''
# Not last_message_at or first_response_at: a message's own insert sets them, and the messages'
# trigger has marked the conversation already (one mark per message on the ingest's path).
_CONVERSATION_COLUMNS = ("status, assignee_id, group_id, channel_id, tags, opened_at, closed_at, "
                         "held_by_bot, referral, first_response_due_at, resolution_due_at")
TRIGGERS = (
    _MARK_FROM_NEW_ROWS, _MARK_FROM_ROW, _MARK_CONVERSATION,
    "CREATE TRIGGER report_dirty_conversation AFTER INSERT OR DELETE OR UPDATE OF "
    f"{_CONVERSATION_COLUMNS} ON conversations "
    "FOR EACH ROW EXECUTE FUNCTION report_mark_conversation_dirty()",
    *(f"CREATE TRIGGER report_dirty_{table} AFTER INSERT ON {table} "
      "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
      "EXECUTE FUNCTION report_mark_rows_dirty()"
      for table in ("messages", "conversation_events", "sla_breaches")),
    # A call's outcome and talk time arrive as updates of its message.
    "CREATE TRIGGER report_dirty_messages_payload AFTER UPDATE OF payload ON messages "
    "FOR EACH ROW EXECUTE FUNCTION report_mark_dirty()",
    "CREATE TRIGGER report_dirty_csat_responses AFTER INSERT OR UPDATE ON csat_responses "
    "FOR EACH ROW EXECUTE FUNCTION report_mark_dirty()",
    "CREATE TRIGGER report_dirty_flow_sessions AFTER INSERT OR UPDATE OF ended_at, end_reason "
    "ON flow_sessions FOR EACH ROW EXECUTE FUNCTION report_mark_dirty()",
    "CREATE TRIGGER report_dirty_ai_auto_answers AFTER INSERT OR UPDATE OF state, ended_at "
    "ON ai_auto_answers FOR EACH ROW EXECUTE FUNCTION report_mark_dirty()",
)
TRIGGER_NAMES = (
    ("conversations", "report_dirty_conversation"), ("messages", "report_dirty_messages"),
    ("conversation_events", "report_dirty_conversation_events"),
    ("sla_breaches", "report_dirty_sla_breaches"),
    ("messages", "report_dirty_messages_payload"),
    ("csat_responses", "report_dirty_csat_responses"),
    ("flow_sessions", "report_dirty_flow_sessions"),
    ("ai_auto_answers", "report_dirty_ai_auto_answers"),
)


def upgrade() -> None:
    op.create_table('report_dirty',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_dirty_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_dirty'))
    )
    op.create_index('ix_report_dirty_tenant', 'report_dirty', ['tenant_id', 'id'], unique=False)
    op.create_index('ix_report_dirty_conversation', 'report_dirty',
                    ['tenant_id', 'conversation_id'], unique=False)
    op.create_table('report_hourly',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.String(length=100), server_default='', nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('seconds_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('business_seconds_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('value_sum', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_hourly_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_hourly'))
    )
    op.create_index('ix_report_hourly_hour', 'report_hourly', ['tenant_id', 'hour'], unique=False)
    op.create_index('ix_report_hourly_kind_hour', 'report_hourly', ['tenant_id', 'kind', 'hour'], unique=False)
    op.create_table('report_refreshes',
    sa.Column('refreshed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_refreshes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_report_refreshes'))
    )
    op.create_table('presence_periods',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('presence', sa.String(length=10), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("presence IN ('online', 'away')", name=op.f('ck_presence_periods_presence_valid')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_presence_periods_ends_after_start')),
    sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_presence_periods_tenant_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_presence_periods_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_presence_periods'))
    )
    op.create_index('ix_presence_periods_user', 'presence_periods', ['tenant_id', 'user_id', 'started_at'], unique=False)
    op.create_index('uq_presence_periods_open', 'presence_periods', ['tenant_id', 'user_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('report_facts',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.String(length=100), server_default='', nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.BigInteger(), nullable=True),
    sa.Column('business_seconds', sa.BigInteger(), nullable=True),
    sa.Column('value', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_facts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'conversation_id', 'seq', name=op.f('pk_report_facts'))
    )
    op.create_index('ix_report_facts_at', 'report_facts', ['tenant_id', 'at'], unique=False)
    op.create_index('ix_report_facts_kind_at', 'report_facts', ['tenant_id', 'kind', 'at'], unique=False, postgresql_include=['seconds', 'business_seconds', 'value', 'channel_id', 'group_id', 'user_id', 'conversation_id', 'detail'])
    op.create_index('ix_conversation_events_conversation', 'conversation_events',
                    ['tenant_id', 'conversation_id', 'created_at'], unique=False)
    op.create_index('ix_flow_sessions_conversation', 'flow_sessions',
                    ['tenant_id', 'conversation_id'], unique=False)
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    for statement in TRIGGERS:
        op.execute(statement)
    # The conversations there are already: the refresher derives them all, a batch at a time.
    op.execute("SELECT set_config('app.scope', 'system', true)")
    op.execute("INSERT INTO report_dirty (tenant_id, conversation_id) "
               "SELECT tenant_id, id FROM conversations ORDER BY opened_at")
    op.execute("SELECT set_config('app.scope', '', true)")


def downgrade() -> None:
    for table, name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS report_mark_dirty()")
    op.execute("DROP FUNCTION IF EXISTS report_mark_rows_dirty()")
    op.execute("DROP FUNCTION IF EXISTS report_mark_conversation_dirty()")
    for table in TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('ix_flow_sessions_conversation', table_name='flow_sessions')
    op.drop_index('ix_conversation_events_conversation', table_name='conversation_events')
    op.drop_index('ix_report_facts_kind_at', table_name='report_facts', postgresql_include=['seconds', 'business_seconds', 'value', 'channel_id', 'group_id', 'user_id', 'conversation_id', 'detail'])
    op.drop_index('ix_report_facts_at', table_name='report_facts')
    op.drop_table('report_facts')
    op.drop_index('uq_presence_periods_open', table_name='presence_periods', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_presence_periods_user', table_name='presence_periods')
    op.drop_table('presence_periods')
    op.drop_table('report_refreshes')
    op.drop_index('ix_report_hourly_kind_hour', table_name='report_hourly')
    op.drop_index('ix_report_hourly_hour', table_name='report_hourly')
    op.drop_table('report_hourly')
    op.drop_index('ix_report_dirty_conversation', table_name='report_dirty')
    op.drop_index('ix_report_dirty_tenant', table_name='report_dirty')
    op.drop_table('report_dirty')

"""Automation rules and chatbot flows

Revision ID: 0021
Revises: 0020
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("automation_rules", "flows", "automation_runs", "flow_versions", "flow_sessions")
EVENT_KINDS_BEFORE = ("assigned", "transferred", "closed", "reopened", "tagged", "untagged",
                      "snoozed", "priority", "takeover", "status", "campaign")
EVENT_KINDS = (*EVENT_KINDS_BEFORE, "bot", "automation")


def _event_kinds(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                       type_="check")
    op.create_check_constraint(op.f("ck_conversation_events_kind_valid"), "conversation_events",
                               "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")")


def upgrade() -> None:
    op.create_table('automation_rules',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), server_default='', nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('event_options', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('conditions', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('actions', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('stop_after', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_automation_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_rules')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_automation_rules_tenant_id_id')
    )
    op.create_index('ix_automation_rules_event', 'automation_rules', ['tenant_id', 'event', 'position'], unique=False, postgresql_where=sa.text('enabled'))
    op.create_table('flows',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('draft', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('draft_triggers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('published_version_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_flows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_flows_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_flows_tenant_id_name'))
    )
    op.create_table('automation_runs',
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('occurrence', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('results', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('error', sa.String(length=1000), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('done', 'failed', 'skipped')", name=op.f('ck_automation_runs_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'rule_id'], ['automation_rules.tenant_id', 'automation_rules.id'], name=op.f('fk_automation_runs_tenant_id_rule_id_automation_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_automation_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs'))
    )
    op.create_index('ix_automation_runs_rule_recent', 'automation_runs', ['tenant_id', 'rule_id', sa.literal_column('created_at DESC')], unique=False)
    op.create_index('uq_automation_runs_occurrence', 'automation_runs', ['tenant_id', 'rule_id', 'conversation_id', 'occurrence'], unique=True, postgresql_where=sa.text('occurrence IS NOT NULL'), postgresql_nulls_not_distinct=True)
    op.create_table('flow_versions',
    sa.Column('flow_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('graph', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('triggers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('published_by', sa.Uuid(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'flow_id'], ['flows.tenant_id', 'flows.id'], name=op.f('fk_flow_versions_tenant_id_flow_id_flows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_flow_versions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_versions')),
    sa.UniqueConstraint('tenant_id', 'flow_id', 'number', name=op.f('uq_flow_versions_tenant_id_flow_id_number')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_flow_versions_tenant_id_id')
    )
    op.create_table('flow_sessions',
    sa.Column('flow_id', sa.Uuid(), nullable=False),
    sa.Column('flow_version_id', sa.Uuid(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=10), server_default='running', nullable=False),
    sa.Column('node_id', sa.String(length=50), nullable=True),
    sa.Column('step', sa.Integer(), server_default='0', nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('variables', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('retries', sa.Integer(), server_default='0', nullable=False),
    sa.Column('trail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('started_by', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("state IN ('running', 'waiting', 'sleeping', 'ended')", name=op.f('ck_flow_sessions_state_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_flow_sessions_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'flow_version_id'], ['flow_versions.tenant_id', 'flow_versions.id'], name=op.f('fk_flow_sessions_tenant_id_flow_version_id_flow_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_flow_sessions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_sessions'))
    )
    op.create_index('ix_flow_sessions_due', 'flow_sessions', ['due_at'], unique=False, postgresql_where=sa.text("state <> 'ended'"))
    op.create_index('uq_flow_sessions_active', 'flow_sessions', ['tenant_id', 'conversation_id'], unique=True, postgresql_where=sa.text("state <> 'ended'"))
    op.add_column('conversations', sa.Column('held_by_bot', sa.Boolean(), server_default='false', nullable=False))
    for table in TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)
    _event_kinds(EVENT_KINDS)


def downgrade() -> None:
    _event_kinds(EVENT_KINDS_BEFORE)
    op.drop_column('conversations', 'held_by_bot')
    for table in reversed(TABLES):
        for statement in rls.disable_statements(table):
            op.execute(statement)
        op.drop_table(table)

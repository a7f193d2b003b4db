"""Custom roles built from permissions; personal custom fields; the audit log keeps the user agent
and before/after values

Revision ID: 0029
Revises: 0028
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Append-only audit log: UPDATE and DELETE are refused, except the retention purge (which sets
# invekto.audit_purge for its transaction, audit.service.purge_before) and the cascade of a
# company's own removal (its tenant row is gone by then).
APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('invekto.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade() -> None:
    op.execute(APPEND_ONLY)
    op.create_table('custom_roles',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), server_default='', nullable=False),
    sa.Column('permissions', postgresql.ARRAY(sa.String(length=40)), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_custom_roles_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_roles')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_custom_roles_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_custom_roles_tenant_id_name'))
    )
    for statement in rls.enable_statements('custom_roles'):
        op.execute(statement)
    op.add_column('users', sa.Column('custom_role_id', sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f('fk_users_tenant_id_custom_role_id_custom_roles'), 'users', 'custom_roles', ['tenant_id', 'custom_role_id'], ['tenant_id', 'id'], ondelete='RESTRICT')
    op.add_column('custom_field_definitions', sa.Column('is_personal', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('audit_events', sa.Column('user_agent', sa.String(length=400), nullable=True))
    op.add_column('audit_events', sa.Column('before', postgresql.JSONB(astext_type=sa.Text()),
                                            nullable=True))
    op.add_column('audit_events', sa.Column('after', postgresql.JSONB(astext_type=sa.Text()),
                                            nullable=True))


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_constraint(op.f('fk_users_tenant_id_custom_role_id_custom_roles'), 'users', type_='foreignkey')
    op.drop_column('users', 'custom_role_id')
    for statement in rls.disable_statements('custom_roles'):
        op.execute(statement)
    op.drop_table('custom_roles')
    op.drop_column('audit_events', 'after')
    op.drop_column('audit_events', 'before')
    op.drop_column('audit_events', 'user_agent')
    op.drop_column('custom_field_definitions', 'is_personal')

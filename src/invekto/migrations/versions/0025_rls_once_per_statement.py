"""Row-level security: the tenant and scope settings read once per statement

Revision ID: 0025
Revises: 0024

Every tenant_isolation policy compared each row with ``current_setting(...)`` calls, which
PostgreSQL runs per row when the predicate is a filter (the OR with the system scope makes it
one): 0.5 µs a row, most of the time a report spent scanning a million facts. Wrapped in
scalar subqueries they become init plans, evaluated once per statement; what the policy allows
is unchanged.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid"
          " OR current_setting('app.scope', true) = 'system'")
AFTER = ("tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)"
         " OR (SELECT current_setting('app.scope', true)) = 'system'")


def _rewrite(predicate: str) -> None:
    tables = op.get_bind().execute(sa.text(
        "SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation' "
        "AND schemaname = current_schema() ORDER BY tablename")).scalars().all()
    for table in tables:
        op.execute(f"ALTER POLICY tenant_isolation ON {table} "
                   f"USING ({predicate}) WITH CHECK ({predicate})")


def upgrade() -> None:
    _rewrite(AFTER)


def downgrade() -> None:
    _rewrite(BEFORE)

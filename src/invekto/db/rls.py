"""Row-level security DDL for tenant-owned tables, used by migrations.

Migrations call these with table names frozen in the migration itself, so a later change here
only affects migrations written after it.
"""

from __future__ import annotations

POLICY_NAME = "tenant_isolation"

# A row is visible when it belongs to the transaction's tenant, or when the transaction runs in
# the explicit system scope (platform and maintenance work). With neither setting, nothing is.
# The settings are read in scalar subqueries: evaluated once per statement, not once per row
# (migration 0025 rewrote the earlier policies so).
_PREDICATE = (
    "tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)"
    " OR (SELECT current_setting('app.scope', true)) = 'system'"
)


def enable_statements(table: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        # FORCE: the owning role (which runs migrations and the app) is bound by the policy too.
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY_NAME} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})",
    ]


def disable_statements(table: str) -> list[str]:
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]

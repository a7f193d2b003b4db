"""Migrations build the whole schema from an empty database, and match the models exactly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text

from invekto.db import migrate, provision
from invekto.db.models import Base, tenant_owned_tables


@pytest.fixture(scope="module")
def empty_database_url(pg_server):
    return provision.provision(pg_server, "migrations_check")


def _engine(url):
    return create_engine(provision.to_sqlalchemy_url(url), poolclass=pool.NullPool)


def test_upgrade_from_empty_then_downgrade_to_base_and_up_again(empty_database_url):
    migrate.upgrade(empty_database_url)
    assert migrate.is_at_head(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    with _engine(empty_database_url).connect() as connection:
        left = connection.execute(text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")).scalar_one()
    assert left == 0
    migrate.upgrade(empty_database_url)
    assert migrate.is_at_head(empty_database_url)


def test_migrated_schema_matches_the_models(database_url):
    with _engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff for diff in compare_metadata(context, Base.metadata)
            # procrastinate's tables are created by its own SQL, not by our models.
            if "procrastinate" not in repr(diff)
        ]
    assert differences == []


def test_every_tenant_table_has_forced_row_level_security(database_url):
    with _engine(database_url).connect() as connection:
        rows = connection.execute(text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' "
            "  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
            "              AND a.attname = 'tenant_id' AND NOT a.attisdropped)"
        )).all()
    by_table = {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}
    assert sorted(by_table) == tenant_owned_tables()
    assert all(value == (True, True, 1) for value in by_table.values()), by_table


def test_the_application_role_cannot_bypass_row_level_security(database_url):
    with _engine(database_url).connect() as connection:
        superuser, bypass = connection.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )).one()
    assert (superuser, bypass) == (False, False)


def test_every_policy_reads_the_scope_once_per_statement(database_url):
    """The settings in scalar subqueries (init plans), not calls evaluated row by row: one
    policy text for every tenant table, the same for reading and writing (migration 0025)."""
    with _engine(database_url).connect() as connection:
        rows = connection.execute(text(
            "SELECT tablename, qual, with_check FROM pg_policies "
            "WHERE policyname = 'tenant_isolation'")).all()
    assert sorted(table for table, _qual, _check in rows) == tenant_owned_tables()
    texts = {qual for _table, qual, _check in rows} | {check for _t, _q, check in rows}
    assert len(texts) == 1, texts
    [policy] = texts
    assert policy.count("SELECT") == 2 and "app.tenant_id" in policy and "app.scope" in policy

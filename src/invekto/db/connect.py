"""Resolve which PostgreSQL this process uses, and check it is safe to run on."""

from __future__ import annotations

import psycopg

from invekto.config import Settings
from invekto.db import embedded, provision
from invekto.db.provision import to_libpq_url


class UnsafeDatabaseRole(RuntimeError):
    pass


def resolve(settings: Settings) -> tuple[embedded.EmbeddedServer | None, str]:
    """(embedded server we started or joined, or None; the app's database URL)."""
    if settings.database_url:
        return None, settings.database_url
    return provision.start_embedded_and_provision(settings)


def check_role(url: str) -> None:
    """Superusers and BYPASSRLS roles skip row-level security: refuse to run as one."""
    with psycopg.connect(to_libpq_url(url)) as connection:
        row = connection.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if row and (row[0] or row[1]):
        raise UnsafeDatabaseRole(
            "INVEKTO_DATABASE_URL connects as a superuser or BYPASSRLS role; row-level "
            "security would not isolate tenants. Create a plain role that owns the database "
            "(see docs/operations.md) and connect as it."
        )

"""Turn a bare PostgreSQL server into one Invekto can use, and find the URL to connect with.

The application connects as a role that is neither superuser nor BYPASSRLS: PostgreSQL skips
row-level security for those, and tenant isolation would then rest on our WHERE clauses alone.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from invekto.config import Settings
from invekto.db import embedded

APP_ROLE = "invekto"
APP_DATABASE = "invekto"
EXTENSIONS = ("pg_trgm", "unaccent", "btree_gist", "vector")
# Under row-level security the planner uses an index only for a LEAKPROOF condition (it must not
# run on another tenant's rows before the policy has filtered them). Text search (@@) and LIKE
# are not marked so by PostgreSQL, which would leave the inbox search scanning a tenant's every
# message. Neither raises an error or otherwise reveals anything about the rows it is evaluated
# on, except LIKE's complaint about a pattern ending in an escape character, and the application
# only ever passes patterns it built itself. See docs/decisions/0009-text-search.md.
LEAKPROOF_FUNCTIONS = ("pg_catalog.ts_match_vq(tsvector, tsquery)",
                       "pg_catalog.textlike(text, text)")


def provision(server: embedded.EmbeddedServer, database: str = APP_DATABASE) -> str:
    """Create the application role, database and extensions if missing; return the app's URL."""
    with psycopg.connect(server.superuser_url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS")
                         .format(sql.Identifier(APP_ROLE)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0")
                         .format(sql.Identifier(database), sql.Identifier(APP_ROLE)))
    with psycopg.connect(server.superuser_url(database), autocommit=True) as conn:
        for extension in EXTENSIONS:
            conn.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension))
            )
        for function in LEAKPROOF_FUNCTIONS:
            conn.execute(f"ALTER FUNCTION {function} LEAKPROOF")
    return app_url(server, database)


def app_url(server: embedded.EmbeddedServer, database: str = APP_DATABASE) -> str:
    return (f"postgresql+psycopg://{APP_ROLE}@/{database}"
            f"?host={server.socket_dir}&port={embedded.PORT}")


def start_embedded_and_provision(settings: Settings) -> tuple[embedded.EmbeddedServer, str]:
    server = embedded.start(settings.data_dir / "postgres")
    return server, provision(server)


def to_sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs from operators; SQLAlchemy needs the driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def to_libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)

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

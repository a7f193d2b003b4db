"""Test setup: one throw-away embedded PostgreSQL per run, migrated once; the real app over it.

Tests do not roll back: every test makes its own companies (tenants), which row-level security
keeps apart, so tests can commit for real and still never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_DATA_DIR = Path(tempfile.mkdtemp(prefix="invekto-test-"))
# Before any invekto import: settings are read once per process.
os.environ.update({
    "INVEKTO_DATA_DIR": str(_DATA_DIR),
    "INVEKTO_SECRET_KEY": "test-secret-key-not-for-production",
    "INVEKTO_LOG_JSON": "false",
    "INVEKTO_LOG_LEVEL": "WARNING",
    # Webhooks and flows' HTTP steps call stub servers on 127.0.0.1; tests of the guard turn
    # it off for themselves (tests/automation/test_private_urls.py).
    "INVEKTO_ALLOW_PRIVATE_URLS": "true",
    # Seconds of CPU per server start; the browser tests' server turns it back on.
    "INVEKTO_AI_WARM_UP": "false",
})

import httpx  # noqa: E402
import pytest  # noqa: E402

from invekto import runtime  # noqa: E402
from invekto.app import create_app  # noqa: E402
from invekto.config import get_settings  # noqa: E402
from invekto.core import security  # noqa: E402
from invekto.db import embedded, migrate, provision  # noqa: E402
from tests.factories import World  # noqa: E402

# Production-strength argon2 costs ~50 ms a hash; tests hash hundreds of passwords.
security.configure_hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def pg_server():
    server = embedded.start(_DATA_DIR / "postgres")
    yield server
    server.stop()
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(pg_server) -> str:
    url = provision.provision(pg_server, "invekto_test")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session")
async def app(settings, database_url):
    rt = runtime.build(settings, database_url, application_name="invekto-tests")
    application = create_app(rt)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def rt(app) -> runtime.Runtime:
    return runtime.current()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def world(app, rt):
    """A fresh company with the usual cast, plus a second company (Charlie's) to stay out of."""
    created = await World.create(rt, app)
    yield created
    await created.close()

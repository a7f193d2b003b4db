"""The demo company for the phone's tests, in a database of its own: there can be one company
with the code `demo` per database, and the CLI tests seed the main test database's one themselves
and count what is in it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from invekto import demo
from invekto.config import Settings
from invekto.core.actor import Actor
from invekto.db import embedded, migrate, provision
from invekto.db.session import Database
from invekto.tenants import service as tenants
from invekto.users import service as users
from invekto.users.models import User
from invekto.users.schemas import UserCreate
from tests.factories import PASSWORD

DATABASE = "invekto_demo_test"
# A supervisor with the tests' password (the demo's own users have generated ones).
TESTER = "telefon-test"


@dataclass(frozen=True)
class DemoCompany:
    database_url: str
    tenant_id: uuid.UUID
    slug: str = demo.SLUG


def demo_database(server: embedded.EmbeddedServer) -> str:
    url = provision.provision(server, DATABASE)
    migrate.upgrade(url)
    return url


async def demo_company(server: embedded.EmbeddedServer, settings: Settings) -> DemoCompany:
    """The seeded demo company (seeded once per test run) with ``TESTER`` in it."""
    url = demo_database(server)
    db = Database(url, pool_size=2, application_name="invekto-tests-demo-seed")
    try:
        # Its credentials file goes beside the main one, not over it.
        await demo.seed(db, settings.model_copy(update={"data_dir": settings.data_dir / "demo"}))
        async with db.system_session() as session:
            tenant = await tenants.find_by_slug(session, demo.SLUG)
        assert tenant is not None
        async with db.tenant_session(tenant.id) as session:
            if await session.scalar(select(User.id).where(User.tenant_id == tenant.id,
                                                          User.username == TESTER)) is None:
                await users.create_user(session, Actor.system(tenant.id), UserCreate(
                    username=TESTER, display_name="Telefon Testi", role="supervisor",
                    password=PASSWORD))
    finally:
        await db.dispose()
    return DemoCompany(url, tenant.id)

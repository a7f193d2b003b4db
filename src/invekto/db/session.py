"""Engine, sessions and the tenant scope that row-level security keys on.

Every tenant-owned table has a policy ``tenant_id = current_setting('app.tenant_id')``. The scope is
set with ``set_config(..., is_local => true)`` so it lasts exactly one transaction: a pooled
connection can never carry one tenant's scope into another request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from invekto.db.provision import to_sqlalchemy_url

SYSTEM_SCOPE = "system"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "invekto"):
        self.url = to_sqlalchemy_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            connect_args={"application_name": application_name},
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction with no scope yet: sees no tenant's rows until one is set."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def tenant_session(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """One transaction scoped to ``tenant_id``: commits on success, rolls back on error."""
        async with self.sessionmaker() as session, session.begin():
            await set_tenant_scope(session, tenant_id)
            yield session

    @asynccontextmanager
    async def system_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction that may read every tenant: platform operations, job dispatch, login's
        tenant lookup. Use sparingly; everything an agent or API key does runs tenant-scoped."""
        async with self.sessionmaker() as session, session.begin():
            await set_system_scope(session)
            yield session


@asynccontextmanager
async def alongside(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Another transaction in ``session``'s tenant scope, on a connection of its own: a read
    that can run at the same time as the session's (a report's costly parts, one core each).
    It sees what is committed, not ``session``'s own uncommitted writes; commits on success."""
    async with AsyncSession(session.bind, expire_on_commit=False) as other, other.begin():
        await set_tenant_scope(other, session.info["tenant_id"])
        yield other


async def set_tenant_scope(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await session.execute(
        text("SELECT set_config('app.tenant_id', :tenant_id, true), "
             "set_config('app.scope', '', true)"),
        {"tenant_id": str(tenant_id)},
    )
    session.info["tenant_id"] = tenant_id


async def set_system_scope(session: AsyncSession) -> None:
    await session.execute(
        text("SELECT set_config('app.tenant_id', '', true), set_config('app.scope', :scope, true)"),
        {"scope": SYSTEM_SCOPE},
    )
    session.info["tenant_id"] = None

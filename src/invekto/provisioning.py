"""Provisioning a company from scripts: the service calls behind ``invekto create-tenant``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.auth import service as auth
from invekto.config import Settings
from invekto.core.actor import Actor
from invekto.core.errors import NotFound
from invekto.db.session import set_tenant_scope
from invekto.tenants import service as tenants
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.schemas import UserCreate


@dataclass(frozen=True)
class ProvisionedTenant:
    slug: str
    admin_username: str
    admin_password: str
    api_key: str


async def provision_tenant(session: AsyncSession, *, slug: str, name: str, admin_username: str,
                           admin_display_name: str = "Yönetici",
                           admin_password: str | None = None
                           ) -> tuple[Tenant, ProvisionedTenant]:
    """Company, admin and API key in the caller's transaction (all or nothing); the session is
    left scoped to the new tenant."""
    tenant = await tenants.create_tenant(session, slug=slug, name=name)
    await set_tenant_scope(session, tenant.id)
    owner = Actor.system(tenant.id)
    admin, generated = await users.create_user(session, owner, UserCreate(
        username=admin_username, display_name=admin_display_name, role="admin",
        password=admin_password))
    _, key = await auth.create_api_key(session, owner, name="provisioning", role="admin")
    return tenant, ProvisionedTenant(slug=tenant.slug, admin_username=admin.username,
                                     admin_password=admin_password or generated or "",
                                     api_key=key)


async def create_tenant(settings: Settings, url: str, *, slug: str, name: str,
                        admin_username: str) -> ProvisionedTenant:
    rt = runtime.build(settings, url, application_name="invekto-cli")
    try:
        async with rt.db.transaction() as session:
            _, provisioned = await provision_tenant(session, slug=slug, name=name,
                                                    admin_username=admin_username)
        return provisioned
    finally:
        await rt.db.dispose()


async def create_api_key(settings: Settings, url: str, *, slug: str, name: str, role: str
                         ) -> str:
    rt = runtime.build(settings, url, application_name="invekto-cli")
    try:
        async with rt.db.system_session() as session:
            tenant = await tenants.find_by_slug(session, slug)
        if tenant is None:
            raise NotFound(f"no company with code '{slug}'")
        async with rt.db.tenant_session(tenant.id) as session:
            _, key = await auth.create_api_key(session, Actor.system(tenant.id), name=name,
                                               role=role)
        return key
    finally:
        await rt.db.dispose()

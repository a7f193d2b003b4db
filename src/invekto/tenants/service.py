"""Tenants: provisioning and lookup. Runs in the system scope (a tenant is not inside itself)."""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.core.actor import Actor, Permission
from invekto.core.errors import NotFound, ValidationFailed
from invekto.core.i18n import LANGUAGES
from invekto.db.queries import flush_unique
from invekto.tenants.models import Tenant

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def normalize_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise ValidationFailed(
            "company code must be 2-40 characters: lowercase letters, digits and '-'",
            field="slug",
        )
    return slug


async def create_tenant(session: AsyncSession, *, slug: str, name: str,
                        default_language: str = "tr") -> Tenant:
    slug = normalize_slug(slug)
    if not name.strip():
        raise ValidationFailed("company name is required", field="name")
    tenant = Tenant(slug=slug, name=name.strip(), default_language=default_language)
    session.add(tenant)
    await flush_unique(session, "company code '%(slug)s' is taken", field="slug",
                       params={"slug": slug})
    return tenant


async def find_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug.strip().lower()))


async def get(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("company not found")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.scalars(select(Tenant).order_by(Tenant.created_at))).all())


# ---- the company's own profile (its admins edit it) --------------------------------------------

@functools.cache
def known_timezones() -> frozenset[str]:
    """IANA zone names this system knows (read once: listing them walks the tz database)."""
    return frozenset(zoneinfo.available_timezones())


async def update_profile(session: AsyncSession, actor: Actor, *, name: str, timezone: str,
                         default_language: str) -> Tenant:
    """The company's name, time zone (dates on every page) and default language."""
    actor.require(Permission.MANAGE_SETTINGS)
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed("company name is required", field="name")
    if len(name) > 200:
        raise ValidationFailed("the company name is longer than 200 characters", field="name")
    if timezone not in known_timezones():
        raise ValidationFailed("unknown time zone", field="timezone")
    if default_language not in LANGUAGES:
        raise ValidationFailed("language must be tr or en", field="default_language")
    tenant = await get(session, actor.tenant_id)
    wanted = {"name": name, "timezone": timezone, "default_language": default_language}
    changes = {key: value for key, value in wanted.items() if getattr(tenant, key) != value}
    before = {key: getattr(tenant, key) for key in changes}
    for key, value in changes.items():
        setattr(tenant, key, value)
    await session.flush()
    if changes:
        await audit.record(session, actor, "tenant.updated", target_type="tenant",
                           target_id=tenant.id, data=changes, **audit.diff(before, changes))
    return tenant

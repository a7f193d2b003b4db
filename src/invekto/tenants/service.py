"""Tenants: provisioning and lookup. Runs in the system scope (a tenant is not inside itself)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.errors import NotFound, ValidationFailed
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
    await flush_unique(session, conflict=f"company code '{slug}' is taken", field="slug")
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

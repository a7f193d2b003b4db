"""The audit trail: one call for every security-relevant change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit.models import AuditEvent
from invekto.core.actor import Actor, Permission


async def record(session: AsyncSession, actor: Actor, action: str, *,
                 target_type: str | None = None, target_id: uuid.UUID | None = None,
                 data: dict[str, Any] | None = None, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None) -> None:
    """``before``/``after``: the values a change replaced and set (only the changed fields)."""
    session.add(AuditEvent(
        tenant_id=actor.tenant_id, actor_kind=actor.kind, actor_id=actor.id_for_audit,
        action=action, target_type=target_type, target_id=target_id, data=data or {},
        before=before, after=after, ip=actor.ip,
        user_agent=actor.user_agent[:400] if actor.user_agent else None,
    ))


async def recent(session: AsyncSession, actor: Actor, *, limit: int = 100,
                 action: str | None = None) -> list[AuditEvent]:
    actor.require(Permission.MANAGE_SECURITY)
    query = (select(AuditEvent).where(AuditEvent.tenant_id == actor.tenant_id)
             .order_by(AuditEvent.occurred_at.desc()).limit(limit))
    if action:
        query = query.where(AuditEvent.action == action)
    return list((await session.scalars(query)).all())


async def purge_before(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime) -> int:
    """Delete the tenant's audit events older than ``cutoff`` (the retention policy's job is
    the only caller). Returns how many went."""
    result = await session.execute(delete(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.occurred_at < cutoff))
    return result.rowcount

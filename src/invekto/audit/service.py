"""The audit trail: one call for every security-relevant change, searched and exported by the
people who manage security. Rows are append-only: a database trigger (migration 0029) refuses
UPDATE and DELETE except for the retention policy's purge and a company's own removal."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import cast, delete, func, select
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit.models import AuditEvent
from invekto.audit.schemas import AuditEventOut, AuditFilters
from invekto.auth.models import ApiKey
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.pagination import newest_first_page
from invekto.users.models import User

# Read by the trigger that keeps the table append-only (see the module docstring).
PURGE_SETTING = "invekto.audit_purge"
EXPORT_LIMIT = 50_000


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


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: ids and dates as text, lists element by element."""
    if isinstance(value, uuid.UUID | date | time):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``before=``/``after=`` for ``record``: only the keys whose value changed."""
    changed = [key for key in after if _plain(before.get(key)) != _plain(after[key])]
    return {"before": {key: _plain(before.get(key)) for key in changed},
            "after": {key: _plain(after[key]) for key in changed}}


def _filtered(actor: Actor, filters: AuditFilters):
    query = select(AuditEvent).where(AuditEvent.tenant_id == actor.tenant_id)
    if filters.action:
        action = filters.action.strip()
        query = query.where(AuditEvent.action.startswith(action, autoescape=True)
                            if action.endswith(".") else AuditEvent.action == action)
    if filters.actor_id:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.since:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.occurred_at < filters.until)
    if filters.ip:
        try:
            ipaddress.ip_address(filters.ip.strip())
        except ValueError as exc:
            raise ValidationFailed("not an IP address", field="ip") from exc
        query = query.where(AuditEvent.ip == cast(filters.ip.strip(), INET))
    return query


async def search(session: AsyncSession, actor: Actor, filters: AuditFilters, *,
                 cursor: str | None = None, limit: int = 50
                 ) -> tuple[list[AuditEventOut], str | None]:
    actor.require(Permission.MANAGE_SECURITY)
    rows, next_cursor = await newest_first_page(
        session, _filtered(actor, filters), AuditEvent.occurred_at, AuditEvent.id,
        cursor=cursor, limit=limit)
    return await described(session, actor, rows), next_cursor


async def for_export(session: AsyncSession, actor: Actor, filters: AuditFilters
                     ) -> list[AuditEventOut]:
    """Everything matching, newest first (at most EXPORT_LIMIT rows); the export is itself
    recorded."""
    actor.require(Permission.MANAGE_SECURITY)
    rows = (await session.scalars(_filtered(actor, filters).order_by(
        AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(EXPORT_LIMIT))).all()
    await record(session, actor, "audit.exported", data={
        "events": len(rows), **filters.model_dump(mode="json", exclude_none=True)})
    return await described(session, actor, list(rows))


async def described(session: AsyncSession, actor: Actor, rows: Iterable[AuditEvent]
                    ) -> list[AuditEventOut]:
    """The rows with who acted named (a person's display name, an API key's name)."""
    rows = list(rows)
    ids = {row.actor_id for row in rows if row.actor_id}
    names: dict[uuid.UUID, str] = {}
    if ids:
        for query in (select(User.id, User.display_name).where(
                          User.tenant_id == actor.tenant_id, User.id.in_(ids)),
                      select(ApiKey.id, ApiKey.name).where(
                          ApiKey.tenant_id == actor.tenant_id, ApiKey.id.in_(ids))):
            names.update({row_id: name for row_id, name in (await session.execute(query))})
    return [AuditEventOut.model_validate(row).model_copy(update={
        "actor_name": names.get(row.actor_id, "") if row.actor_id else ""}) for row in rows]


async def actions_seen(session: AsyncSession, actor: Actor) -> list[str]:
    """The actions the company's log holds, for the filter's choices."""
    actor.require(Permission.MANAGE_SECURITY)
    return list((await session.scalars(select(AuditEvent.action).where(
        AuditEvent.tenant_id == actor.tenant_id).distinct().order_by(AuditEvent.action))).all())


async def purge_before(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime) -> int:
    """Delete the tenant's audit events older than ``cutoff`` (the retention policy's job is
    the only caller). Returns how many went."""
    # Only for this transaction: the append-only trigger lets this one delete through.
    await session.execute(select(func.set_config(PURGE_SETTING, "on", True)))
    result = await session.execute(delete(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.occurred_at < cutoff))
    await session.execute(select(func.set_config(PURGE_SETTING, "off", True)))
    return result.rowcount


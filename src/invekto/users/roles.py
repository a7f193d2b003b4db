"""Custom roles: a company's own sets of named permissions, and the actor a user acts as.

Nobody can hand out more than they hold: a role, or a user's role, may only carry permissions
the person granting it has themselves, so "manage users" alone cannot make anyone an admin.
"""

from __future__ import annotations

import uuid

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.core.actor import PERMISSION_NAMES, ROLE_PERMISSIONS, Actor, Permission
from invekto.core.errors import Conflict, PermissionDenied, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.users.models import CustomRole, User
from invekto.users.schemas import RoleIn


def permission_set(names: list[str]) -> frozenset[Permission]:
    """Stored names → permissions; a name no longer known (a removed permission) grants nothing."""
    return frozenset(Permission(name) for name in names if name in PERMISSION_NAMES)


async def actor_for(session: AsyncSession, user: User, *, ip: str | None = None,
                    user_agent: str | None = None) -> Actor:
    """The user as they act now: their groups, and their custom role's permissions if any."""
    from invekto.users.service import group_ids_of

    granted = None
    if user.custom_role_id is not None:
        names = await session.scalar(select(CustomRole.permissions).where(
            CustomRole.tenant_id == user.tenant_id, CustomRole.id == user.custom_role_id))
        granted = permission_set(names or [])
    return Actor(tenant_id=user.tenant_id, role=user.role, kind="user", user_id=user.id,
                 group_ids=frozenset(await group_ids_of(session, user.tenant_id, user.id)),
                 language=user.language, ip=ip, user_agent=user_agent, granted=granted)


async def user_ids_with(session: AsyncSession, tenant_id: uuid.UUID, permission: Permission
                        ) -> list[uuid.UUID]:
    """The active users who hold ``permission``, through their built-in or custom role."""
    presets = [role for role, granted in ROLE_PERMISSIONS.items() if permission in granted]
    query = select(User.id).outerjoin(CustomRole, and_(
        CustomRole.tenant_id == User.tenant_id, CustomRole.id == User.custom_role_id)).where(
        User.tenant_id == tenant_id, User.is_active, or_(
            and_(User.custom_role_id.is_(None), User.role.in_(presets)),
            CustomRole.permissions.contains([permission.value])))
    return list((await session.scalars(query)).all())


def _require_can_grant(actor: Actor, permissions: frozenset[Permission], *, field: str) -> None:
    beyond = permissions - actor.permissions
    if beyond:
        raise PermissionDenied(
            "you cannot grant a permission you do not have: %(permission)s", field=field,
            params={"permission": PERMISSION_NAMES[sorted(beyond)[0]]})


async def check_assignable(session: AsyncSession, actor: Actor, *, role: str,
                           custom_role_id: uuid.UUID | None) -> None:
    """Before a user gets ``role`` / ``custom_role_id``: the role exists here and the actor
    holds everything it grants."""
    if custom_role_id is None:
        _require_can_grant(actor, ROLE_PERMISSIONS[role], field="role")
        return
    custom = await get_role(session, actor, custom_role_id, field="custom_role_id")
    _require_can_grant(actor, permission_set(custom.permissions), field="custom_role_id")


async def list_roles(session: AsyncSession, actor: Actor) -> list[CustomRole]:
    actor.require(Permission.MANAGE_USERS)
    return list((await session.scalars(select(CustomRole).where(
        CustomRole.tenant_id == actor.tenant_id).order_by(CustomRole.name))).all())


async def users_per_role(session: AsyncSession, actor: Actor) -> dict[uuid.UUID, int]:
    rows = await session.execute(select(User.custom_role_id, func.count()).where(
        User.tenant_id == actor.tenant_id, User.custom_role_id.is_not(None)
    ).group_by(User.custom_role_id))
    return {role_id: count for role_id, count in rows.all()}


async def get_role(session: AsyncSession, actor: Actor, role_id: uuid.UUID, *,
                   field: str | None = None) -> CustomRole:
    if field is None:
        actor.require(Permission.MANAGE_USERS)
        return await get_in_tenant(session, CustomRole, actor.tenant_id, role_id,
                                   what=N_("role"))
    role = await session.scalar(select(CustomRole).where(
        CustomRole.tenant_id == actor.tenant_id, CustomRole.id == role_id))
    if role is None:
        raise ValidationFailed("no such role", field=field)
    return role


def _checked(actor: Actor, data: RoleIn) -> list[str]:
    wanted = frozenset(data.permissions)
    if not wanted:
        raise ValidationFailed("choose at least one permission", field="permissions")
    _require_can_grant(actor, wanted, field="permissions")
    return sorted(wanted)


def _as_audit(role: CustomRole) -> dict:
    return {"name": role.name, "permissions": list(role.permissions)}


async def create_role(session: AsyncSession, actor: Actor, data: RoleIn) -> CustomRole:
    actor.require(Permission.MANAGE_USERS)
    role = CustomRole(tenant_id=actor.tenant_id, name=data.name.strip(),
                      description=data.description.strip(), permissions=_checked(actor, data))
    session.add(role)
    await flush_unique(session, "a role named '%(name)s' exists", field="name",
                       params={"name": role.name})
    await audit.record(session, actor, "role.created", target_type="role", target_id=role.id,
                       after=_as_audit(role))
    return role


async def update_role(session: AsyncSession, actor: Actor, role_id: uuid.UUID, data: RoleIn
                      ) -> CustomRole:
    """Takes effect on its users' next request (each request reads the role afresh)."""
    actor.require(Permission.MANAGE_USERS)
    role = await get_role(session, actor, role_id)
    # Editing a role one cannot fully grant would let its other permissions be rewritten.
    _require_can_grant(actor, permission_set(role.permissions), field="permissions")
    before = _as_audit(role)
    role.name, role.description = data.name.strip(), data.description.strip()
    role.permissions = _checked(actor, data)
    await flush_unique(session, "a role named '%(name)s' exists", field="name",
                       params={"name": role.name})
    await audit.record(session, actor, "role.updated", target_type="role", target_id=role.id,
                       before=before, after=_as_audit(role))
    return role


async def delete_role(session: AsyncSession, actor: Actor, role_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_USERS)
    role = await get_role(session, actor, role_id)
    _require_can_grant(actor, permission_set(role.permissions), field="role_id")
    in_use = (await users_per_role(session, actor)).get(role.id, 0)
    if in_use:
        raise Conflict("%(count)s users have this role; give them another role first",
                       field="role_id", params={"count": in_use})
    before = _as_audit(role)
    await session.delete(role)
    await session.flush()
    await audit.record(session, actor, "role.deleted", target_type="role", target_id=role_id,
                       before=before)

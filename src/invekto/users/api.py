from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from invekto.core import i18n
from invekto.core.actor import PERMISSION_NAMES, ROLE_PERMISSIONS
from invekto.http.deps import Scoped
from invekto.users import roles, service
from invekto.users.models import AgentGroup, CustomRole, User
from invekto.users.schemas import (
    GroupCreate,
    GroupOut,
    GroupUpdate,
    PermissionOut,
    RoleIn,
    RoleOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)

router = APIRouter(tags=["users"])


async def _users_out(ctx: Scoped, rows: list[User]) -> list[UserOut]:
    groups = await service.groups_by_user(ctx.session, ctx.actor, [u.id for u in rows])
    return [UserOut.model_validate(u).model_copy(update={"group_ids": groups.get(u.id, [])})
            for u in rows]


async def _groups_out(ctx: Scoped, rows: list[AgentGroup]) -> list[GroupOut]:
    members = await service.members_by_group(ctx.session, ctx.actor, [g.id for g in rows])
    return [GroupOut.model_validate(g).model_copy(update={"member_ids": members.get(g.id, [])})
            for g in rows]


@router.get("/users", response_model=list[UserOut])
async def list_users(ctx: Scoped, include_inactive: bool = False):
    return await _users_out(ctx, await service.list_users(
        ctx.session, ctx.actor, include_inactive=include_inactive))


@router.post("/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, ctx: Scoped):
    user, generated = await service.create_user(ctx.session, ctx.actor, body)
    (out,) = await _users_out(ctx, [user])
    return UserCreated(**out.model_dump(), generated_password=generated)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: uuid.UUID, ctx: Scoped):
    (out,) = await _users_out(ctx, [await service.get_user(ctx.session, ctx.actor, user_id)])
    return out


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(user_id: uuid.UUID, body: UserUpdate, ctx: Scoped):
    (out,) = await _users_out(ctx, [await service.update_user(ctx.session, ctx.actor, user_id,
                                                              body)])
    return out


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(ctx: Scoped):
    return await _groups_out(ctx, await service.list_groups(ctx.session, ctx.actor))


@router.post("/groups", response_model=GroupOut, status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupCreate, ctx: Scoped):
    (out,) = await _groups_out(ctx, [await service.create_group(ctx.session, ctx.actor, body)])
    return out


@router.get("/groups/{group_id}", response_model=GroupOut)
async def get_group(group_id: uuid.UUID, ctx: Scoped):
    (out,) = await _groups_out(ctx, [await service.get_group(ctx.session, ctx.actor, group_id)])
    return out


@router.patch("/groups/{group_id}", response_model=GroupOut)
async def update_group(group_id: uuid.UUID, body: GroupUpdate, ctx: Scoped):
    (out,) = await _groups_out(ctx, [await service.update_group(ctx.session, ctx.actor,
                                                                group_id, body)])
    return out


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_group(ctx.session, ctx.actor, group_id)


# ---- roles -------------------------------------------------------------------------------------

@router.get("/permissions", response_model=list[PermissionOut])
async def list_permissions(ctx: Scoped):
    """The permissions roles are built from, named in the caller's language."""
    return [PermissionOut(name=permission.value,
                          label=i18n.text(ctx.actor.language, label),
                          roles=[role for role, granted in ROLE_PERMISSIONS.items()
                                 if permission in granted])
            for permission, label in PERMISSION_NAMES.items()]


async def _roles_out(ctx: Scoped, rows: list[CustomRole]) -> list[RoleOut]:
    counts = await roles.users_per_role(ctx.session, ctx.actor)
    return [RoleOut.model_validate(r).model_copy(update={"user_count": counts.get(r.id, 0)})
            for r in rows]


@router.get("/roles", response_model=list[RoleOut])
async def list_roles(ctx: Scoped):
    return await _roles_out(ctx, await roles.list_roles(ctx.session, ctx.actor))


@router.post("/roles", response_model=RoleOut, status_code=status.HTTP_201_CREATED)
async def create_role(body: RoleIn, ctx: Scoped):
    (out,) = await _roles_out(ctx, [await roles.create_role(ctx.session, ctx.actor, body)])
    return out


@router.get("/roles/{role_id}", response_model=RoleOut)
async def get_role(role_id: uuid.UUID, ctx: Scoped):
    (out,) = await _roles_out(ctx, [await roles.get_role(ctx.session, ctx.actor, role_id)])
    return out


@router.put("/roles/{role_id}", response_model=RoleOut)
async def update_role(role_id: uuid.UUID, body: RoleIn, ctx: Scoped):
    (out,) = await _roles_out(ctx, [await roles.update_role(ctx.session, ctx.actor, role_id,
                                                            body)])
    return out


@router.delete("/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_role(role_id: uuid.UUID, ctx: Scoped) -> None:
    await roles.delete_role(ctx.session, ctx.actor, role_id)

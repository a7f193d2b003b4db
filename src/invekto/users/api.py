from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from invekto.http.deps import Scoped
from invekto.users import service
from invekto.users.models import AgentGroup, User
from invekto.users.schemas import (
    GroupCreate,
    GroupOut,
    GroupUpdate,
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

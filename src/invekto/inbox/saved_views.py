"""Saved views: a user's named filter combinations, listed in their inbox sidebar."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.actor import Actor
from invekto.core.errors import NotFound, ValidationFailed
from invekto.db.queries import flush_unique
from invekto.inbox.models import SavedView

MAX_VIEWS = 30
# The list's filter names; anything else in a saved view is dropped.
FILTER_KEYS = ("tab", "status", "channel", "tag", "group", "assignee", "priority", "q")


async def list_views(session: AsyncSession, actor: Actor) -> list[SavedView]:
    return list((await session.scalars(select(SavedView).where(
        SavedView.tenant_id == actor.tenant_id, SavedView.user_id == actor.user_id
    ).order_by(SavedView.name))).all())


async def get_view(session: AsyncSession, actor: Actor, view_id: uuid.UUID) -> SavedView:
    view = await session.scalar(select(SavedView).where(
        SavedView.tenant_id == actor.tenant_id, SavedView.user_id == actor.user_id,
        SavedView.id == view_id))
    if view is None:
        raise NotFound("view not found")
    return view


async def save_view(session: AsyncSession, actor: Actor, name: str, filters: dict[str, str]
                    ) -> SavedView:
    if actor.user_id is None:
        raise ValidationFailed("views belong to a signed-in user", field="name")
    name = " ".join(name.split())
    if not name or len(name) > 60:
        raise ValidationFailed("a view needs a name of 1 to 60 characters", field="name")
    if len(await list_views(session, actor)) >= MAX_VIEWS:
        raise ValidationFailed("you have 30 views; delete one first", field="name")
    kept = {key: str(value)[:200] for key, value in filters.items()
            if key in FILTER_KEYS and value}
    view = SavedView(tenant_id=actor.tenant_id, user_id=actor.user_id, name=name, filters=kept)
    session.add(view)
    await flush_unique(session, "you already have a view with this name", field="name")
    return view


async def delete_view(session: AsyncSession, actor: Actor, view_id: uuid.UUID) -> None:
    await session.delete(await get_view(session, actor, view_id))
    await session.flush()

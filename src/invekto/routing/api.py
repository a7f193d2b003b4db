"""A channel's routing and operations settings: ``/api/v1/channels/{channel_id}/routing``
and ``…/operations``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from invekto.core.errors import NotFound
from invekto.http.deps import Scoped
from invekto.routing import service
from invekto.routing.schemas import OperationsIn, OperationsOut, RoutingIn, RoutingOut

router = APIRouter(tags=["routing"])


@router.get("/channels/{channel_id}/routing", response_model=RoutingOut)
async def get_routing(channel_id: uuid.UUID, ctx: Scoped):
    routing = await service.get_routing(ctx.session, ctx.actor, channel_id)
    if routing is None:
        raise NotFound("this channel is not routed: its conversations wait in the shared queue")
    return routing


@router.put("/channels/{channel_id}/routing", response_model=RoutingOut)
async def set_routing(channel_id: uuid.UUID, body: RoutingIn, ctx: Scoped):
    return await service.set_routing(ctx.session, ctx.actor, channel_id, body)


@router.get("/channels/{channel_id}/operations", response_model=OperationsOut)
async def get_operations(channel_id: uuid.UUID, ctx: Scoped):
    found = await service.get_operations(ctx.session, ctx.actor, channel_id)
    return found or OperationsOut(channel_id=channel_id)


@router.put("/channels/{channel_id}/operations", response_model=OperationsOut)
async def set_operations(channel_id: uuid.UUID, body: OperationsIn, ctx: Scoped):
    return await service.set_operations(ctx.session, ctx.actor, channel_id, body)

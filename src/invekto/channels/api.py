from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from invekto.channels import service
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate, ChannelOut, ChannelUpdate
from invekto.http.deps import Scoped

router = APIRouter(tags=["channels"])


def _out(channel: Channel) -> ChannelOut:
    return ChannelOut.model_validate(
        {**{c: getattr(channel, c) for c in ChannelOut.model_fields if c != "has_credentials"},
         "has_credentials": channel.credentials_encrypted is not None})


@router.get("/channels", response_model=list[ChannelOut])
async def list_channels(ctx: Scoped):
    return [_out(c) for c in await service.list_channels(ctx.session, ctx.actor)]


@router.post("/channels", response_model=ChannelOut, status_code=status.HTTP_201_CREATED)
async def create_channel(body: ChannelCreate, ctx: Scoped):
    return _out(await service.create_channel(ctx.session, ctx.actor, body))


@router.get("/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: uuid.UUID, ctx: Scoped):
    return _out(await service.get_channel(ctx.session, ctx.actor, channel_id))


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(channel_id: uuid.UUID, body: ChannelUpdate, ctx: Scoped):
    return _out(await service.update_channel(ctx.session, ctx.actor, channel_id, body))


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_channel(ctx.session, ctx.actor, channel_id)

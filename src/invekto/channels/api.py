from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from invekto import runtime
from invekto.channels import calls, service
from invekto.channels.models import Channel
from invekto.channels.schemas import (
    CallOut,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    ConnectionCheckOut,
    SoftphoneOut,
)
from invekto.http.deps import Scoped

router = APIRouter(tags=["channels"])


_DERIVED = ("has_credentials", "webhook_url", "webhook_secret")


def _out(request: Request, channel: Channel, *, reveal_secret: bool = False) -> ChannelOut:
    path = service.webhook_path(channel)
    return ChannelOut.model_validate({
        **{c: getattr(channel, c) for c in ChannelOut.model_fields if c not in _DERIVED},
        "has_credentials": channel.credentials_encrypted is not None,
        "webhook_url": str(request.base_url).rstrip("/") + path if path else None,
        "webhook_secret": service.webhook_secret(channel) if reveal_secret else None})


@router.get("/channels", response_model=list[ChannelOut])
async def list_channels(request: Request, ctx: Scoped):
    return [_out(request, c) for c in await service.list_channels(ctx.session, ctx.actor)]


@router.post("/channels", response_model=ChannelOut, status_code=status.HTTP_201_CREATED)
async def create_channel(request: Request, body: ChannelCreate, ctx: Scoped):
    return _out(request, await service.create_channel(ctx.session, ctx.actor, body),
                reveal_secret=True)


@router.get("/channels/{channel_id}", response_model=ChannelOut)
async def get_channel(request: Request, channel_id: uuid.UUID, ctx: Scoped):
    return _out(request, await service.get_channel(ctx.session, ctx.actor, channel_id))


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(request: Request, channel_id: uuid.UUID, body: ChannelUpdate,
                         ctx: Scoped):
    return _out(request, await service.update_channel(ctx.session, ctx.actor, channel_id, body))


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_channel(ctx.session, ctx.actor, channel_id)


@router.post("/channels/{channel_id}/webhook-secret", response_model=ChannelOut)
async def rotate_webhook_secret(request: Request, channel_id: uuid.UUID, ctx: Scoped):
    """A new webhook secret, in this answer only; the old one stops working."""
    channel, _ = await service.rotate_webhook_secret(ctx.session, ctx.actor, channel_id)
    return _out(request, channel, reveal_secret=True)


@router.post("/channels/{channel_id}/connect", response_model=ConnectionCheckOut)
async def connect_webhook(request: Request, channel_id: uuid.UUID, ctx: Scoped):
    """Register the webhook with the provider (Telegram); the answer says whether it took it."""
    return await service.connect_webhook(ctx.session, ctx.actor, channel_id,
                                         str(request.base_url))


@router.post("/channels/{channel_id}/test", response_model=ConnectionCheckOut)
async def check_connection(channel_id: uuid.UUID, ctx: Scoped):
    """Whether the provider accepts the channel's settings and credentials (nothing is sent)."""
    return await service.test_connection(ctx.session, ctx.actor, channel_id)


@router.post("/contacts/{contact_id}/call", response_model=CallOut,
             status_code=status.HTTP_201_CREATED, tags=["calls"])
async def call_contact(request: Request, contact_id: uuid.UUID, ctx: Scoped):
    """Click-to-call: the company's voice channel rings the caller (a signed-in person), then
    the contact's phone; the call comes back as an entry in the contact's thread."""
    return await calls.call_contact(
        ctx.session, ctx.actor, contact_id,
        base_url=runtime.current().settings.public_url or str(request.base_url))


@router.get("/me/softphone", response_model=SoftphoneOut, tags=["calls"])
async def softphone(ctx: Scoped):
    """A Voice SDK token for the caller's browser to receive the calls of their group's Twilio
    number (asked again before ``expires_in`` runs out); empty when there is none."""
    return await calls.softphone(ctx.session, ctx.actor) or SoftphoneOut()

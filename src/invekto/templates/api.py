"""A WhatsApp channel's message templates: ``/api/v1/channels/{channel_id}/templates``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from invekto.http.deps import Scoped
from invekto.templates import service
from invekto.templates.schemas import SyncOut, TemplateIn, TemplateOut, VariablesIn

router = APIRouter(tags=["templates"])


@router.get("/channels/{channel_id}/templates", response_model=list[TemplateOut])
async def list_templates(channel_id: uuid.UUID, ctx: Scoped):
    return await service.list_templates(ctx.session, ctx.actor, channel_id)


@router.post("/channels/{channel_id}/templates", response_model=TemplateOut,
             status_code=status.HTTP_201_CREATED)
async def create_template(channel_id: uuid.UUID, body: TemplateIn, ctx: Scoped):
    """A draft, checked against Meta's rules; ``…/submit`` sends it for review."""
    return await service.create_template(ctx.session, ctx.actor, channel_id, body)


@router.post("/channels/{channel_id}/templates/sync", response_model=SyncOut)
async def sync_templates(channel_id: uuid.UUID, ctx: Scoped):
    """Make the channel's templates what the provider lists."""
    return await service.sync(ctx.session, ctx.actor, channel_id)


@router.get("/channels/{channel_id}/templates/{template_id}", response_model=TemplateOut)
async def get_template(channel_id: uuid.UUID, template_id: uuid.UUID, ctx: Scoped):
    return await service.get_template(ctx.session, ctx.actor, channel_id, template_id)


@router.post("/channels/{channel_id}/templates/{template_id}/submit", response_model=TemplateOut)
async def submit_template(channel_id: uuid.UUID, template_id: uuid.UUID, ctx: Scoped):
    return await service.submit(ctx.session, ctx.actor, channel_id, template_id)


@router.put("/channels/{channel_id}/templates/{template_id}/variables",
            response_model=TemplateOut)
async def set_variables(channel_id: uuid.UUID, template_id: uuid.UUID, body: VariablesIn,
                        ctx: Scoped):
    return await service.set_variables(ctx.session, ctx.actor, channel_id, template_id,
                                       body.variables)


@router.delete("/channels/{channel_id}/templates/{template_id}",
               status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(channel_id: uuid.UUID, template_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_template(ctx.session, ctx.actor, channel_id, template_id)

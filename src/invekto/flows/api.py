"""The flows domain's JSON routes under /api/v1: flows and their versions, the builder's test
panel, the ready-made templates, the bot's escape words, and a conversation's bot session
(which any agent who sees the conversation may stop by taking over)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from invekto.core.actor import Permission
from invekto.core.errors import NotFound
from invekto.flows import service
from invekto.flows.schemas import (
    EnabledIn,
    EscapeWordsIn,
    EscapeWordsOut,
    FlowCreate,
    FlowDraft,
    FlowOut,
    FlowSessionOut,
    FlowVersionOut,
    TestTurnIn,
    TestTurnOut,
)
from invekto.flows.templates import FLOW_TEMPLATES
from invekto.http.deps import Scoped
from invekto.inbox.schemas import ConversationOut

router = APIRouter(tags=["flows"])


@router.get("/flows", response_model=list[FlowOut])
async def list_flows(ctx: Scoped):
    return await service.list_flows(ctx.session, ctx.actor)


@router.post("/flows", response_model=FlowOut, status_code=status.HTTP_201_CREATED)
async def create_flow(body: FlowCreate, ctx: Scoped):
    return await service.create_flow(ctx.session, ctx.actor, body)


@router.get("/flows/{flow_id}", response_model=FlowOut)
async def get_flow(flow_id: uuid.UUID, ctx: Scoped):
    return await service.get_flow(ctx.session, ctx.actor, flow_id)


@router.patch("/flows/{flow_id}", response_model=FlowOut)
async def save_draft(flow_id: uuid.UUID, body: FlowDraft, ctx: Scoped):
    return await service.save_draft(ctx.session, ctx.actor, flow_id, body)


@router.delete("/flows/{flow_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_flow(flow_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_flow(ctx.session, ctx.actor, flow_id)


@router.put("/flows/{flow_id}/enabled", response_model=FlowOut)
async def set_enabled(flow_id: uuid.UUID, body: EnabledIn, ctx: Scoped):
    return await service.set_enabled(ctx.session, ctx.actor, flow_id, body.enabled)


@router.post("/flows/{flow_id}/publish", response_model=FlowVersionOut,
             status_code=status.HTTP_201_CREATED)
async def publish(flow_id: uuid.UUID, ctx: Scoped):
    return await service.publish(ctx.session, ctx.actor, flow_id)


@router.get("/flows/{flow_id}/versions", response_model=list[FlowVersionOut])
async def list_versions(flow_id: uuid.UUID, ctx: Scoped):
    return await service.list_versions(ctx.session, ctx.actor, flow_id)


@router.post("/flows/{flow_id}/test", response_model=TestTurnOut)
async def test_turn(flow_id: uuid.UUID, body: TestTurnIn, ctx: Scoped):
    return await service.test_turn(ctx.session, ctx.actor, flow_id, body)


@router.get("/flow-templates")
async def flow_templates(ctx: Scoped) -> list[dict]:
    """The ready-made flows (name, graph, triggers) to start from, by key."""
    ctx.actor.require(Permission.MANAGE_CONTENT)
    return [{"key": key, **FLOW_TEMPLATES[key]} for key in FLOW_TEMPLATES]


@router.get("/flow-step-kinds")
async def step_kinds(ctx: Scoped) -> list[dict]:
    """The builder's palette: built-in step kinds, then those other modules registered."""
    ctx.actor.require(Permission.MANAGE_CONTENT)
    return service.step_kinds()


@router.get("/bot-settings", response_model=EscapeWordsOut)
async def get_bot_settings(ctx: Scoped):
    ctx.actor.require(Permission.MANAGE_CONTENT)
    return EscapeWordsOut(escape_words=await service.escape_words(ctx.session,
                                                                  ctx.actor.tenant_id))


@router.put("/bot-settings", response_model=EscapeWordsOut)
async def set_bot_settings(body: EscapeWordsIn, ctx: Scoped):
    return EscapeWordsOut(escape_words=await service.set_escape_words(
        ctx.session, ctx.actor, body.escape_words))


@router.get("/conversations/{conversation_id}/bot", response_model=FlowSessionOut)
async def active_session(conversation_id: uuid.UUID, ctx: Scoped):
    found = await service.active_session(ctx.session, ctx.actor, conversation_id)
    if found is None:
        raise NotFound("no bot is talking in this conversation", field="conversation_id")
    return found


@router.post("/conversations/{conversation_id}/bot/take-over", response_model=ConversationOut)
async def take_over(conversation_id: uuid.UUID, ctx: Scoped):
    return await service.take_over(ctx.session, ctx.actor, conversation_id)

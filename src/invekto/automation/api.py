"""Trigger rules (``/api/v1/automation/rules``), their logs, the dry run and the catalogue of
what a rule may say. Supervisors' and admins'."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from invekto.automation import service
from invekto.automation.schemas import (
    DryRunIn,
    DryRunOut,
    EnabledIn,
    PositionIn,
    RuleIn,
    RuleOut,
    RunOut,
)
from invekto.core.actor import Permission
from invekto.http.deps import Scoped

router = APIRouter(tags=["automation"])


@router.get("/automation/rules", response_model=list[RuleOut])
async def list_rules(ctx: Scoped):
    return await service.list_rules(ctx.session, ctx.actor)


@router.post("/automation/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(body: RuleIn, ctx: Scoped):
    return await service.create_rule(ctx.session, ctx.actor, body)


@router.get("/automation/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, ctx: Scoped):
    return await service.get_rule(ctx.session, ctx.actor, rule_id)


@router.put("/automation/rules/{rule_id}", response_model=RuleOut)
async def update_rule(rule_id: uuid.UUID, body: RuleIn, ctx: Scoped):
    return await service.update_rule(ctx.session, ctx.actor, rule_id, body)


@router.delete("/automation/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_rule(ctx.session, ctx.actor, rule_id)


@router.put("/automation/rules/{rule_id}/enabled", response_model=RuleOut)
async def set_enabled(rule_id: uuid.UUID, body: EnabledIn, ctx: Scoped):
    return await service.set_enabled(ctx.session, ctx.actor, rule_id, body.enabled)


@router.put("/automation/rules/{rule_id}/position", response_model=list[RuleOut])
async def move_rule(rule_id: uuid.UUID, body: PositionIn, ctx: Scoped):
    """Move the rule to ``position`` (0: first); answers with every rule in the new order."""
    return await service.move_rule(ctx.session, ctx.actor, rule_id, body.position)


@router.get("/automation/rules/{rule_id}/runs", response_model=list[RunOut])
async def list_runs(rule_id: uuid.UUID, ctx: Scoped,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: AwareDatetime | None = None):
    """The rule's firings, newest first; ``before`` (an ISO time with its zone, the last
    one's ``created_at``) pages to older ones."""
    return await service.list_runs(ctx.session, ctx.actor, rule_id, limit=limit, before=before)


@router.post("/automation/dry-run", response_model=DryRunOut)
async def dry_run(body: DryRunIn, ctx: Scoped):
    return await service.dry_run(ctx.session, ctx.actor, body)


@router.get("/automation/catalogue")
async def catalogue(ctx: Scoped) -> dict:
    ctx.actor.require(Permission.MANAGE_CONTENT)
    return service.catalogue()

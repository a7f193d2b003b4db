"""Broadcast campaigns and their recipient lists: ``/api/v1/campaigns``,
``/api/v1/recipient-lists``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from invekto.campaigns import service
from invekto.campaigns.lists import MAX_BYTES, ROW_ERRORS
from invekto.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    ListRowError,
    PlanOut,
    RecipientListDetail,
    RecipientListOut,
    ReportOut,
    ScheduleIn,
)
from invekto.core import tables
from invekto.core.errors import ValidationFailed
from invekto.http.deps import Scoped
from invekto.tenants.models import Tenant

router = APIRouter(tags=["campaigns"])


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(ctx: Scoped):
    return await service.list_campaigns(ctx.session, ctx.actor)


@router.post("/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
async def create_campaign(body: CampaignIn, ctx: Scoped):
    return await service.create(ctx.session, ctx.actor, body)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.get(ctx.session, ctx.actor, campaign_id)


@router.put("/campaigns/{campaign_id}", response_model=CampaignOut)
async def update_campaign(campaign_id: uuid.UUID, body: CampaignIn, ctx: Scoped):
    return await service.update_campaign(ctx.session, ctx.actor, campaign_id, body)


@router.delete("/campaigns/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_campaign(campaign_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_campaign(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/plan", response_model=PlanOut)
async def plan_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    """Who it will reach and who it leaves out, by reason, before anything is sent."""
    return await service.plan(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/send", response_model=CampaignOut)
async def send_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.send_now(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/schedule", response_model=CampaignOut)
async def schedule_campaign(campaign_id: uuid.UUID, body: ScheduleIn, ctx: Scoped):
    return await service.schedule(ctx.session, ctx.actor, campaign_id, body.at)


@router.post("/campaigns/{campaign_id}/unschedule", response_model=CampaignOut)
async def unschedule_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.unschedule(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.pause(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.resume(ctx.session, ctx.actor, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut)
async def cancel_campaign(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.cancel(ctx.session, ctx.actor, campaign_id)


@router.get("/campaigns/{campaign_id}/report", response_model=ReportOut)
async def campaign_report(campaign_id: uuid.UUID, ctx: Scoped):
    return await service.report(ctx.session, ctx.actor, campaign_id)


@router.get("/campaigns/{campaign_id}/export")
async def export_campaign(campaign_id: uuid.UUID, ctx: Scoped,
                          format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"
                          ) -> Response:
    """Every recipient with their state and times (the company's time zone)."""
    campaign = await service.get(ctx.session, ctx.actor, campaign_id)
    rows = await service.report_rows(ctx.session, ctx.actor, campaign)
    zone = ZoneInfo((await ctx.session.get_one(Tenant, ctx.actor.tenant_id)).timezone)
    data, media_type = tables.export(format, service.REPORT_COLUMNS, rows, title=campaign.name,
                                     zone=zone)
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="campaign-{campaign.id}.{format}"'})


@router.post("/recipient-lists", response_model=RecipientListOut,
             status_code=status.HTTP_201_CREATED)
async def upload_list(file: Annotated[UploadFile, File()], ctx: Scoped,
                      name: Annotated[str, Form(max_length=200)] = "",
                      phone_column: Annotated[str, Form(max_length=100)] = "",
                      name_column: Annotated[str | None, Form(max_length=100)] = None):
    """A CSV or XLSX: rows with a bad or missing number are kept with their error, not a
    failed upload. Columns are guessed from the header unless named."""
    data = await file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationFailed("the file is larger than 20 MB", field="file")
    return await service.import_list(
        ctx.session, ctx.actor, name=name, filename=file.filename or "list.csv", data=data,
        phone_column=phone_column or None, name_column=name_column)


@router.get("/recipient-lists", response_model=list[RecipientListOut])
async def list_lists(ctx: Scoped):
    return await service.list_lists(ctx.session, ctx.actor)


@router.get("/recipient-lists/{list_id}", response_model=RecipientListDetail)
async def get_list(list_id: uuid.UUID, ctx: Scoped):
    recipient_list = await service.get_list(ctx.session, ctx.actor, list_id)
    errors = await service.list_errors(ctx.session, ctx.actor, list_id)
    return RecipientListDetail(
        **RecipientListOut.model_validate(recipient_list).model_dump(),
        errors=[ListRowError(row_number=n, value=v, code=e, error=ROW_ERRORS[e])
                for n, v, e in errors])

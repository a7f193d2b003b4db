"""A channel's routing and operations settings: ``/api/v1/channels/{channel_id}/routing``
and ``…/operations``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from invekto.core.errors import NotFound
from invekto.http.deps import Scoped
from invekto.routing import service, sla
from invekto.routing.schemas import (
    BusinessHoursIn,
    BusinessHoursOut,
    HolidayIn,
    HolidayOut,
    OperationsIn,
    OperationsOut,
    RoutingIn,
    RoutingOut,
    ShiftExceptionIn,
    ShiftExceptionOut,
    ShiftPlanIn,
    ShiftPlanOut,
    SlaPolicyIn,
    SlaPolicyOut,
)

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


# ---- business hours and holidays ----------------------------------------------------------------

@router.get("/business-hours", response_model=BusinessHoursOut)
async def company_hours(ctx: Scoped):
    """The company's weekly hours (always open while none are set: an empty schedule)."""
    return await service.get_business_hours(ctx.session, ctx.actor) or BusinessHoursOut()


@router.put("/business-hours", response_model=BusinessHoursOut)
async def set_company_hours(body: BusinessHoursIn, ctx: Scoped):
    return await service.set_business_hours(ctx.session, ctx.actor, body)


@router.get("/channels/{channel_id}/business-hours", response_model=BusinessHoursOut)
async def channel_hours(channel_id: uuid.UUID, ctx: Scoped):
    found = await service.get_business_hours(ctx.session, ctx.actor, channel_id)
    if found is None:
        raise NotFound("this channel keeps the company's hours")
    return found


@router.put("/channels/{channel_id}/business-hours", response_model=BusinessHoursOut)
async def set_channel_hours(channel_id: uuid.UUID, body: BusinessHoursIn, ctx: Scoped):
    return await service.set_business_hours(ctx.session, ctx.actor, body, channel_id)


@router.get("/holidays", response_model=list[HolidayOut])
async def list_holidays(ctx: Scoped):
    return await service.list_holidays(ctx.session, ctx.actor)


@router.post("/holidays", response_model=HolidayOut, status_code=status.HTTP_201_CREATED)
async def add_holiday(body: HolidayIn, ctx: Scoped):
    return await service.add_holiday(ctx.session, ctx.actor, body)


@router.post("/holidays/public", response_model=list[HolidayOut])
async def load_public_holidays(ctx: Scoped, year: Annotated[int, Query(ge=2000, le=2100)]):
    """Add Türkiye's official holidays of ``year``; answers the company's holidays."""
    await service.load_public_holidays(ctx.session, ctx.actor, year)
    return await service.list_holidays(ctx.session, ctx.actor)


@router.delete("/holidays/{holiday_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_holiday(holiday_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_holiday(ctx.session, ctx.actor, holiday_id)


# ---- shifts ---------------------------------------------------------------------------------

@router.get("/users/{user_id}/shifts", response_model=ShiftPlanOut)
async def shift_plan(user_id: uuid.UUID, ctx: Scoped):
    found = await service.get_shift_plan(ctx.session, ctx.actor, user_id)
    if found is None:
        raise NotFound("this agent has no shift plan: always on shift")
    return found


@router.put("/users/{user_id}/shifts", response_model=ShiftPlanOut)
async def set_shift_plan(user_id: uuid.UUID, body: ShiftPlanIn, ctx: Scoped):
    return await service.set_shift_plan(ctx.session, ctx.actor, user_id, body)


@router.delete("/users/{user_id}/shifts", status_code=status.HTTP_204_NO_CONTENT)
async def clear_shift_plan(user_id: uuid.UUID, ctx: Scoped) -> None:
    await service.clear_shift_plan(ctx.session, ctx.actor, user_id)


@router.put("/users/{user_id}/shift-exceptions", response_model=ShiftExceptionOut)
async def set_shift_exception(user_id: uuid.UUID, body: ShiftExceptionIn, ctx: Scoped):
    return await service.set_shift_exception(ctx.session, ctx.actor, user_id, body)


@router.get("/shift-exceptions", response_model=list[ShiftExceptionOut])
async def list_shift_exceptions(ctx: Scoped, since: date | None = None):
    return await service.list_shift_exceptions(ctx.session, ctx.actor, since=since)


@router.delete("/shift-exceptions/{exception_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_shift_exception(exception_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_shift_exception(ctx.session, ctx.actor, exception_id)


# ---- SLA policies -------------------------------------------------------------------------

@router.get("/sla-policies", response_model=list[SlaPolicyOut])
async def list_sla_policies(ctx: Scoped):
    return await sla.list_policies(ctx.session, ctx.actor)


@router.post("/sla-policies", response_model=SlaPolicyOut, status_code=status.HTTP_201_CREATED)
async def create_sla_policy(body: SlaPolicyIn, ctx: Scoped):
    return await sla.save_policy(ctx.session, ctx.actor, body)


@router.put("/sla-policies/{policy_id}", response_model=SlaPolicyOut)
async def update_sla_policy(policy_id: uuid.UUID, body: SlaPolicyIn, ctx: Scoped):
    return await sla.save_policy(ctx.session, ctx.actor, body, policy_id)


@router.delete("/sla-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sla_policy(policy_id: uuid.UUID, ctx: Scoped) -> None:
    await sla.delete_policy(ctx.session, ctx.actor, policy_id)

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal["random", "round_robin", "least_today", "longest_waiting"]


class RoutingIn(BaseModel):
    """A channel's routing: the groups whose agents take its new conversations (the first is
    the queue they wait in), how one is chosen, whether returning customers go back to their
    last agent, and what happens when nobody is available."""

    group_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    algorithm: Algorithm = "round_robin"
    sticky: bool = True
    when_nobody: Literal["queue", "away_message"] = "queue"
    away_message: str = Field(default="", max_length=1000)


class RoutingOut(RoutingIn):
    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID


class OperationsIn(BaseModel):
    """A channel's automatic steps; an empty text or a null time switches that step off."""

    welcome_new: str = Field(default="", max_length=1000)
    welcome_returning: str = Field(default="", max_length=1000)
    idle_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    auto_close_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    auto_close_pending_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    closing_message: str = Field(default="", max_length=1000)


class OperationsOut(OperationsIn):
    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID


class BusinessHoursIn(BaseModel):
    """A weekly schedule: weekday ("0" Monday … "6" Sunday) to ``[["09:00", "18:00"], ...]``;
    a day not listed is closed."""

    schedule: dict[str, list[list[str]]] = {}
    away_message: str = Field(default="", max_length=1000)
    after_hours_group_id: uuid.UUID | None = None


class BusinessHoursOut(BusinessHoursIn):
    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID | None = None


class HolidayIn(BaseModel):
    day: date
    name: str = Field(min_length=1, max_length=100)


class HolidayOut(HolidayIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID


class ShiftPlanIn(BaseModel):
    """An agent's week, as business hours are written; an empty schedule: never on shift."""

    schedule: dict[str, list[list[str]]] = {}


class ShiftPlanOut(ShiftPlanIn):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID


class ShiftExceptionIn(BaseModel):
    """A day with other hours (``windows``), or off (none)."""

    day: date
    windows: list[list[str]] = []
    note: str = Field(default="", max_length=200)


class ShiftExceptionOut(ShiftExceptionIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID


class SlaPolicyIn(BaseModel):
    """Targets in minutes (either may be left out); for ``channel_id``, for ``tag``, or (neither)
    the company's default. ``escalation``: what a breach does besides notifying supervisors."""

    name: str = Field(min_length=1, max_length=100)
    channel_id: uuid.UUID | None = None
    tag: str | None = Field(default=None, max_length=50)
    first_response_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30)
    resolution_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    business_hours: bool = True
    escalation: Literal["notify", "reassign", "tag", "priority"] = "notify"
    escalation_tag: str = Field(default="", max_length=50)


class SlaPolicyOut(SlaPolicyIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID

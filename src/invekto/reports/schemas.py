"""The reports' API shapes: the service's own dataclasses (``Kpis``, ``DayPoint``,
``AgentRow``) where they serialise as they are, these where the API's shape differs. Durations
are seconds; rates are fractions (0–1); None: nothing to average or divide."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel

from invekto.reports.service import DayPoint, Kpis


class HeatOut(BaseModel):
    weekday: int  # ISO: 1 = Monday
    hour: int  # local
    messages_in: int


class ChannelCountsOut(BaseModel):
    channel_id: uuid.UUID
    opened: int
    closed: int
    messages_in: int
    messages_out: int


class CountOut(BaseModel):
    name: str
    conversations: int


class ReferralOut(BaseModel):
    name: str
    conversations: int
    conversions: int  # of them, now carrying a tag that marks a conversion


class OverviewOut(BaseModel):
    start: date
    end: date
    business_hours: bool
    refreshed_at: datetime | None
    current: Kpis
    previous: Kpis | None
    days: list[DayPoint]
    heatmap: list[HeatOut]
    channels: list[ChannelCountsOut]
    tags: list[CountOut]
    referrals: list[ReferralOut]


class BreakdownRowOut(BaseModel):
    name: str | date
    values: dict[str, float | int | None]


class BreakdownOut(BaseModel):
    topic: str
    start: date
    end: date
    columns: list[str]
    rows: list[BreakdownRowOut]
    total: BreakdownRowOut | None
    distribution: list[tuple[int, int]]  # (score, answers), for CSAT

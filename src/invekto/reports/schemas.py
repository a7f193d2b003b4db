"""The reports' API shapes (``service`` computes them; docs/metrics.md defines each number).
Durations are seconds; rates are fractions (0–1); None: nothing to average or divide."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KpisOut(_Out):
    opened: int
    closed: int
    reopened: int
    messages_in: int
    messages_out: int
    first_response_average: float | None
    first_response_median: float | None
    reply_average: float | None
    reply_median: float | None
    resolution_average: float | None
    resolution_median: float | None
    assignment_wait_average: float | None
    assignment_wait_median: float | None
    transfers: int
    csat_average: float | None
    csat_response_rate: float | None
    sla_met_rate: float | None
    bot_handled: int
    bot_containment_rate: float | None
    bot_handoff_rate: float | None
    calls_answered: int
    calls_missed: int
    talk_seconds: int


class DayOut(_Out):
    day: date
    opened: int
    closed: int
    messages_in: int
    messages_out: int


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


class OverviewOut(BaseModel):
    start: date
    end: date
    business_hours: bool
    refreshed_at: datetime | None
    current: KpisOut
    previous: KpisOut | None
    days: list[DayOut]
    heatmap: list[HeatOut]
    channels: list[ChannelCountsOut]
    tags: list[CountOut]
    referrals: list[CountOut]


class AgentRowOut(_Out):
    user_id: uuid.UUID
    name: str
    conversations: int
    messages: int
    replies: int
    first_response_average: float | None
    first_response_median: float | None
    reply_average: float | None
    reply_median: float | None
    closed: int
    resolution_average: float | None
    transfers_out: int
    transfers_in: int
    csat_average: float | None
    csat_answers: int
    online_seconds: int
    away_seconds: int

"""What the webhook subscription API takes and gives. Values are checked by ``service`` (each
refusal naming its field); these only bound their sizes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SubscriptionIn(BaseModel):
    """``events``: event types from ``GET /webhook-subscriptions/event-types``, or ["*"]."""

    url: str = Field(max_length=2000)
    events: list[str] = Field(max_length=100)
    description: str = Field(default="", max_length=200)
    enabled: bool = True


class SubscriptionPatch(BaseModel):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    secret: str  # shown once: at creation and when rotated


class EventTypeOut(BaseModel):
    type: str
    label: str


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str
    manual: bool


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] = []


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None

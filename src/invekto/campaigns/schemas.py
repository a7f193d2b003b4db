from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FieldCondition(BaseModel):
    """A condition on one of the company's custom fields (``key``)."""

    key: str = Field(min_length=1, max_length=40)
    op: Literal["is", "is_not", "contains", "set", "not_set"] = "is"
    value: str = Field(default="", max_length=200)


class Segment(BaseModel):
    """Which contacts a campaign is for. Conditions combine with AND; an empty segment is
    every contact the channel can reach."""

    tags_any: list[str] = Field(default=[], max_length=20)  # has at least one of these tags
    tags_none: list[str] = Field(default=[], max_length=20)  # has none of these
    # Only contacts this channel already knows (who wrote to it, or were written to on it).
    known_on_channel: bool = False
    fields: list[FieldCondition] = Field(default=[], max_length=10)
    last_contact_after: date | None = None  # their last message, in the company's time zone
    last_contact_before: date | None = None
    # Only contacts who gave marketing consent; the others are left out and counted.
    consent_required: bool = False


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    channel_id: uuid.UUID
    content_kind: Literal["text", "template"] = "text"
    body: str = Field(default="", max_length=4096)
    template_name: str | None = Field(default=None, max_length=512)
    template_language: str | None = Field(default=None, max_length=15)
    template_parameters: dict[str, str] = Field(default={}, max_length=100)
    segment: Segment | None = None
    list_id: uuid.UUID | None = None
    commercial: bool = True
    quiet_start: time | None = None
    quiet_end: time | None = None
    reply_tag: str | None = Field(default=None, max_length=50)


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    channel_id: uuid.UUID
    status: str
    content_kind: str
    body: str
    template_name: str | None
    template_language: str | None
    template_parameters: dict[str, str]
    segment: Segment | None
    list_id: uuid.UUID | None
    commercial: bool
    scheduled_at: datetime | None
    quiet_start: time | None
    quiet_end: time | None
    reply_tag: str
    planned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class ScheduleIn(BaseModel):
    """When to send: an instant with its offset, or a local date and time in the company's
    time zone (what the form gives)."""

    at: datetime


class PlanOut(BaseModel):
    """Who a campaign will reach, and who it leaves out and why, before anything is sent."""

    recipients: int  # will be sent to
    excluded: dict[str, int]  # reason -> count
    duplicates: int  # the same person more than once in the audience, counted once
    invalid_rows: int  # rows of the uploaded list without a usable phone number


class ReportOut(BaseModel):
    campaign: CampaignOut
    total: int
    states: dict[str, int]  # every recipient state -> count
    rates: dict[str, float]  # delivered, read, replied, failed: share of those sent to
    failures: dict[str, int]  # failure reason -> count


class RecipientListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    filename: str
    columns: list[str]
    phone_column: str
    name_column: str | None
    row_count: int
    error_count: int
    created_at: datetime


class ListRowError(BaseModel):
    row_number: int
    value: str  # the phone cell as written
    code: str  # missing_phone | invalid_phone | duplicate
    error: str


class RecipientListDetail(RecipientListOut):
    errors: list[ListRowError]

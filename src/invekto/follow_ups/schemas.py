from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Trigger = Literal["conversation_closed", "tag_added", "campaign_replied", "campaign_not_replied"]


class StepIn(BaseModel):
    """One message of a sequence, ``delay_minutes`` after the previous one (the first: after
    the trigger): a text with variables, or an approved WhatsApp template (``template_name``
    and ``template_language``, its placeholders in ``template_parameters``)."""

    delay_minutes: int = Field(ge=0, le=60 * 24 * 90)
    body: str = Field(default="", max_length=4096)
    template_name: str | None = Field(default=None, max_length=512)
    template_language: str | None = Field(default=None, max_length=15)
    template_parameters: dict[str, str] = Field(default={}, max_length=100)


class StepOut(StepIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int


class SequenceIn(BaseModel):
    """A follow-up sequence: what starts it (``trigger``, with ``trigger_tag`` for tag_added and
    optionally ``trigger_campaign_id`` for the campaign triggers), on which channel (None: all),
    its steps, and when it stops besides the customer's reply (``stop_tag`` on the
    conversation)."""

    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    trigger: Trigger
    trigger_tag: str | None = Field(default=None, max_length=50)
    trigger_campaign_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    stop_tag: str | None = Field(default=None, max_length=50)
    steps: list[StepIn] = Field(min_length=1, max_length=10)


class SequenceOut(SequenceIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime


class CsatSurveyIn(BaseModel):
    """A channel's satisfaction survey, ``delay_minutes`` after a close."""

    enabled: bool = False
    thank_you_text: str = Field(default="", max_length=1000)
    question_text: str = Field(default="", max_length=1000)
    delay_minutes: int = Field(default=0, ge=0, le=60 * 24 * 7)


class CsatSurveyOut(CsatSurveyIn):
    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID


class CsatResponseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    agent_id: uuid.UUID | None
    closed_at: datetime
    asked_at: datetime | None
    answered_at: datetime | None
    score: int | None
    comment: str


class CsatReportOut(BaseModel):
    """The surveys asked in a period: each, how many were answered, the average score."""

    items: list[CsatResponseOut]
    asked: int
    answered: int
    average_score: float | None

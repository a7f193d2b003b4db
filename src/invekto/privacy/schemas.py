"""What the data protection API takes and gives. The retention limits are checked by the
service (each refusal naming its field); these only give their types."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EraseIn(BaseModel):
    """``confirm``: the contact's id again, so that an erasure is never one mistaken call."""

    confirm: str = Field(default="", max_length=100)


class PrivacyRequestOut(BaseModel):
    """A request and what fulfilling it did (``summary``: counts, no personal data);
    ``contact_name`` as the contact is called now (an erased one: the placeholder)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: Literal["export", "erasure"]
    contact_id: uuid.UUID
    contact_name: str | None = None
    requested_by_kind: str
    requested_by: uuid.UUID | None
    status: Literal["received", "fulfilled"]
    received_at: datetime
    fulfilled_at: datetime | None
    summary: dict[str, int]


class RetentionPolicyIn(BaseModel):
    """Each limit left out or null: kept for ever. ``attachment_days``: files sent in
    conversations, deleted so many days after they arrived (30–3650); ``conversation_months``:
    closed conversations anonymised so many months after closing (3–120); ``audit_days``:
    audit events deleted after so many days (180–3650)."""

    attachment_days: int | None = None
    conversation_months: int | None = None
    audit_days: int | None = None


class RetentionPolicyOut(RetentionPolicyIn):
    updated_at: datetime | None


class RetentionRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: Literal["running", "finished", "failed"]
    policy: dict[str, int | None]
    started_at: datetime
    finished_at: datetime | None
    attachments_deleted: int
    bytes_deleted: int
    conversations_anonymised: int
    audit_events_deleted: int
    error: str | None


class RetentionOut(BaseModel):
    policy: RetentionPolicyOut
    runs: list[RetentionRunOut]


class RetentionPreviewOut(BaseModel):
    """What the policy would remove if it were applied now."""

    model_config = ConfigDict(from_attributes=True)

    attachments: int
    attachment_bytes: int
    conversations: int
    audit_events: int

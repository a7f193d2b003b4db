from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TemplateIn(BaseModel):
    """A new template, in Meta's create format (``components``: HEADER, BODY, FOOTER, BUTTONS),
    with our variable for each placeholder (``variables``: ``{"body.1": "{{ contact.first_name
    }}"}``). Everything is checked by the service, each refusal naming its field."""

    name: str = Field(max_length=512)
    language: str = Field(max_length=20)
    category: str = Field(max_length=20)
    parameter_format: str = Field(default="POSITIONAL", max_length=12)
    components: list[dict[str, Any]] = Field(max_length=4)
    variables: dict[str, str] = Field(default_factory=dict, max_length=100)


class VariablesIn(BaseModel):
    """Which of our variables fills each placeholder (``body.1``, ``header.1``, ``button.0``)."""

    variables: dict[str, str] = Field(max_length=100)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel_id: uuid.UUID
    name: str
    language: str
    category: str
    parameter_format: str
    components: list[dict[str, Any]]
    status: str
    rejected_reason: str | None
    provider_template_id: str | None
    variables: dict[str, str]
    synced_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SyncOut(BaseModel):
    """What a sync changed: templates new to us, ones updated, ones the provider no longer has."""

    added: int
    updated: int
    removed: int

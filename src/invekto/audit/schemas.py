from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AuditFilters(BaseModel):
    """What the audit log is searched by; every field optional."""

    action: str | None = Field(default=None, max_length=80,
                               description="an action, or its domain with a dot: 'auth.'")
    actor_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    ip: str | None = Field(default=None, max_length=45)


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: datetime
    action: str
    actor_kind: str
    actor_id: uuid.UUID | None
    actor_name: str = ""  # the person's display name or the API key's name, as it is now
    target_type: str | None
    target_id: uuid.UUID | None
    data: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    user_agent: str | None

    @field_validator("ip", mode="before")
    @classmethod
    def _ip_as_text(cls, value: object) -> str | None:
        return None if value is None else str(value)


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None

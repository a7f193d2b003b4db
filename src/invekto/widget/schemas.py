"""What the chat widget sends and gets back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class VisitorStart(BaseModel):
    """The pre-chat form."""

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    # The KVKK notice was accepted (required when the channel shows one).
    consent: bool = False
    # The optional marketing box was ticked: consent to campaign messages (the channel's
    # ``marketing_consent_text``), separate from the notice.
    marketing_consent: bool = False
    language: Literal["tr", "en"] = "tr"
    page: str | None = Field(default=None, max_length=2000)  # where the chat was started


class VisitorMessageIn(BaseModel):
    client_id: uuid.UUID  # the widget's id for the message: a retry is stored once
    body: str = Field(min_length=1, max_length=4096)


class ReadIn(BaseModel):
    up_to: uuid.UUID


class WidgetConfigOut(BaseModel):
    title: str
    welcome_text: str
    consent_text: str
    marketing_consent_text: str = ""
    privacy_url: str
    offline_text: str
    color: str
    online: bool
    max_file_bytes: int


class AgentOut(BaseModel):
    name: str
    initials: str


class FileOut(BaseModel):
    id: uuid.UUID
    name: str
    content_type: str
    size: int


class WidgetMessageOut(BaseModel):
    id: uuid.UUID
    # From the visitor's side: what they wrote, or what the company answered.
    author: Literal["visitor", "agent"]
    kind: str
    body: str
    at: datetime
    status: str
    agent: AgentOut | None = None
    file: FileOut | None = None


class VisitorOut(BaseModel):
    token: str
    name: str

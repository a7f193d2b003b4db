from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ConversationStatus = Literal["open", "pending", "closed"]
ContentKind = Literal["text", "image", "audio", "video", "document", "location", "contact",
                      "template", "interactive", "call", "sticker", "reaction", "unsupported"]


class ConversationFilters(BaseModel):
    status: ConversationStatus | None = None
    channel_id: uuid.UUID | None = None
    # A user id, or "me" / "none" (unassigned).
    assignee: str | None = None
    group_id: uuid.UUID | None = None
    tag: str | None = None
    contact_id: uuid.UUID | None = None
    q: str | None = Field(default=None, max_length=200)
    # Conversations in the queues of the caller's groups.
    in_my_groups: bool = False
    priority: Literal["low", "normal", "high", "urgent"] | None = None


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    status: ConversationStatus
    assignee_id: uuid.UUID | None
    group_id: uuid.UUID | None
    tags: list[str]
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    last_message_at: datetime
    last_message_preview: str
    unread_count: int
    priority: Literal["low", "normal", "high", "urgent"]
    snoozed_until: datetime | None
    waiting_since: datetime | None


class AssignIn(BaseModel):
    assignee_id: uuid.UUID | None = None


class TransferIn(BaseModel):
    """To a colleague, to a group's queue, or both (a colleague within a group)."""

    user_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None


class TagsIn(BaseModel):
    add: list[str] = []
    remove: list[str] = []


class Choice(BaseModel):
    """A reply button, or a row of a list."""

    id: str | None = Field(default=None, max_length=200)  # what the reply carries back
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=500)


class ChoiceSection(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    rows: list[Choice] = Field(default=[], max_length=50)


class Choices(BaseModel):
    """Reply buttons or a list for the customer to pick from (WhatsApp's interactive messages);
    the message's body is the question. The service checks WhatsApp's limits."""

    type: Literal["buttons", "list"]
    header: str | None = Field(default=None, max_length=500)
    footer: str | None = Field(default=None, max_length=500)
    buttons: list[Choice] = Field(default=[], max_length=50)
    button: str | None = Field(default=None, max_length=200)  # the list's opening button
    sections: list[ChoiceSection] = Field(default=[], max_length=50)


class TemplateSend(BaseModel):
    """One of the channel's approved WhatsApp templates, its placeholders filled."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    parameters: dict[str, str] = Field(default={}, max_length=100)  # "1" (or a name) -> value


class MessageSend(BaseModel):
    body: str = Field(default="", max_length=4096)
    content_kind: Literal["text", "image", "audio", "video", "document", "interactive",
                          "template"] = "text"
    attachment_id: uuid.UUID | None = None
    choices: Choices | None = None  # with content_kind "interactive"
    template: TemplateSend | None = None  # with content_kind "template"
    # Set by the client per compose action: a retry or double click with the same id sends once.
    client_message_id: str | None = Field(default=None, min_length=1, max_length=100)


class ConversationStart(BaseModel):
    """Write first: to a contact (``contact_id``) or to a phone number (``phone``, its contact
    created when new), on one of the company's channels."""

    channel_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    phone: str | None = Field(default=None, max_length=40)
    message: MessageSend


class ScheduledMessageIn(BaseModel):
    """A message to send later. ``send_at`` without a time zone is a wall-clock time in the
    company's time zone."""

    send_at: datetime
    message: MessageSend


class ScheduledMessageUpdate(BaseModel):
    body: str | None = Field(default=None, max_length=4096)
    send_at: datetime | None = None


class ScheduledMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    author_id: uuid.UUID | None
    spec: dict[str, Any]
    send_at: datetime
    status: Literal["scheduled", "sent", "cancelled", "failed"]
    failure_reason: str | None
    failure_message: str | None
    message_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    direction: Literal["inbound", "outbound"]
    sender_kind: Literal["contact", "agent", "bot", "system"]
    sender_user_id: uuid.UUID | None
    content_kind: ContentKind
    body: str
    attachment_id: uuid.UUID | None
    payload: dict[str, Any]
    status: Literal["pending", "sent", "delivered", "read", "failed"]
    error_code: str | None
    error_message: str | None
    client_message_id: str | None
    created_at: datetime


class NoteCreate(BaseModel):
    body: str = Field(min_length=1, max_length=10000)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    conversation_id: uuid.UUID | None
    author_id: uuid.UUID | None
    body: str
    created_at: datetime


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class InboundMessage(BaseModel):
    """A provider's message, normalised by its adapter: what ingest stores."""

    channel_id: uuid.UUID
    handle: str = Field(min_length=1, max_length=200)  # the sender's id on the channel
    provider_message_id: str = Field(min_length=1, max_length=200)
    phone: str | None = None
    contact_name: str | None = None
    content_kind: ContentKind = "text"
    body: str = ""
    payload: dict[str, Any] = {}
    attachment_id: uuid.UUID | None = None
    sent_at: datetime | None = None
    # The ad that brought the customer, kept on the conversation it opens.
    referral: dict[str, Any] | None = None


class AgentCallsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    agent: str
    calls: int
    talk_seconds: int


class CallSummaryOut(BaseModel):
    """Calls that started in the period: each way, answered, missed (customers' calls nobody
    answered) and talk time, and per agent their answered calls and talk time."""

    model_config = ConfigDict(from_attributes=True)

    inbound: int
    outbound: int
    answered: int
    missed: int
    talk_seconds: int
    agents: list[AgentCallsOut]

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TemplateName = Literal["clinic", "hotel", "ecommerce"]


class FlowTriggers(BaseModel):
    """What starts a flow: a conversation's first message, a keyword in a customer's message, a
    click-to-chat code the conversation came with; on these channels (none: all). Any flow may
    also be started by a rule's ``start_flow`` action."""

    channel_ids: list[uuid.UUID] = Field(default=[], max_length=100)
    first_message: bool = False
    keywords: list[str] = Field(default=[], max_length=50)
    ref_codes: list[str] = Field(default=[], max_length=50)


class FlowCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    template: TemplateName | None = None  # start from a ready-made flow


class FlowDraft(BaseModel):
    """The builder's save: the draft's graph and triggers (left out: unchanged)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    graph: dict[str, Any] | None = None
    triggers: FlowTriggers | None = None


class EnabledIn(BaseModel):
    enabled: bool


class FlowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    enabled: bool
    draft: dict[str, Any]
    draft_triggers: dict[str, Any]
    published_version_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class FlowVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    flow_id: uuid.UUID
    number: int
    graph: dict[str, Any]
    triggers: dict[str, Any]
    published_by: uuid.UUID | None
    published_at: datetime


class FlowSessionOut(BaseModel):
    """A conversation's run through a flow version."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    flow_id: uuid.UUID
    flow_version_id: uuid.UUID
    conversation_id: uuid.UUID
    state: str
    node_id: str | None
    step: int
    due_at: datetime | None
    variables: dict[str, Any]
    trail: list[dict[str, Any]]
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class TestTurnIn(BaseModel):
    """One turn in the builder's test panel: the state the previous turn returned (None: start
    the flow), what the customer wrote or tapped, or ``timeout`` (the waiting step times out)."""

    __test__ = False  # not a pytest class

    state: dict[str, Any] | None = None
    text: str = Field(default="", max_length=4096)
    choice_id: str | None = Field(default=None, max_length=200)
    timeout: bool = False

    @field_validator("state", "text", "choice_id")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        """What is sent back must be valid Unicode (JSON allows a lone surrogate as an escape,
        which no answer could carry back)."""
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode") from exc
        return value


class TestReply(BaseModel):
    __test__ = False

    text: str
    choices: list[dict[str, str]] | None = None
    attachment_id: str | None = None


class TestTurnOut(BaseModel):
    """What the flow said and did: its replies, each step taken (``trail``; writes are shown
    there, never made), why it ended, and the handoff it asked for."""

    __test__ = False

    state: dict[str, Any]
    replies: list[TestReply]
    trail: list[dict[str, Any]]
    ended: str | None = None
    handoff: dict[str, Any] | None = None


class EscapeWordsIn(BaseModel):
    escape_words: list[str] = Field(max_length=30)


class EscapeWordsOut(BaseModel):
    escape_words: list[str]

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _encodable(value: Any) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate that JSON allows as an escape):
    it could be neither stored nor named back in an error message."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("text must be valid Unicode") from exc
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class RuleIn(BaseModel):
    """A trigger rule: when ``event`` happens (narrowed or timed by ``event_options``) and
    ``conditions`` hold, run ``actions`` in order; ``stop_after``: later rules of the same
    event do not run once this one fired. See ``automation.catalogue`` for what each takes."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    enabled: bool = True
    event: str = Field(min_length=1, max_length=40)
    event_options: dict[str, Any] = Field(default={})
    conditions: dict[str, Any] = Field(default={})
    actions: list[dict[str, Any]] = Field(default=[])
    stop_after: bool = False

    @model_validator(mode="after")
    def _unicode(self) -> RuleIn:
        _encodable([self.name, self.description, self.event, self.event_options,
                    self.conditions, self.actions])
        return self


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    enabled: bool
    position: int
    event: str
    event_options: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    stop_after: bool
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @field_validator("actions", mode="after")
    @classmethod
    def _without_secrets(cls, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A webhook's secret never leaves the server: forms see whether there is one."""
        return [{**{k: v for k, v in action.items() if k != "secret_sealed"},
                 "has_secret": bool(action.get("secret_sealed"))}
                if action.get("type") == "call_webhook" else action for action in actions]


class EnabledIn(BaseModel):
    enabled: bool


class PositionIn(BaseModel):
    position: int = Field(ge=0, le=10_000)


class RunOut(BaseModel):
    """One firing of a rule: on what, when, and each action's result ({"type", "status":
    done | skipped | queued | failed | rolled_back | not_run, "detail"})."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    rule_id: uuid.UUID
    event: str
    conversation_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    message_id: uuid.UUID | None
    occurrence: str | None
    status: str
    results: list[dict[str, Any]]
    error: str
    created_at: datetime


class DryRunIn(BaseModel):
    """Which rules would fire if ``event`` happened now to a (past) conversation, against its
    latest customer message; ``rule_id``: only that rule."""

    conversation_id: uuid.UUID
    event: str = Field(default="message_received", max_length=40)
    rule_id: uuid.UUID | None = None
    # What the event carries, for rules narrowed by it ({"tag": "vip"}, {"campaign_id": ...}).
    data: dict[str, str] = Field(default={}, max_length=5)

    @field_validator("event")
    @classmethod
    def _unicode(cls, event: str) -> str:
        _encodable(event)
        return event


class DryRunRule(BaseModel):
    rule_id: uuid.UUID
    name: str
    fires: bool
    # Why not: "disabled", "event" (it listens for another event), "event_options" (only for
    # another tag or campaign), "conditions", "stopped" (an earlier rule fired and stops the
    # rest); None: fires.
    reason: str | None
    trace: list[dict[str, Any]]
    actions: list[dict[str, Any]]  # [{"type", "summary"}]


class DryRunOut(BaseModel):
    event: str
    message_text: str
    rules: list[DryRunRule]

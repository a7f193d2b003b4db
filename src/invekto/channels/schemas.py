from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from invekto.core.schema import not_null

ChannelKind = Literal["whatsapp_cloud", "whatsapp_bsp", "instagram", "messenger", "telegram",
                      "sms_twilio", "sms_netgsm", "voice", "voice_twilio", "webchat"]


class ChannelCreate(BaseModel):
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    settings: dict[str, Any] = {}
    # Write-only: stored encrypted, never returned.
    credentials: dict[str, str] | None = None


class ChannelUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    settings: dict[str, Any] | None = None
    # Merged into the stored ones: the secrets named here are replaced (an empty value removes
    # one), the others are kept.
    credentials: dict[str, str] | None = None
    is_active: bool | None = None

    _not_null = field_validator("name", "settings", "is_active")(not_null)


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ChannelKind
    name: str
    external_id: str | None
    settings: dict[str, Any]
    is_active: bool
    has_credentials: bool
    created_at: datetime
    # Where the provider delivers events (None for channels it does not push to).
    webhook_url: str | None = None
    # Only in the answer to creating the channel (or rotating the secret): the secret to paste
    # into the provider's console with the webhook URL (Meta's verify token, a BSP's webhook
    # header token).
    webhook_secret: str | None = None


class ConnectionCheckOut(BaseModel):
    """A connection test: whether the provider accepted the channel's settings and credentials,
    how it named the account (or why it refused), and a sentence for people in the caller's
    language."""

    model_config = ConfigDict(from_attributes=True)

    ok: bool
    detail: str
    error_code: str | None
    message: str


class SoftphoneOut(BaseModel):
    """The signed-in agent's browser softphone: Twilio's Voice SDK token, or none (no Twilio
    voice channel of their group takes calls in browsers)."""

    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID | None = None
    identity: str | None = None
    token: str | None = None
    expires_in: int | None = None


class CallOut(BaseModel):
    """A click-to-call the provider took: the agent's phone rings now, then the customer's."""

    model_config = ConfigDict(from_attributes=True)

    channel_id: uuid.UUID
    call_id: str
    to: str

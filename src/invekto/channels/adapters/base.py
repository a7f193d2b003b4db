"""The interface every messaging provider implements. Adapters speak the provider's wire format
and know nothing of our database; the inbox service calls them and records the outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundMessage:
    message_id: uuid.UUID
    recipient_handle: str
    recipient_phone: str | None
    content_kind: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    attachment_url: str | None = None


@dataclass(frozen=True)
class ChannelAccount:
    kind: str
    external_id: str | None
    settings: dict[str, Any]
    credentials: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    provider_message_id: str


@dataclass(frozen=True)
class TemporaryFailure:
    """Nothing was delivered (connection refused, 5xx, rate limit): safe to try again."""

    reason: str
    retry_after_seconds: float | None = None


@dataclass(frozen=True)
class PermanentFailure:
    """The provider refused the message for good (blocked, outside the reply window...)."""

    code: str
    message: str


SendResult = Sent | TemporaryFailure | PermanentFailure


class MessagingAdapter(Protocol):
    kind: str

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult: ...

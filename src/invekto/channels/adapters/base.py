"""The interface every messaging provider implements. Adapters speak the provider's wire format
and know nothing of our database; the inbox service calls them and records the outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundFile:
    """A file an agent sends: adapters upload it to the provider and send it by the provider's
    id for it (no public URL of ours needed)."""

    data: bytes
    mime_type: str
    filename: str


@dataclass(frozen=True)
class OutboundMessage:
    message_id: uuid.UUID
    recipient_handle: str
    recipient_phone: str | None
    content_kind: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    attachment_url: str | None = None
    attachment: OutboundFile | None = None


@dataclass(frozen=True)
class ChannelAccount:
    kind: str
    external_id: str | None
    settings: dict[str, Any]
    credentials: dict[str, Any]
    # This channel's webhook address, when the app knows its public address (settings.public_url)
    webhook_url: str | None = None


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


# ---- inbound: what a provider's webhook says, in our terms ------------------------------------

@dataclass(frozen=True)
class MediaRef:
    """A file the customer sent, not downloaded yet: a provider media id (WhatsApp) or a URL
    (Messenger, Instagram)."""

    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class InboundEvent:
    """A message from a customer (or, for ``content_kind="reaction"``, a reaction to one)."""

    account_id: str  # which of our numbers/pages received it (phone_number_id, page id)
    provider_message_id: str
    handle: str  # the customer on this channel: wa_id (or BSUID), PSID, IGSID
    sent_at: datetime
    content_kind: str  # text image audio video document sticker location contact interactive
    #                    reaction unsupported...
    body: str = ""
    phone: str | None = None  # E.164 when the channel knows it (WhatsApp)
    contact_name: str | None = None
    media: MediaRef | None = None
    # Kind-specific structure, kept on the message: location, contacts, the interactive reply
    # chosen, the message replied to (``context``), the reaction's target, an unsupported type.
    payload: dict[str, Any] = field(default_factory=dict)
    # Click-to-WhatsApp / Messenger ad attribution, kept on the conversation.
    referral: dict[str, Any] | None = None
    # An echo: a message the business sent to ``handle`` (from another tool, such as Meta
    # Business Suite, or our own send coming back), not one it received.
    echo: bool = False


@dataclass(frozen=True)
class StatusEvent:
    """What happened to a message we sent: sent, delivered, read or failed."""

    account_id: str
    provider_message_id: str
    status: str  # sent | delivered | read | failed
    at: datetime
    error_code: str | None = None
    error_title: str | None = None
    # What we asked the provider to echo (WhatsApp's biz_opaque_callback_data): a campaign
    # recipient's id, so a send whose answer was lost is still matched.
    callback_data: str | None = None


@dataclass(frozen=True)
class ProviderTemplate:
    """A message template the provider has approved for the account (WhatsApp): what may be
    sent outside the 24-hour window. ``body`` keeps its ``{{1}}``/``{{name}}`` placeholders."""

    name: str
    language: str
    category: str
    body: str
    parameters: tuple[str, ...] = ()  # the body's placeholders, in order ("1", "2" or names)


@dataclass(frozen=True)
class TemplateStatusEvent:
    """Meta's word on one of the business account's message templates (WhatsApp's
    ``message_template_status_update``): approved, rejected (``reason`` says why), paused,
    disabled... It names the business account, not a number: ``account_id`` stays empty so the
    intake takes it as the channel's (the delivery's signature proved where it came from)."""

    waba_id: str
    template_id: str  # Meta's id of the template (one translation)
    name: str
    language: str
    status: str  # Meta's event word, upper case: APPROVED, REJECTED, PAUSED, DISABLED...
    reason: str | None = None  # REJECTED's reason (INVALID_FORMAT...), or another event's
    account_id: str = ""


@dataclass(frozen=True)
class ReceiptWatermark:
    """Everything sent to ``handle`` up to ``at`` was delivered or read: Messenger's receipts
    name a moment, not messages."""

    account_id: str
    handle: str
    status: str  # delivered | read
    at: datetime


@dataclass(frozen=True)
class CallRecording:
    """A finished call's recording (Twilio's recording callback): downloaded during ingest and
    attached to the call's entry, whether that entry is made before or after it."""

    account_id: str
    call_id: str  # the call entry's provider message id ("call:CA…")
    recording_id: str  # the provider's id for the recording: a repeat is stored once
    media: MediaRef
    duration_seconds: int | None = None


WebhookEvent = (InboundEvent | StatusEvent | ReceiptWatermark | CallRecording
                | TemplateStatusEvent)


@dataclass(frozen=True)
class DownloadedMedia:
    data: bytes
    mime_type: str
    filename: str | None = None


@dataclass(frozen=True)
class ConnectionCheck:
    """What the provider said when asked, with a cheap authenticated read, whether a channel's
    settings and credentials work. Never carries a secret."""

    ok: bool
    # The account as the provider names it (verified name and number, Page name...) or, when not
    # ok, what went wrong in the provider's own words; for people, not for matching on.
    detail: str = ""
    error_code: str | None = None  # the adapter's code; ``adapter.explain`` words it for people


# ---- click-to-call -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallingAgent:
    """The person a click-to-call connects first, as the voice provider reaches them."""

    user_id: uuid.UUID
    username: str
    name: str
    phone: str | None = None  # E.164, when the channel knows the agent's phone
    extension: str | None = None  # on a PBX, when the channel knows it


@dataclass(frozen=True)
class CallPlaced:
    """The provider took the call: it rings the agent, then the customer."""

    call_id: str


CallResult = CallPlaced | TemporaryFailure | PermanentFailure


class MessagingAdapter(Protocol):
    kind: str

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult: ...


class CheckableAdapter(MessagingAdapter, Protocol):
    """A provider whose credentials can be tried without sending anything."""

    async def check_connection(self, account: ChannelAccount) -> ConnectionCheck: ...

    def explain(self, code: str, language: str) -> str:
        """A short sentence for people about ``code`` (a `ConnectionCheck`'s or a send's), in
        Turkish (``tr``) or English."""
        ...


class OriginatingAdapter(MessagingAdapter, Protocol):
    """A voice provider that can place a call between an agent and a customer."""

    def can_originate(self, account: ChannelAccount) -> bool: ...

    async def originate(self, account: ChannelAccount, agent: CallingAgent,
                        customer_phone: str) -> CallResult: ...


class WebhookAdapter(MessagingAdapter, Protocol):
    """A provider that pushes events to our webhook (Meta's channels, Telegram, Twilio...)."""

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        """Every event in a (possibly batched) payload; ValueError for a shape we do not know."""
        ...

    async def fetch_media(self, account: ChannelAccount, media: MediaRef) -> DownloadedMedia: ...

"""Webhook intake, shared by every provider that pushes to us: verify, store raw, ingest later.

The request path does as little as possible and answers fast (providers time out and retry): it
checks the signature, stores the body in one INSERT keyed by its SHA-256 (a retried delivery is
then a no-op) and defers an ``ingest`` job in the same transaction. The job turns the stored body
into contacts, conversations, messages and delivery statuses, one event per transaction, so a
crash half-way through a batch is finished by the job's retry without doing anything twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    InboundEvent,
    StatusEvent,
    WebhookAdapter,
)
from invekto.channels.adapters.whatsapp import verify_signature
from invekto.channels.models import Channel, WebhookEvent
from invekto.core import jobs
from invekto.core.actor import Actor
from invekto.core.errors import AppError, Unauthenticated
from invekto.core.storage import Storage
from invekto.db.base import new_id
from invekto.db.session import Database
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage

log = structlog.get_logger(__name__)

# Meta's three messaging products sign with the app secret (X-Hub-Signature-256).
META_SIGNED = ("whatsapp_cloud", "messenger", "instagram")
# A BSP (360dialog) does not sign per-number webhooks; we register the webhook with a header of
# our own carrying this channel's secret token (see docs/decisions/0010-webhook-intake.md).
TOKEN_HEADER = "x-invekto-webhook-token"
WEBHOOK_KINDS = (*META_SIGNED, "whatsapp_bsp")


@dataclass(frozen=True)
class WebhookChannel:
    """What the intake needs of a channel, found without knowing its tenant yet."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    kind: str
    credentials: dict[str, Any]


async def find_channel(db: Database, kind: str, channel_id: uuid.UUID) -> WebhookChannel | None:
    """The active channel a webhook URL names. The URL carries no tenant, so this one lookup
    reads across tenants (system scope); everything after it runs in the channel's tenant."""
    if kind not in WEBHOOK_KINDS:
        return None
    async with db.system_session() as session:
        channel = await session.scalar(select(Channel).where(
            Channel.id == channel_id, Channel.kind == kind, Channel.is_active.is_(True)))
        if channel is None:
            return None
        return WebhookChannel(channel.tenant_id, channel.id, channel.kind,
                              channels.credentials_of(channel))


def handshake(channel: WebhookChannel, mode: str | None, token: str | None) -> bool:
    """Meta's subscription check: ``hub.mode=subscribe`` with this channel's verify token."""
    expected = str(channel.credentials.get("verify_token") or "")
    return (mode == "subscribe" and bool(expected) and token is not None
            and hmac.compare_digest(token.encode(), expected.encode()))


def check_signature(channel: WebhookChannel, body: bytes, headers: dict[str, str]) -> None:
    """Refuse (401) a delivery not provably from the provider; nothing is stored then."""
    if channel.kind in META_SIGNED:
        secret = str(channel.credentials.get("app_secret") or "")
        if not secret or not verify_signature(secret, body,
                                              headers.get("x-hub-signature-256")):
            raise Unauthenticated("the webhook signature is missing or wrong",
                                  code="bad_signature")
        return
    expected = str(channel.credentials.get("webhook_token") or "")
    sent = headers.get(TOKEN_HEADER, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthenticated("the webhook token is missing or wrong", code="bad_signature")


def parse_body(channel: WebhookChannel, body: bytes) -> dict[str, Any]:
    """The JSON envelope every webhook provider of ours sends: an object with entries. A body
    that is not is refused (400) and logged: a provider changing its format must be noticed."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        log.warning("webhook.malformed", channel_id=str(channel.channel_id), kind=channel.kind,
                    size=len(body))
        raise AppError("the body is not a webhook envelope (a JSON object with an 'entry' "
                       "list)", field="body", code="malformed_body")
    return payload


async def store(session: AsyncSession, channel: WebhookChannel, body: bytes,
                payload: dict[str, Any]) -> bool:
    """Keep the delivery and defer its ingest; False when this exact body was already kept."""
    from invekto.channels import tasks

    event_id = await session.scalar(insert(WebhookEvent).values(
        id=new_id(), tenant_id=channel.tenant_id, channel_id=channel.channel_id,
        event_key=hashlib.sha256(body).hexdigest(), payload=payload,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "channel_id", "event_key"])
        .returning(WebhookEvent.id))
    if event_id is None:
        return False
    await jobs.defer(session, tasks.ingest_webhook, tenant_id=str(channel.tenant_id),
                     event_id=str(event_id))
    return True


# ---- the ingest job ----------------------------------------------------------------------------

async def ingest(db: Database, storage: Storage, tenant_id: uuid.UUID, event_id: uuid.UUID,
                 *, max_attachment_bytes: int) -> int:
    """Turn a stored delivery into messages and statuses; returns how many events it held."""
    async with db.tenant_session(tenant_id) as session:
        stored = await session.get(WebhookEvent, event_id)
        if stored is None or stored.processed_at is not None:
            return 0
        channel = await session.get_one(Channel, stored.channel_id)
        account = ChannelAccount(kind=channel.kind, external_id=channel.external_id,
                                 settings=channel.settings,
                                 credentials=channels.credentials_of(channel))
        payload, channel_id = stored.payload, channel.id
    adapter = adapter_for(account.kind)
    if adapter is None or not hasattr(adapter, "parse_webhook"):
        await _finish(db, tenant_id, event_id, error=f"no webhook adapter for {account.kind}")
        return 0
    try:
        events = adapter.parse_webhook(payload)
    except ValueError as exc:
        log.warning("webhook.unparseable", channel_id=str(channel_id), error=str(exc))
        await _finish(db, tenant_id, event_id, error=f"unparseable: {exc}")
        return 0
    for event in events:
        if account.external_id and event.account_id != account.external_id:
            log.warning("webhook.other_account", channel_id=str(channel_id),
                        account_id=event.account_id)
            continue
        if isinstance(event, InboundEvent):
            await _ingest_message(db, storage, adapter, account, tenant_id, channel_id, event,
                                  max_attachment_bytes=max_attachment_bytes)
        elif isinstance(event, StatusEvent):
            async with db.tenant_session(tenant_id) as session:
                await inbox.apply_provider_status(
                    session, tenant_id, channel_id=channel_id,
                    provider_message_id=event.provider_message_id, status=event.status,
                    error_code=event.error_code, error=event.error_title)
    await _finish(db, tenant_id, event_id)
    return len(events)


async def _ingest_message(db: Database, storage: Storage, adapter: WebhookAdapter,
                          account: ChannelAccount, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                          event: InboundEvent, *, max_attachment_bytes: int) -> None:
    async with db.tenant_session(tenant_id) as session:
        if await inbox.has_provider_message(session, tenant_id, channel_id,
                                            event.provider_message_id):
            return  # a retried job or a redelivered event: already here
    payload = dict(event.payload)
    attachment_id = None
    if event.media is not None:
        # Downloaded outside any transaction: a slow provider must not hold a connection.
        try:
            media = await adapter.fetch_media(account, event.media)
        except Exception as exc:
            log.warning("webhook.media_failed", channel_id=str(channel_id), error=str(exc))
            payload["media_error"] = str(exc)[:300]
        else:
            async with db.tenant_session(tenant_id) as session:
                attachment = await inbox.store_attachment(
                    session, Actor.system(tenant_id), storage,
                    filename=media.filename or event.media.filename or "file",
                    content_type=media.mime_type, data=media.data, max_bytes=max_attachment_bytes)
                attachment_id = attachment.id
    async with db.tenant_session(tenant_id) as session:
        await inbox.receive_inbound(session, tenant_id, InboundMessage(
            channel_id=channel_id, handle=event.handle,
            provider_message_id=event.provider_message_id, phone=event.phone,
            contact_name=event.contact_name, content_kind=event.content_kind,
            body=event.body, payload=payload, attachment_id=attachment_id,
            sent_at=event.sent_at, referral=event.referral))


async def _finish(db: Database, tenant_id: uuid.UUID, event_id: uuid.UUID,
                  error: str | None = None) -> None:
    async with db.tenant_session(tenant_id) as session:
        stored = await session.get_one(WebhookEvent, event_id)
        stored.processed_at = datetime.now(UTC)
        stored.error = error

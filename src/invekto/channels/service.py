"""A tenant's channels (WhatsApp numbers, Instagram accounts, the web widget...). Credentials are
encrypted at rest and only ever decrypted for a provider adapter."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import ChannelAccount, CheckableAdapter, ConnectionCheck
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import Conflict, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.db.session import Database


async def list_channels(session: AsyncSession, actor: Actor) -> list[Channel]:
    return list((await session.scalars(select(Channel).where(
        Channel.tenant_id == actor.tenant_id).order_by(Channel.name))).all())


async def get_channel(session: AsyncSession, actor: Actor, channel_id: uuid.UUID) -> Channel:
    return await get_in_tenant(session, Channel, actor.tenant_id, channel_id, what=N_("channel"))


# Channels whose provider pushes to /webhooks/{kind}/{id}, and the secret each one checks there:
# Meta's handshake token (its deliveries are signed with the app secret), or the token header
# we register with a BSP.
WEBHOOK_SECRETS = {"whatsapp_cloud": "verify_token", "messenger": "verify_token",
                   "instagram": "verify_token", "whatsapp_bsp": "webhook_token",
                   "telegram": "webhook_token", "voice": "webhook_token"}
# Every kind whose provider posts to /webhooks/{kind}/{id}; Twilio signs with the account's own
# auth token, so it has no secret of ours.
WEBHOOK_KINDS = (*WEBHOOK_SECRETS, "sms_twilio", "voice_twilio")


def webhook_path(channel: Channel) -> str | None:
    return f"/webhooks/{channel.kind}/{channel.id}" if channel.kind in WEBHOOK_KINDS else None


@dataclass(frozen=True)
class WebhookChannel:
    """What the webhook intake needs of a channel, found without knowing its tenant yet."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    kind: str
    credentials: dict[str, Any]


# Every delivery names its channel; looking it up (and decrypting its secrets) each time cost
# the intake half its throughput. Kept this many seconds per process: a channel changed or
# disabled in another process is seen there within it (this process forgets at once).
WEBHOOK_CHANNEL_SECONDS = 10.0
_webhook_channels: dict[tuple[str, uuid.UUID], tuple[float, WebhookChannel | None]] = {}


async def webhook_channel(db: Database, kind: str, channel_id: uuid.UUID
                          ) -> WebhookChannel | None:
    """The active channel a webhook URL names. The URL carries no tenant, so this one lookup
    reads across tenants (system scope); everything after it runs in the channel's tenant."""
    if kind not in WEBHOOK_KINDS:
        return None
    cached = _webhook_channels.get((kind, channel_id))
    if cached and cached[0] > time.monotonic():
        return cached[1]
    async with db.system_session() as session:
        channel = await session.scalar(select(Channel).where(
            Channel.id == channel_id, Channel.kind == kind, Channel.is_active.is_(True)))
        found = None if channel is None else WebhookChannel(
            channel.tenant_id, channel.id, channel.kind, credentials_of(channel))
    _webhook_channels[(kind, channel_id)] = (time.monotonic() + WEBHOOK_CHANNEL_SECONDS, found)
    return found


def _forget_webhook_channel(channel_id: uuid.UUID) -> None:
    for key in [key for key in _webhook_channels if key[1] == channel_id]:
        del _webhook_channels[key]


async def create_channel(session: AsyncSession, actor: Actor, data: ChannelCreate) -> Channel:
    actor.require(Permission.MANAGE_SETTINGS)
    channel = Channel(id=new_id(), tenant_id=actor.tenant_id, kind=data.kind,
                      name=data.name.strip(), external_id=data.external_id,
                      settings=data.settings)
    await _require_free_name(session, actor, channel.name)
    credentials = dict(data.credentials or {})
    secret_name = WEBHOOK_SECRETS.get(data.kind)
    if secret_name and not credentials.get(secret_name):
        # Made here, shown once (with the webhook URL) to paste into the provider's console.
        credentials[secret_name] = secrets.token_urlsafe(24)
    if credentials:
        channel.credentials_encrypted = secret_box().encrypt_json(credentials)
    await _flush_unique_name(session, channel)
    await audit.record(session, actor, "channel.created", target_type="channel",
                       target_id=channel.id, data={"kind": data.kind, "name": channel.name})
    return channel


async def update_channel(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                         data: ChannelUpdate) -> Channel:
    actor.require(Permission.MANAGE_SETTINGS)
    channel = await get_channel(session, actor, channel_id)
    changes = data.model_dump(exclude_unset=True, exclude={"credentials"})
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        await _require_free_name(session, actor, changes["name"], but=channel.id)
    before = {name: getattr(channel, name) for name in changes}
    for name, value in changes.items():
        setattr(channel, name, value)
    if data.credentials is not None:
        # Merged: secrets not given stay (the webhook secret, a token not re-entered).
        credentials = {**credentials_of(channel), **data.credentials}
        channel.credentials_encrypted = secret_box().encrypt_json(
            {name: value for name, value in credentials.items() if value})
    await _flush_unique_name(session, channel)
    _forget_webhook_channel(channel.id)
    # Credentials are named as changed, never shown: not even the audit log holds a secret.
    await audit.record(session, actor, "channel.updated", target_type="channel",
                       target_id=channel.id, data={
                           "fields": sorted(changes) + (["credentials"] if data.credentials
                                                        is not None else [])},
                       **audit.diff(before, changes))
    return channel


async def delete_channel(session: AsyncSession, actor: Actor, channel_id: uuid.UUID) -> None:
    """Only a channel without conversations can go; others are deactivated, keeping history."""
    actor.require(Permission.MANAGE_SETTINGS)
    from invekto.inbox import service as inbox

    channel = await get_channel(session, actor, channel_id)
    if await inbox.channel_has_conversations(session, actor, channel.id):
        raise Conflict("this channel has conversations; deactivate it instead",
                       field="channel_id")
    await session.delete(channel)
    await session.flush()
    _forget_webhook_channel(channel_id)
    await audit.record(session, actor, "channel.deleted", target_type="channel",
                       target_id=channel_id)


async def rotate_webhook_secret(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                                ) -> tuple[Channel, str]:
    """A new webhook secret for the channel, returned to be shown once (like the first): the old
    one stops working at once, so the provider's console must get the new one."""
    actor.require(Permission.MANAGE_SETTINGS)
    channel = await get_channel(session, actor, channel_id)
    secret_name = WEBHOOK_SECRETS.get(channel.kind)
    if secret_name is None:
        raise ValidationFailed("this kind of channel has no webhook secret", field="channel_id")
    secret = secrets.token_urlsafe(24)
    channel.credentials_encrypted = secret_box().encrypt_json(
        {**credentials_of(channel), secret_name: secret})
    await session.flush()
    _forget_webhook_channel(channel.id)
    await audit.record(session, actor, "channel.webhook_secret_rotated", target_type="channel",
                       target_id=channel.id)
    return channel, secret


@dataclass(frozen=True)
class ConnectionResult:
    """A connection test's outcome (`ConnectionCheck`) with its explanation in the actor's
    language."""

    ok: bool
    detail: str
    error_code: str | None
    message: str


async def test_connection(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                          ) -> ConnectionResult:
    """Ask the provider, with one cheap read that sends nothing, whether the channel's address,
    credentials and account id work. Admins only: it uses the channel's secrets."""
    actor.require(Permission.MANAGE_SETTINGS)
    channel = await get_channel(session, actor, channel_id)
    adapter = _checker(channel.kind)
    if adapter is None:
        raise ValidationFailed("this kind of channel cannot be tested", field="channel_id")
    check = await adapter.check_connection(account_of(channel))
    return _result(adapter, check, actor)


async def connect_webhook(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                          base_url: str) -> ConnectionResult:
    """Register the channel's webhook URL and secret with a provider that takes them by API
    (Telegram's setWebhook); Meta's and 360dialog's are pasted into their consoles instead.
    ``base_url``: this app as the provider reaches it (HTTPS in production)."""
    actor.require(Permission.MANAGE_SETTINGS)
    channel = await get_channel(session, actor, channel_id)
    adapter = adapter_for(channel.kind)
    path, secret = webhook_path(channel), webhook_secret(channel)
    if not hasattr(adapter, "connect") or path is None or not secret:
        raise ValidationFailed("this kind of channel is connected in the provider's own "
                               "console", field="channel_id")
    check = await adapter.connect(account_of(channel), base_url.rstrip("/") + path, secret)
    await audit.record(session, actor, "channel.webhook_connected", target_type="channel",
                       target_id=channel.id, data={"ok": check.ok,
                                                   "error_code": check.error_code})
    return _result(adapter, check, actor)


def can_connect(kind: str) -> bool:
    return hasattr(adapter_for(kind), "connect")


def account_of(channel: Channel) -> ChannelAccount:
    """What an adapter needs of the channel (its secrets decrypted)."""
    return ChannelAccount(kind=channel.kind, external_id=channel.external_id,
                          settings=dict(channel.settings), credentials=credentials_of(channel))


def _result(adapter: CheckableAdapter, check: ConnectionCheck, actor: Actor
            ) -> ConnectionResult:
    message = adapter.explain("connected" if check.ok else check.error_code or "", actor.language)
    return ConnectionResult(ok=check.ok, detail=check.detail, error_code=check.error_code,
                            message=message)


def can_test(kind: str) -> bool:
    return _checker(kind) is not None


def _checker(kind: str) -> CheckableAdapter | None:
    adapter = adapter_for(kind)
    return adapter if hasattr(adapter, "check_connection") else None


def credentials_of(channel: Channel) -> dict[str, Any]:
    if not channel.credentials_encrypted:
        return {}
    return secret_box().decrypt_json(channel.credentials_encrypted)


def secrets_set(channel: Channel) -> frozenset[str]:
    """The names of the channel's stored secrets (never their values), to show which are set."""
    return frozenset(credentials_of(channel))


def webhook_secret(channel: Channel) -> str | None:
    """The secret the provider's console needs with the webhook URL. Only for answering the
    admin who just created (or rotated) it: it is never shown again."""
    secret_name = WEBHOOK_SECRETS.get(channel.kind)
    return credentials_of(channel).get(secret_name) if secret_name else None


async def _require_free_name(session: AsyncSession, actor: Actor, name: str, *,
                             but: uuid.UUID | None = None) -> None:
    """Before anything changes, so the refusal leaves the transaction usable (a form shows it
    beside the name); the unique constraint still decides a race."""
    if not name:
        raise ValidationFailed("name is required", field="name")
    query = select(Channel.id).where(Channel.tenant_id == actor.tenant_id, Channel.name == name)
    if but is not None:
        query = query.where(Channel.id != but)
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict("a channel named '%(name)s' exists", field="name", params={"name": name})


async def _flush_unique_name(session: AsyncSession, channel: Channel) -> None:
    session.add(channel)
    await flush_unique(session, "a channel named '%(name)s' exists", field="name",
                       params={"name": channel.name})

"""Calls through the company's voice channels: who an incoming Twilio call rings, and
click-to-call from the contact card (Twilio Voice, or a PBX that takes requests).

An incoming call on a ``voice_twilio`` channel rings the channel's group's online agents in
their browsers (their Twilio Client identities), else the channel's ``forward_to`` number,
else a voicemail (`answer_twilio`). Click-to-call (`call_contact`) has the provider ring the
agent first (their phone when the channel's ``agent_phones`` names one, else their browser;
on a PBX their extension) and then the customer; the call then comes back through the webhook
as an entry in the customer's thread, like any other.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for, twilio_voice
from invekto.channels.adapters.base import (
    CallingAgent,
    CallPlaced,
    OriginatingAdapter,
    PermanentFailure,
)
from invekto.channels.models import Channel
from invekto.contacts import service as contacts
from invekto.core.actor import Actor
from invekto.core.errors import PermissionDenied, UpstreamUnavailable, ValidationFailed
from invekto.db.session import Database
from invekto.inbox import service as inbox
from invekto.users import service as users

# The kinds that carry calls, in the order click-to-call prefers them.
VOICE_KINDS = ("voice_twilio", "voice")
_PAIR = re.compile(r"([^\s=,;]+)=([^\s=,;]+)")


# ---- incoming Twilio calls ---------------------------------------------------------------------

async def answer_twilio(db: Database, channel: channels.WebhookChannel,
                        payload: Mapping[str, Any], webhook_url: str) -> str:
    """The TwiML for a request Twilio made to the channel's webhook (``webhook_url``, as Twilio
    reached it, without a query): only an incoming call needs the channel's settings and who
    of its group is online."""
    agents: list[twilio_voice.RingAgent] = []
    forward_to = None
    if twilio_voice.is_incoming_call(payload):
        actor = Actor.system(channel.tenant_id)
        async with db.tenant_session(channel.tenant_id) as session:
            settings = dict((await channels.get_channel(session, actor, channel.channel_id)
                             ).settings or {})
            agents = await ring_agents(session, actor, str(settings.get("group") or ""))
        forward_to = str(settings.get("forward_to") or "").strip() or None
    return twilio_voice.answer(payload, webhook_url, agents=agents, forward_to=forward_to)


async def ring_agents(session: AsyncSession, actor: Actor, group: str
                      ) -> list[twilio_voice.RingAgent]:
    """The online agents of the group the channel names (by name, or by id), as Twilio Client
    identities; none when the group is not named or does not exist."""
    found = await _named_group(session, actor, group)
    if found is None:
        return []
    return [twilio_voice.RingAgent(twilio_voice.client_identity(user.id), user.display_name)
            for user in await users.online_members(session, actor, found)]


async def _named_group(session: AsyncSession, actor: Actor, group: str) -> uuid.UUID | None:
    """The group a channel's setting names (by name, or by id)."""
    wanted = group.strip().casefold()
    if not wanted:
        return None
    return next((g.id for g in await users.list_groups(session, actor)
                 if wanted in (str(g.id), g.name.casefold())), None)


# ---- the browser softphone ---------------------------------------------------------------------

@dataclass(frozen=True)
class Softphone:
    """What the signed-in agent's browser needs to receive calls: Twilio's Voice SDK token."""

    channel_id: uuid.UUID
    identity: str
    token: str
    expires_in: int


async def softphone(session: AsyncSession, actor: Actor) -> Softphone | None:
    """A token for the agent's browser to ring with incoming calls of a Twilio voice channel
    whose group they are in (the ones ``answer_twilio`` rings); None when no such channel has
    an API key for browsers."""
    if actor.user_id is None:
        raise PermissionDenied("the softphone rings a person: sign in as one to use it")
    lines = sorted((c for c in await channels.list_channels(session, actor)
                    if c.kind == "voice_twilio" and c.is_active), key=lambda c: c.name)
    for channel in lines:
        group = await _named_group(session, actor, str((channel.settings or {}).get("group") or ""))
        if group is None or group not in actor.group_ids:
            continue
        identity = twilio_voice.client_identity(actor.user_id)
        token = twilio_voice.access_token(channels.account_of(channel), identity)
        if token:
            return Softphone(channel.id, identity, token, twilio_voice.TOKEN_SECONDS)
    return None


# ---- click-to-call -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PlacedCall:
    """A call the provider took: it rings the agent now, then the customer."""

    channel_id: uuid.UUID
    call_id: str
    to: str


def agent_numbers(text: Any) -> dict[str, str]:
    """``bora=+905551112233, deniz=101`` as {username: number}."""
    return {name.lower(): number for name, number in _PAIR.findall(str(text or ""))}


def _originator(channel: Channel) -> OriginatingAdapter | None:
    adapter = adapter_for(channel.kind)
    if channel.kind not in VOICE_KINDS or not hasattr(adapter, "originate"):
        return None
    return adapter if adapter.can_originate(channels.account_of(channel)) else None


def can_place_calls(channel: Channel) -> bool:
    """Whether click-to-call can go through this channel (active, set up for it)."""
    return channel.is_active and _originator(channel) is not None


def offers_calls(company_channels: Iterable[Channel]) -> bool:
    """Whether the contact card offers a call button: some channel can place calls."""
    return any(can_place_calls(channel) for channel in company_channels)


async def calling_channel(session: AsyncSession, actor: Actor) -> Channel | None:
    """The channel click-to-call uses: the first active one that can place calls, Twilio
    before a PBX, then by name."""
    found = [c for c in await channels.list_channels(session, actor) if can_place_calls(c)]
    found.sort(key=lambda c: (VOICE_KINDS.index(c.kind), c.name))
    return found[0] if found else None


async def call_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                       base_url: str) -> PlacedCall:
    """Have the company's voice channel ring the acting agent, then the contact's phone.
    Whoever may read the contact's history may call them. ``base_url``: this app as the
    provider reaches it, for the call's status callbacks."""
    await inbox.require_history_visible(session, actor, contact_id)  # another's: not found
    if actor.user_id is None:
        raise PermissionDenied("a call rings a person first: sign in as one to place it")
    contact = await contacts.get_contact(session, actor, contact_id)
    if not contact.phone:
        raise ValidationFailed("this contact has no phone number to call", field="phone")
    channel = await calling_channel(session, actor)
    adapter = _originator(channel) if channel is not None else None
    if channel is None or adapter is None:
        raise ValidationFailed("no voice channel can place calls; an admin can set one up in "
                               "Settings → Channels", field="channel_id")
    user = await users.get_user(session, actor, actor.user_id)
    settings = channel.settings or {}
    agent = CallingAgent(
        user_id=user.id, username=user.username, name=user.display_name,
        phone=agent_numbers(settings.get("agent_phones")).get(user.username),
        extension=agent_numbers(settings.get("agent_extensions")).get(user.username))
    account = dataclasses.replace(
        channels.account_of(channel),
        webhook_url=base_url.rstrip("/") + (channels.webhook_path(channel) or ""))
    result = await adapter.originate(account, agent, contact.phone)
    if isinstance(result, CallPlaced):
        await audit.record(session, actor, "contact.called", target_type="contact",
                           target_id=contact.id, data={"channel_id": str(channel.id),
                                                       "call_id": result.call_id})
        return PlacedCall(channel_id=channel.id, call_id=result.call_id, to=contact.phone)
    if not isinstance(result, PermanentFailure):
        raise UpstreamUnavailable("the voice provider cannot place the call just now; try "
                                  "again in a moment", field="channel_id")
    if result.code == "invalid_number":
        raise ValidationFailed("the voice provider refused the contact's phone number",
                               field="phone")
    # Our own codes have sentences in the user's language; a provider's refusal its words.
    explain = getattr(adapter, "explain", None)
    reason = result.message
    if explain is not None and not result.code.startswith(("twilio_", "http_")):
        reason = explain(result.code, actor.language)
    raise UpstreamUnavailable("the voice provider refused the call: %(reason)s",
                              field="channel_id", params={"reason": reason})

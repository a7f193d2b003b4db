"""Chatbot flows: drafts, publishing, and running a conversation through a version.

The runtime is called from the ingest's transaction (``on_inbound``): starting a flow and
answering the customer's replies happen with the messages that caused them, in order. Steps
that call out (HTTP requests, look-ups) run in a job outside it. See decisions/0018."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from invekto.inbox.models import Conversation


@dataclass(frozen=True)
class Inbound:
    """A customer's message just stored, in the order the customer wrote."""

    conversation: Conversation
    message_id: uuid.UUID
    body: str
    payload: dict
    opened: bool  # this message opened the conversation


async def on_inbound(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                     inbounds: list[Inbound]) -> set[uuid.UUID]:
    """Start flows these messages trigger and move running ones on with the customer's
    answers; returns the conversations a bot holds afterwards (no welcome, no routing)."""
    # TODO(helper B): the runtime.
    return set()


async def end_for_takeover(session: AsyncSession, conversation: Conversation,
                           user_id: uuid.UUID | None) -> None:
    """An agent wrote into (or took over) a conversation the bot held: the bot stops."""
    # TODO(helper B)
    conversation.held_by_bot = False


async def end_for_close(session: AsyncSession, conversation: Conversation) -> None:
    """The conversation was closed: its bot session ends too."""
    # TODO(helper B)
    conversation.held_by_bot = False

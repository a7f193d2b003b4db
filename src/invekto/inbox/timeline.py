"""The thread an agent reads: a contact's messages over every channel and conversation, with the
team's notes and the conversations' events (assigned, closed...) between them, oldest first.

Pages are cut by messages (keyset, newest first, like the API); the notes and events that fall
in the same time window join them, so a long history costs one bounded page at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.actor import Actor
from invekto.core.pagination import decode_cursor
from invekto.inbox import service
from invekto.inbox.models import Attachment, Conversation, ConversationEvent, Message, Note

PAGE_SIZE = 40


@dataclass(frozen=True)
class Item:
    kind: str  # message | note | event
    at: datetime
    id: uuid.UUID
    record: Message | Note | ConversationEvent


@dataclass(frozen=True)
class ThreadPage:
    items: list[Item]
    older_cursor: str | None  # None: this page reaches the first message
    attachments: dict[uuid.UUID, Attachment]


async def thread_page(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                      cursor: str | None = None, limit: int = PAGE_SIZE) -> ThreadPage:
    messages, older = await service.contact_history(session, actor, contact_id, cursor=cursor,
                                                    limit=limit)
    upper = decode_cursor(cursor)[0] if cursor else None
    lower = messages[-1].created_at if older and messages else None
    notes = await _in_window(session, actor, Note, contact_id, lower, upper)
    events = await _in_window(session, actor, ConversationEvent, contact_id, lower, upper)
    items = [Item("message", m.created_at, m.id, m) for m in messages]
    items += [Item("note", n.created_at, n.id, n) for n in notes]
    items += [Item("event", e.created_at, e.id, e) for e in events]
    items.sort(key=lambda item: (item.at, item.id))
    return ThreadPage(items, older, await attachments_of(session, actor, messages))


async def attachments_of(session: AsyncSession, actor: Actor, messages: list[Message]
                         ) -> dict[uuid.UUID, Attachment]:
    return await attachments_by_id(session, actor, [m.attachment_id for m in messages
                                                    if m.attachment_id])


async def attachments_by_id(session: AsyncSession, actor: Actor, ids: list[uuid.UUID]
                            ) -> dict[uuid.UUID, Attachment]:
    if not ids:
        return {}
    rows = await session.scalars(select(Attachment).where(
        Attachment.tenant_id == actor.tenant_id, Attachment.id.in_(set(ids))))
    return {a.id: a for a in rows}


async def _in_window(session: AsyncSession, actor: Actor, model, contact_id: uuid.UUID,
                     lower: datetime | None, upper: datetime | None) -> list:
    query = select(model).where(model.tenant_id == actor.tenant_id,
                                model.contact_id == contact_id)
    if lower is not None:
        query = query.where(model.created_at >= lower)
    if upper is not None:
        query = query.where(model.created_at < upper)
    if model is Note and not actor.sees_whole_tenant:
        visible = select(Conversation.id).where(Conversation.tenant_id == actor.tenant_id,
                                                Conversation.contact_id == contact_id,
                                                service.visible_clause(actor))
        query = query.where(or_(Note.conversation_id.is_(None),
                                Note.conversation_id.in_(visible)))
    return list((await session.scalars(query.order_by(model.created_at))).all())

"""Merging two contacts that are the same person (their WhatsApp and their Instagram, say).

The surviving contact takes over the other's channel identities, conversations, messages, notes
and events, so both histories read as one. Its own values win; empty ones are filled from the
other. Where both have a conversation still open on the same channel, the other's is closed
first, since a contact has at most one active conversation per channel.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.contacts import service as contacts
from invekto.contacts.models import ContactIdentity
from invekto.core.actor import Actor
from invekto.core.errors import NotFound, ValidationFailed
from invekto.inbox import service
from invekto.inbox.models import Conversation, ConversationEvent, Message, Note


async def merge_contacts(session: AsyncSession, actor: Actor, keep_id: uuid.UUID,
                         merge_id: uuid.UUID):
    if keep_id == merge_id:
        raise ValidationFailed("choose two different contacts", field="merge_id")
    # Whoever merges must be able to read both histories.
    await service.require_history_visible(session, actor, keep_id)
    try:
        await service.require_history_visible(session, actor, merge_id)
    except NotFound as exc:
        raise ValidationFailed("no such contact", field="merge_id") from exc
    keep = await contacts.get_contact(session, actor, keep_id)
    gone = await contacts.get_contact(session, actor, merge_id)
    tenant = actor.tenant_id

    kept_channels = set((await session.scalars(select(Conversation.channel_id).where(
        Conversation.tenant_id == tenant, Conversation.contact_id == keep_id,
        Conversation.status != "closed"))).all())
    for conversation in (await session.scalars(select(Conversation).where(
            Conversation.tenant_id == tenant, Conversation.contact_id == merge_id,
            Conversation.status != "closed"))).all():
        if conversation.channel_id in kept_channels:
            # As the system: the merger may not see that conversation (another agent's), and
            # the merge itself was allowed.
            await service.close(session, Actor.system(tenant), conversation.id)

    for model in (Conversation, Message, Note, ConversationEvent, ContactIdentity):
        await session.execute(update(model).where(
            model.tenant_id == tenant, model.contact_id == merge_id).values(contact_id=keep_id))

    keep.tags = keep.tags + [t for t in gone.tags if t not in keep.tags]
    keep.custom_fields = {**gone.custom_fields, **keep.custom_fields}
    keep.name = keep.name or gone.name
    keep.email = keep.email or gone.email
    keep.language = keep.language or gone.language
    phone = gone.phone
    summary = {"merged_contact_id": str(merge_id), "merged_name": gone.name}
    await session.delete(gone)
    await session.flush()
    if keep.phone is None and phone:
        keep.phone = phone  # only now: the phone number is unique per tenant
    if gone.last_activity_at and (keep.last_activity_at is None
                                  or gone.last_activity_at > keep.last_activity_at):
        keep.last_activity_at = gone.last_activity_at
    await session.flush()
    await audit.record(session, actor, "contact.merged", target_type="contact",
                       target_id=keep.id, data=summary)
    return keep

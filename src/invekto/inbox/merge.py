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
from invekto.consent.models import ConsentEvent
from invekto.contacts import service as contacts
from invekto.contacts.models import ContactConsent, ContactIdentity
from invekto.core.actor import Actor
from invekto.core.errors import NotFound, ValidationFailed
from invekto.inbox import service
from invekto.inbox.models import Conversation, ConversationEvent, Message, Note


async def _merge_consents(session: AsyncSession, tenant: uuid.UUID, keep_id: uuid.UUID,
                          merge_id: uuid.UUID) -> None:
    """Per kind of consent, the latest statement of either contact stands (a withdrawal made
    to the merged contact must not be lost to an older consent of the kept one); the history
    moved above keeps both."""
    rows = (await session.scalars(select(ContactConsent).where(
        ContactConsent.tenant_id == tenant,
        ContactConsent.contact_id.in_((keep_id, merge_id))))).all()
    kept = {row.consent_type: row for row in rows if row.contact_id == keep_id}
    for row in (row for row in rows if row.contact_id == merge_id):
        current = kept.get(row.consent_type)
        if current is None:
            row.contact_id = keep_id
        else:
            if row.recorded_at > current.recorded_at:
                current.granted, current.source = row.granted, row.source
                current.iys_status, current.recorded_at = row.iys_status, row.recorded_at
            await session.delete(row)
    await session.flush()


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

    for model in (Conversation, Message, Note, ConversationEvent, ContactIdentity,
                  ConsentEvent):
        await session.execute(update(model).where(
            model.tenant_id == tenant, model.contact_id == merge_id).values(contact_id=keep_id))
    await _merge_consents(session, tenant, keep_id, merge_id)

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

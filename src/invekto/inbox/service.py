"""Conversations, messages and notes: the inbox.

Visibility: supervisors and admins see the whole tenant; an agent sees conversations assigned to
them, those in their groups' queues, and unassigned ones with no group (the shared queue). Anything
else is a 404, exactly like another tenant's id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    any_,
    case,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.sql import ColumnElement

from invekto.audit import service as audit
from invekto.automation.events import Event
from invekto.channels import chat_links, pacing
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    OutboundFile,
    OutboundMessage,
    PermanentFailure,
    ProviderTemplate,
    Sent,
    TemporaryFailure,
)
from invekto.channels.adapters.whatsapp import TemplatesUnavailable, fill_template
from invekto.channels.models import Channel
from invekto.channels.sms import (
    SMS_KINDS,
    TURKISH_SHIFT_KINDS,
    SmsLength,
    opt_out_word,
    sms_length,
)
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import ContactCreate
from invekto.core import jobs, realtime
from invekto.core.actor import Actor, Permission
from invekto.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    UpstreamUnavailable,
    ValidationFailed,
)
from invekto.core.i18n import N_
from invekto.core.pagination import newest_first_page
from invekto.core.phone import to_e164
from invekto.core.storage import Storage
from invekto.core.text import clean_text
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.inbox import search
from invekto.inbox.models import (
    PRIORITIES,
    Attachment,
    Conversation,
    ConversationEvent,
    Message,
    Note,
    Notification,
    StatusBacklog,
)
from invekto.inbox.schemas import (
    Choice,
    Choices,
    ConversationFilters,
    InboundMessage,
    MessageSend,
    TemplateSend,
)
from invekto.replies import variables
from invekto.routing import service as routing
from invekto.routing import sla
from invekto.routing.models import ChannelOperations
from invekto.templates import service as templates
from invekto.tenants.models import Tenant
from invekto.users import roles
from invekto.users import service as users
from invekto.users.models import User

_PREVIEW_LENGTH = 200
# The conversations this transaction opened, for routing once their first messages are stored.
_OPENED_CONVERSATIONS = "invekto.opened_conversations"
_RECORDED_EVENTS = "invekto.timeline_events"  # session.info key
# Delivery statuses only move forward: a late "delivered" never overwrites "read".
_STATUS_ORDER = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


def _now() -> datetime:
    return datetime.now(UTC)


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    if actor.sees_whole_tenant:
        return true()
    mine = Conversation.assignee_id == actor.user_id if actor.user_id else false()
    in_my_groups = (Conversation.group_id.in_(actor.group_ids) if actor.group_ids else false())
    if not actor.can(Permission.SEE_UNASSIGNED):
        return or_(mine, in_my_groups)
    shared_queue = and_(Conversation.assignee_id.is_(None), Conversation.group_id.is_(None))
    return or_(mine, in_my_groups, shared_queue)


# ---- conversations -----------------------------------------------------------------------------

async def get_conversation(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                           *, for_update: bool = False) -> Conversation:
    query = select(Conversation).where(
        Conversation.tenant_id == actor.tenant_id, Conversation.id == conversation_id,
        visible_clause(actor))
    if for_update:
        query = query.with_for_update()
    conversation = await session.scalar(query)
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


def filtered_conversations(actor: Actor, filters: ConversationFilters):
    """The conversations the actor sees that ``filters`` find (a SELECT to refine)."""
    query = select(Conversation).where(Conversation.tenant_id == actor.tenant_id,
                                       visible_clause(actor))
    if filters.status:
        query = query.where(Conversation.status == filters.status)
    if filters.channel_id:
        query = query.where(Conversation.channel_id == filters.channel_id)
    if filters.assignee == "me":
        query = query.where(Conversation.assignee_id == actor.user_id)
    elif filters.assignee == "none":
        query = query.where(Conversation.assignee_id.is_(None))
    elif filters.assignee:
        try:
            query = query.where(Conversation.assignee_id == uuid.UUID(filters.assignee))
        except ValueError as exc:
            raise ValidationFailed("assignee must be a user id, 'me' or 'none'",
                                   field="assignee") from exc
    if filters.group_id:
        query = query.where(Conversation.group_id == filters.group_id)
    if filters.tag:
        query = query.where(any_(Conversation.tags) == filters.tag)
    if filters.contact_id:
        query = query.where(Conversation.contact_id == filters.contact_id)
    if filters.in_my_groups:
        query = query.where(Conversation.group_id.in_(actor.group_ids) if actor.group_ids
                            else false())
    if filters.priority:
        query = query.where(Conversation.priority == filters.priority)
    if filters.q and filters.q.strip():
        query = query.where(_text_match(actor, filters.q))
    return query


async def list_conversations(session: AsyncSession, actor: Actor, filters: ConversationFilters,
                             *, cursor: str | None = None, limit: int = 50,
                             only_id: uuid.UUID | None = None
                             ) -> tuple[list[Conversation], str | None]:
    """Most recent activity first, keyset-paginated on (last_message_at, id). ``only_id`` asks
    whether one conversation is in the list as filtered (the live list's question)."""
    query = filtered_conversations(actor, filters)
    if only_id is not None:
        query = query.where(Conversation.id == only_id)
    return await newest_first_page(session, query,
                                   Conversation.last_message_at, Conversation.id,
                                   cursor=cursor, limit=limit)


async def count_conversations(session: AsyncSession, actor: Actor, filters: ConversationFilters,
                              *, cap: int | None = None) -> int:
    """How many conversations match; with ``cap``, counting stops there (the UI shows "999+"),
    so a badge costs the same over a hundred or a hundred thousand conversations."""
    query = filtered_conversations(actor, filters).with_only_columns(Conversation.id)
    if cap is not None:
        query = query.limit(cap)
    subquery = query.subquery()
    return await session.scalar(select(func.count()).select_from(subquery)) or 0


def _text_match(actor: Actor, q: str) -> ColumnElement[bool]:
    """Full-text search over contacts (name, e-mail, phone digits) and message bodies."""
    return search.conversation_match(actor, q)


async def assign(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                 assignee_id: uuid.UUID | None) -> Conversation:
    """Agents may take an unassigned conversation they can see or hand back their own;
    supervisors may assign anything to anyone."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if not actor.can(Permission.SUPERVISE):
        # A colleague's conversation in a shared group queue is visible, but not up for grabs.
        takes_it = (assignee_id == actor.user_id
                    and conversation.assignee_id in (None, actor.user_id))
        releases_own = assignee_id is None and conversation.assignee_id == actor.user_id
        if not (takes_it or releases_own):
            raise PermissionDenied("agents can take a conversation or release their own; "
                                   "use transfer to hand it to a colleague")
    if assignee_id is not None:
        await require_active_user(session, actor, assignee_id, field="assignee_id")
    previous = (conversation.assignee_id, conversation.group_id)
    conversation.assignee_id = assignee_id
    await _changed(session, actor, conversation, "conversation.assigned",
                   {"assignee_id": str(assignee_id) if assignee_id else None,
                    "reason": "manual"},
                   event_kind="assigned", previous_audience=previous)
    if previous[0] not in (None, assignee_id) and conversation.status != "closed":
        await _offer_freed(session, actor.tenant_id, previous[0])
    await _emit_assigned(session, conversation, "manual")
    return conversation


async def transfer(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                   user_id: uuid.UUID | None, group_id: uuid.UUID | None,
                   note: str = "") -> Conversation:
    """Hand a conversation to a colleague and/or a group's queue. Agents may transfer what is
    theirs or unassigned; supervisors anything."""
    if user_id is None and group_id is None:
        raise ValidationFailed("give a user_id, a group_id or both", field="user_id")
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if not actor.can(Permission.SUPERVISE) and conversation.assignee_id not in (None,
                                                                              actor.user_id):
        raise PermissionDenied("only the assignee or a supervisor can transfer this conversation")
    if user_id is not None:
        await require_active_user(session, actor, user_id, field="user_id")
    if group_id is not None:
        try:
            await users.get_group(session, actor, group_id)
        except NotFound as exc:
            raise ValidationFailed("no such group", field="group_id") from exc
    previous = (conversation.assignee_id, conversation.group_id)
    conversation.assignee_id = user_id
    if group_id is not None:
        conversation.group_id = group_id
    await _changed(session, actor, conversation, "conversation.transferred", {
        "from_user_id": str(previous[0]) if previous[0] else None,
        "from_group_id": str(previous[1]) if previous[1] else None,
        "user_id": str(user_id) if user_id else None,
        "group_id": str(conversation.group_id) if conversation.group_id else None,
        **({"note": note.strip()[:500]} if note.strip() else {}),
    }, previous_audience=previous, event_kind="transferred")
    if previous[0] not in (None, user_id) and conversation.status != "closed":
        await _offer_freed(session, actor.tenant_id, previous[0])
    await _emit_assigned(session, conversation, "transfer")
    from invekto.ai import events as ai_events  # local: ai reads our models

    await ai_events.conversation_transferred(session, actor.tenant_id, conversation.id)
    return conversation


async def takeover(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                   ) -> Conversation:
    """A supervisor takes a conversation over from whoever holds it; the thread records it."""
    actor.require(Permission.SUPERVISE)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    previous = (conversation.assignee_id, conversation.group_id)
    conversation.assignee_id = actor.user_id
    await _changed(session, actor, conversation, "conversation.takeover", {
        "from_user_id": str(previous[0]) if previous[0] else None,
        "user_id": str(actor.user_id)}, previous_audience=previous, event_kind="takeover")
    await audit.record(session, actor, "conversation.taken_over", target_type="conversation",
                       target_id=conversation.id,
                       before={"assignee_id": str(previous[0]) if previous[0] else None},
                       after={"assignee_id": str(actor.user_id)})
    if conversation.held_by_bot:
        from invekto.flows import service as flows  # local: flows send through us

        await flows.end_for_takeover(session, conversation, actor.user_id)
    await _emit_assigned(session, conversation, "takeover")
    return conversation


async def close(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                reason: str | None = None) -> Conversation:
    """Close the conversation; ``reason`` (``auto_close``) when no person did."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if conversation.status != "closed":
        conversation.status = "closed"
        conversation.closed_at = _now()
        conversation.snoozed_until = None
        await _changed(session, actor, conversation, "conversation.closed",
                       {"reason": reason} if reason else {}, event_kind="closed")
        await _offer_freed(session, actor.tenant_id, conversation.assignee_id)
        # Follow-up sequences and the CSAT survey start from a close, by an agent or auto-close
        # (a local import: follow_ups sends its messages through this module).
        from invekto.follow_ups import service as follow_ups

        await follow_ups.trigger(session, actor.tenant_id, "conversation_closed", conversation.id)
        if conversation.held_by_bot:
            from invekto.flows import service as flows  # local: flows send through us

            await flows.end_for_close(session, conversation)
        await _emit(session, _conversation_event("conversation_closed", conversation,
                                                 {"reason": reason} if reason else {}))
        # The AI learns from it and analyses it (a local import: ai reads our models).
        from invekto.ai import events as ai_events

        await ai_events.conversation_closed(session, actor.tenant_id, conversation.id)
    return conversation


async def reopen(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if conversation.status == "closed":
        conversation.status = "open"
        conversation.closed_at = None
        await flush_unique(session, "this contact has a newer open conversation on this channel",
                           field="conversation_id")
        await _changed(session, actor, conversation, "conversation.reopened", {},
                       event_kind="reopened")
    return conversation


async def set_status(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                     status: str) -> Conversation:
    if status == "closed":
        return await close(session, actor, conversation_id)
    conversation = await reopen(session, actor, conversation_id)
    if conversation.status != status:
        conversation.status = status
        conversation.snoozed_until = None
        await _changed(session, actor, conversation, "conversation.status_changed",
                       {"status": status}, event_kind="status")
    return conversation


async def set_priority(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                       priority: str) -> Conversation:
    if priority not in PRIORITIES:
        raise ValidationFailed("priority must be low, normal, high or urgent", field="priority")
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if conversation.priority != priority:
        conversation.priority = priority
        await _changed(session, actor, conversation, "conversation.priority",
                       {"priority": priority}, event_kind="priority")
    return conversation


async def snooze(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                 until: datetime) -> Conversation:
    """Park a conversation (status pending) until ``until``; it reopens by itself then, or
    earlier when the customer writes."""
    if until.tzinfo is None:
        raise ValidationFailed("give the time with its time zone", field="until")
    if until <= _now():
        raise ValidationFailed("the snooze time must be in the future", field="until")
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if conversation.status == "closed":
        raise Conflict("a closed conversation cannot be snoozed; reopen it first",
                       field="conversation_id")
    conversation.status = "pending"
    conversation.snoozed_until = until
    await _changed(session, actor, conversation, "conversation.snoozed",
                   {"until": until.isoformat()}, event_kind="snoozed")
    return conversation


async def wake_snoozed(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose time has come (the periodic job; system scope)."""
    due = list((await session.scalars(select(Conversation).where(
        Conversation.snoozed_until <= (now or _now())).with_for_update(skip_locked=True))).all())
    for conversation in due:
        conversation.snoozed_until = None
        conversation.status = "open"
        await _changed(session, Actor.system(conversation.tenant_id), conversation,
                       "conversation.woke", {"reason": "snooze_ended"}, event_kind="reopened",
                       audit_it=False)
    return len(due)


async def mark_unread(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                      ) -> Conversation:
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if not conversation.unread_count:
        conversation.unread_count = 1
        await _changed(session, actor, conversation, "conversation.unread", {}, audit_it=False)
    return conversation


async def change_tags(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                      add: list[str], remove: list[str], create_missing: bool = False,
                      reason: str | None = None) -> Conversation:
    """``create_missing``: a tag typed while tagging joins the catalogue (the inbox's inline
    creation, open to every role); otherwise an unknown tag is refused. ``reason``: why the
    system tagged (``ai``: the AI's auto-tagging), kept with the thread's event."""
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if create_missing:
        known = {t.name for t in await contacts.list_tags(session, actor)}
        for name in dict.fromkeys(add):
            if name not in known:
                await contacts.create_tag_named(session, actor, name)
    added = await contacts.checked_tags(session, actor, add)
    before = list(conversation.tags)
    tags = [t for t in before if t not in set(remove)]
    conversation.tags = tags + [t for t in added if t not in tags]
    newly_added = [t for t in conversation.tags if t not in before]
    removed = [t for t in before if t not in conversation.tags]
    if newly_added or removed:
        because = {"reason": reason} if reason else {}
        await _changed(session, actor, conversation, "conversation.tagged",
                       {"tags": conversation.tags, **because}, audit_it=False,
                       event_kind="tagged" if newly_added else "untagged",
                       event_data={"added": newly_added, "removed": removed, **because})
        if conversation.status != "closed":
            await sla.set_due_times(session, actor.tenant_id, [conversation])  # a tag's policy
        if actor.user_id is not None:
            from invekto.ai import events as ai_events  # local: ai reads our models

            await ai_events.tags_changed_by_person(session, actor.tenant_id, conversation.id)
        from invekto.follow_ups import service as follow_ups  # local: it sends through us

        for tag in newly_added:
            await follow_ups.trigger(session, actor.tenant_id, "tag_added", conversation.id,
                                     tag=tag)
        await _emit(session, *(
            [_conversation_event("tag_added", conversation, {"tag": tag})
             for tag in newly_added]
            + [_conversation_event("tag_removed", conversation, {"tag": tag})
               for tag in removed]))
    return conversation


async def remove_tag_everywhere(session: AsyncSession, actor: Actor, tag: str) -> None:
    await session.execute(update(Conversation).where(
        Conversation.tenant_id == actor.tenant_id, any_(Conversation.tags) == tag).values(
        tags=func.array_remove(Conversation.tags, tag)))


async def mark_read(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                    ) -> Conversation:
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if conversation.unread_count:
        conversation.unread_count = 0
        await _changed(session, actor, conversation, "conversation.read", {}, audit_it=False)
    return conversation


async def workload(session: AsyncSession, actor: Actor, *, limit: int = 2000
                   ) -> list[Conversation]:
    """Every conversation someone holds that is not closed, newest activity first: the
    supervisors' live monitor."""
    actor.require(Permission.SUPERVISE)
    return list((await session.scalars(select(Conversation).where(
        Conversation.tenant_id == actor.tenant_id, Conversation.assignee_id.is_not(None),
        Conversation.status != "closed").order_by(Conversation.last_message_at.desc())
        .limit(limit))).all())


async def channel_has_conversations(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                                    ) -> bool:
    return bool(await session.scalar(select(exists().where(
        Conversation.tenant_id == actor.tenant_id, Conversation.channel_id == channel_id))))


async def require_active_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID,
                               *, field: str) -> None:
    try:
        user = await users.get_user(session, actor, user_id)
    except NotFound as exc:
        raise ValidationFailed("no such user", field=field) from exc
    if not user.is_active:
        raise ValidationFailed("this user is deactivated", field=field)


async def _changed(session: AsyncSession, actor: Actor, conversation: Conversation,
                   action: str, data: dict, *, audit_it: bool = True,
                   previous_audience: tuple[uuid.UUID | None, uuid.UUID | None] | None = None,
                   event_kind: str | None = None, event_data: dict | None = None,
                   at: datetime | None = None) -> None:
    """After any change to a conversation: the thread's event line (``event_kind``), the live
    event to everyone who can see it, and the audit record."""
    await session.flush()
    event_data_out = {"conversation_id": str(conversation.id),
                      "contact_id": str(conversation.contact_id),
                      "status": conversation.status, **data}
    if event_kind:
        timeline_event = ConversationEvent(
            tenant_id=conversation.tenant_id, conversation_id=conversation.id,
            contact_id=conversation.contact_id, actor_user_id=actor.user_id, kind=event_kind,
            data=event_data if event_data is not None else data,
            # A timer's moment (``now`` of the scan that acted); the database's clock otherwise.
            **({"created_at": at} if at else {}))
        session.add(timeline_event)
        await session.flush()
        session.info.setdefault(_RECORDED_EVENTS, []).append(timeline_event)
        event_data_out["event_id"] = str(timeline_event.id)
    event_data = event_data_out
    await _publish(session, conversation, "conversation.updated", {"action": action,
                                                                   **event_data})
    if previous_audience and previous_audience != (conversation.assignee_id,
                                                   conversation.group_id):
        # Those who could see it before must also hear that it left their queue.
        await realtime.publish(session, realtime.Event(
            tenant_id=conversation.tenant_id, type="conversation.updated",
            data={"action": action, **event_data}, assignee_id=previous_audience[0],
            group_id=previous_audience[1]))
    if audit_it:
        await audit.record(session, actor, action, target_type="conversation",
                           target_id=conversation.id, data=data)


def recorded_events(session: AsyncSession, conversation_id: uuid.UUID
                    ) -> list[ConversationEvent]:
    """The thread events this transaction has recorded for the conversation so far."""
    return [e for e in session.info.get(_RECORDED_EVENTS, [])
            if e.conversation_id == conversation_id]


async def get_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID
                    ) -> ConversationEvent:
    event = await get_in_tenant(session, ConversationEvent, actor.tenant_id, event_id,
                                what=N_("event"))
    await require_history_visible(session, actor, event.contact_id)
    return event


async def _publish(session: AsyncSession, conversation: Conversation, event_type: str,
                   data: dict) -> None:
    await realtime.publish(session, _event(conversation, event_type, data))


def _event(conversation: Conversation, event_type: str, data: dict) -> realtime.Event:
    """A live event about ``conversation``, for those who may see it."""
    return realtime.Event(tenant_id=conversation.tenant_id, type=event_type, data=data,
                          assignee_id=conversation.assignee_id, group_id=conversation.group_id)


# ---- messages ----------------------------------------------------------------------------------

async def list_messages(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                        cursor: str | None = None, limit: int = 50
                        ) -> tuple[list[Message], str | None]:
    """Newest first; ``next_cursor`` pages to older messages."""
    await get_conversation(session, actor, conversation_id)
    return await _page_messages(session, Message.conversation_id == conversation_id, actor,
                                cursor, limit)


async def contact_history(session: AsyncSession, actor: Actor, contact_id: uuid.UUID, *,
                          cursor: str | None = None, limit: int = 50
                          ) -> tuple[list[Message], str | None]:
    """Every message with a contact, over all channels and conversations, newest first. An agent
    who can see any conversation with the contact sees the whole history: that is the context."""
    await require_history_visible(session, actor, contact_id)
    return await _page_messages(session, Message.contact_id == contact_id, actor, cursor, limit)


async def require_history_visible(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                                  ) -> None:
    await contacts.get_contact(session, actor, contact_id)
    if not actor.sees_whole_tenant and not await session.scalar(select(exists().where(
            Conversation.tenant_id == actor.tenant_id, Conversation.contact_id == contact_id,
            visible_clause(actor)))):
        raise NotFound("contact not found")


async def set_blocked(session: AsyncSession, actor: Actor, contact_id: uuid.UUID,
                      blocked: bool) -> Contact:
    """Block a contact (spam, abuse) or unblock them; whoever may read their history may.
    A blocked contact's messages are still stored, but notify and are assigned to no one, and
    nothing is sent to them."""
    await require_history_visible(session, actor, contact_id)
    contact = await contacts.set_blocked(session, actor, contact_id, blocked)
    await audit.record(session, actor, "contact.blocked" if blocked else "contact.unblocked",
                       target_type="contact", target_id=contact_id)
    return contact


async def block_phone(session: AsyncSession, actor: Actor, phone: str) -> Contact:
    """Block a number before it writes, or whoever has it: supervisors' (the settings' block
    list). The contact is made when there is none, so its first message is already quiet."""
    actor.require(Permission.MANAGE_CONTACTS)
    contact = await contact_for_phone(session, actor, phone)
    return await set_blocked(session, actor, contact.id, True)


async def contact_for_phone(session: AsyncSession, actor: Actor, phone: str, *,
                            field: str = "phone") -> Contact:
    """The company's contact with this number (normalised to E.164, Türkiye by default),
    created when there is none. A concurrent request creating the same number first wins; its
    contact is returned."""
    number = to_e164(phone, field=field)
    by_number = select(Contact).where(Contact.tenant_id == actor.tenant_id,
                                      Contact.phone == number)
    contact = await session.scalar(by_number)
    if contact is not None:
        return contact
    try:
        async with session.begin_nested():
            return await contacts.create_contact(session, actor, ContactCreate(phone=number))
    except Conflict:
        contact = await session.scalar(by_number)
        if contact is None:
            raise
        return contact


async def get_message(session: AsyncSession, actor: Actor, message_id: uuid.UUID) -> Message:
    """One message, for whoever may read its contact's history."""
    message = await get_in_tenant(session, Message, actor.tenant_id, message_id,
                                  what=N_("message"))
    await require_history_visible(session, actor, message.contact_id)
    return message


async def _page_messages(session: AsyncSession, condition: ColumnElement[bool], actor: Actor,
                         cursor: str | None, limit: int) -> tuple[list[Message], str | None]:
    query = select(Message).where(Message.tenant_id == actor.tenant_id, condition)
    return await newest_first_page(session, query, Message.created_at, Message.id,
                                   cursor=cursor, limit=limit)


async def check_can_reply(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                          ) -> None:
    """Refuse early (before a file is stored for it) a reply ``send_message`` would refuse."""
    _require_can_reply(actor, await get_conversation(session, actor, conversation_id))


# Meta's channels let a business answer freely only within 24 hours of the customer's last
# message; after that WhatsApp takes only approved templates (Messenger/Instagram a tagged reply).
WINDOWED_KINDS = ("whatsapp_cloud", "whatsapp_bsp", "messenger", "instagram")
REPLY_WINDOW = timedelta(hours=24)
# Meta lets a person (not a bot) answer on Messenger and Instagram for 7 days with the
# HUMAN_AGENT tag, once the app has that permission: the channel's ``human_agent`` setting.
HUMAN_AGENT_KINDS = ("messenger", "instagram")
HUMAN_AGENT_WINDOW = timedelta(days=7)


async def reply_window_closes_at(session: AsyncSession, conversation: Conversation
                                 ) -> datetime | None:
    """Until when an agent may write freely to the conversation's customer on its channel (in
    the past when no longer), or None for a channel without such a window. On Messenger and
    Instagram with the human-agent permission that is 7 days, the last 6 with Meta's tag."""
    free, human = await _reply_windows(session, conversation)
    return human or free


async def _reply_windows(session: AsyncSession, conversation: Conversation
                         ) -> tuple[datetime | None, datetime | None]:
    """(end of the free window, end of the human-agent window or None)."""
    channel = await session.get_one(Channel, conversation.channel_id)
    if channel.kind not in WINDOWED_KINDS:
        return None, None
    last_inbound = await session.scalar(select(func.max(Message.created_at)).where(
        Message.tenant_id == conversation.tenant_id, Message.contact_id == conversation.contact_id,
        Message.channel_id == conversation.channel_id, Message.direction == "inbound"))
    last_inbound = last_inbound or datetime.min.replace(tzinfo=UTC)
    human = (last_inbound + HUMAN_AGENT_WINDOW if channel.kind in HUMAN_AGENT_KINDS
             and (channel.settings or {}).get("human_agent") is True else None)
    return last_inbound + REPLY_WINDOW, human


async def _needs_human_agent_tag(session: AsyncSession, actor: Actor,
                                 conversation: Conversation) -> bool:
    """Whether a reply now must carry Meta's human-agent tag; a reply outside every window the
    provider allows is refused (409). Only a person may use the tag, never a bot."""
    free, human = await _reply_windows(session, conversation)
    now = _now()
    if free is None or free > now:
        return False
    if human is not None and human > now and actor.user_id is not None:
        return True
    raise Conflict("more than 24 hours have passed since the customer's last message: only "
                   "an approved template can be sent now", field="body",
                   code="outside_reply_window")


def _require_can_reply(actor: Actor, conversation: Conversation) -> None:
    actor.require(Permission.HANDLE_CONVERSATIONS)
    if conversation.status == "closed":
        raise Conflict("this conversation is closed; reopen it to reply", field="conversation_id")
    if not actor.can(Permission.SUPERVISE) and conversation.assignee_id not in (None,
                                                                              actor.user_id):
        raise PermissionDenied("this conversation is assigned to a colleague")


async def send_message(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                       data: MessageSend, *, after_close: bool = False, as_bot: bool = False
                       ) -> tuple[Message, bool]:
    """Store an agent's reply and defer its delivery in the same transaction.
    Returns (message, created); a repeated ``client_message_id`` returns the first message.
    ``after_close``: the company's automatic message may go into a closed conversation
    (``send_automatic``). ``as_bot``: a chatbot flow's message, which is nobody's first
    response. A person writing into a conversation a bot holds takes it over."""
    # Visibility first: a retry's lookup must not hand out a message the caller cannot see.
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    if data.client_message_id:
        existing = await session.scalar(select(Message).where(
            Message.tenant_id == actor.tenant_id,
            Message.client_message_id == data.client_message_id))
        if existing is not None:
            if existing.conversation_id != conversation_id:
                raise Conflict("client_message_id was used for another conversation",
                               field="client_message_id")
            return existing, False
    if not after_close:
        _require_can_reply(actor, conversation)
    if await contacts.is_blocked(session, actor.tenant_id, conversation.contact_id):
        raise Conflict("this contact is blocked; unblock them to write to them",
                       field="contact_id", code="contact_blocked")
    body = clean_text(data.body)
    payload: dict = {}
    if data.content_kind == "template":
        # What a template is for: writing first, or again after the 24-hour window.
        channel = await _whatsapp_channel(session, conversation, N_("templates"))
        payload, body = await _checked_template(channel, data.template)
    elif await _needs_human_agent_tag(session, actor, conversation):
        payload["human_agent"] = True
    if data.content_kind in ("text", "interactive") and not body:
        raise ValidationFailed("message is empty", field="body")
    if data.content_kind == "interactive":
        channel = await session.get_one(Channel, conversation.channel_id)
        if channel.kind not in CHOICE_KINDS:
            raise ValidationFailed("buttons and lists can only be sent on WhatsApp and Telegram",
                                   field="content_kind")
        payload["choices"] = checked_choices(data.choices, body)
    elif data.content_kind not in ("text", "template") and data.attachment_id is None:
        raise ValidationFailed("a %(kind)s message needs an attachment", field="attachment_id",
                               params={"kind": _MEDIA_NAMES.get(data.content_kind,
                                                                data.content_kind)})
    if data.attachment_id:
        await get_attachment(session, actor, data.attachment_id)

    now = _now()
    message_id = new_id()
    inserted = await session.scalar(insert(Message).values(
        id=message_id, tenant_id=actor.tenant_id, conversation_id=conversation.id,
        contact_id=conversation.contact_id, channel_id=conversation.channel_id,
        direction="outbound",
        sender_kind="agent" if actor.user_id else "bot" if as_bot else "system",
        sender_user_id=actor.user_id, content_kind=data.content_kind, body=body,
        attachment_id=data.attachment_id, client_message_id=data.client_message_id,
        payload=payload, status="pending", created_at=now,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "client_message_id"]).returning(
        Message.id))
    if inserted is None:  # a concurrent request with the same client_message_id won
        message = await session.scalar(select(Message).where(
            Message.tenant_id == actor.tenant_id,
            Message.client_message_id == data.client_message_id))
        assert message is not None
        return message, False
    message = await session.get_one(Message, message_id)

    took_it = (conversation.assignee_id is None and actor.user_id is not None
               and not actor.can(Permission.SUPERVISE))
    if took_it:
        conversation.assignee_id = actor.user_id  # replying from the queue takes the chat
    if conversation.held_by_bot and actor.user_id is not None:
        from invekto.flows import service as flows  # local: flows send through us

        await flows.end_for_takeover(session, conversation, actor.user_id)
    if conversation.first_response_at is None and not as_bot:
        conversation.first_response_at = now
    conversation.last_message_at = now
    conversation.last_message_preview = _preview(body, data.content_kind)
    if not as_bot:  # the customer's messages stay unread for the agent a bot hands over to
        conversation.unread_count = 0
    conversation.waiting_since = None  # answered
    await session.flush()

    if took_it:
        await _changed(session, actor, conversation, "conversation.assigned",
                       {"assignee_id": str(actor.user_id)}, event_kind="assigned",
                       previous_audience=(None, conversation.group_id))

    from invekto.inbox import tasks

    await jobs.defer(session, tasks.deliver_message, tenant_id=str(actor.tenant_id),
                     message_id=str(message.id))
    await _publish(session, conversation, "message.created", {
        "conversation_id": str(conversation.id), "contact_id": str(conversation.contact_id),
        "message_id": str(message.id), "direction": "outbound",
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None})
    return message, True


# WhatsApp's own message types (reply buttons and lists, templates) go only to WhatsApp.
WHATSAPP_KINDS = ("whatsapp_cloud", "whatsapp_bsp")
# Reply buttons and lists (WhatsApp's limits, ``checked_choices``): Telegram draws them as an
# inline keyboard, one button a row.
CHOICE_KINDS = (*WHATSAPP_KINDS, "telegram")


async def _whatsapp_channel(session: AsyncSession, conversation: Conversation, what: str
                            ) -> Channel:
    channel = await session.get_one(Channel, conversation.channel_id)
    if channel.kind not in WHATSAPP_KINDS:
        raise ValidationFailed("%(what)s can only be sent on WhatsApp", field="content_kind",
                               params={"what": what})
    return channel


# ---- starting a conversation -------------------------------------------------------------------

# Where the business may write first: WhatsApp (an approved template unless the customer wrote
# within 24 hours), SMS, Telegram (a chat that has written to the bot: bots cannot find people),
# Messenger and Instagram (only within their window). Phone lines and web chat wait for the
# customer.
STARTABLE_KINDS = (*WINDOWED_KINDS, "telegram", *SMS_KINDS)
# The kinds that reach a customer by phone number alone; the others by the customer's id there.
_BY_PHONE_KINDS = (*WHATSAPP_KINDS, *SMS_KINDS)


def _reaches(channel: Channel, *, has_phone: bool, known_there: bool) -> bool:
    return known_there or (has_phone and channel.kind in _BY_PHONE_KINDS)


async def startable_channels(session: AsyncSession, actor: Actor,
                             contact_id: uuid.UUID | None = None) -> list[Channel]:
    """The company's channels an agent can write first on: to ``contact_id``, or (None) to a
    new phone number."""
    contact = await contacts.get_contact(session, actor, contact_id) if contact_id else None
    known_on = ({i.channel_id for i in await contacts.identities_of(session, actor, contact_id)}
                if contact_id else set())
    return [channel for channel in await channels.list_channels(session, actor)
            if channel.is_active and channel.kind in STARTABLE_KINDS and _reaches(
                channel, has_phone=contact is None or contact.phone is not None,
                known_there=channel.id in known_on)]


async def start_conversation(session: AsyncSession, actor: Actor, *, channel_id: uuid.UUID,
                             message: MessageSend, contact_id: uuid.UUID | None = None,
                             phone: str | None = None) -> tuple[Conversation, Message, bool]:
    """An agent writes first, to a contact or to a phone number (its contact created when new),
    on one of the company's channels. The contact's conversation on that channel that is not
    closed is used if there is one; otherwise one is opened, assigned to the agent (no routing,
    no welcome: the business started it). Returns (conversation, message, created); a repeated
    ``client_message_id`` (a double click) returns the first send, as ``send_message`` does."""
    if message.client_message_id:
        earlier = await session.scalar(select(Message.conversation_id).where(
            Message.tenant_id == actor.tenant_id,
            Message.client_message_id == message.client_message_id))
        if earlier is not None:
            sent, created = await send_message(session, actor, earlier, message)
            return await get_conversation(session, actor, earlier), sent, created
    if (contact_id is None) == (phone is None):
        raise ValidationFailed("give either a contact or a phone number", field="contact_id")
    field = "contact_id" if contact_id else "phone"
    try:
        channel = await channels.get_channel(session, actor, channel_id)
    except NotFound as exc:
        raise ValidationFailed("no such channel", field="channel_id") from exc
    if not channel.is_active or channel.kind not in STARTABLE_KINDS:
        raise ValidationFailed("conversations cannot be started on this channel",
                               field="channel_id")
    if contact_id:
        try:
            contact = await contacts.get_contact(session, actor, contact_id)
        except NotFound as exc:
            raise ValidationFailed("no such contact", field="contact_id") from exc
    else:
        contact = await contact_for_phone(session, actor, phone or "")
    if contact.blocked_at is not None:
        raise Conflict("this contact is blocked; unblock them to write to them", field=field,
                       code="contact_blocked")
    known_there = await contacts.handle_on_channel(session, actor.tenant_id, contact.id,
                                                   channel.id) is not None
    if not _reaches(channel, has_phone=contact.phone is not None, known_there=known_there):
        if channel.kind in _BY_PHONE_KINDS:
            raise ValidationFailed("this contact has no phone number", field=field)
        raise ValidationFailed("this customer has not written on %(channel)s yet; it can "
                               "only answer them", field="channel_id",
                               params={"channel": channel.name})
    if channel.kind in SMS_KINDS and contact.phone and await contacts.sms_opted_out(
            session, actor, contact.phone):
        raise Conflict("%(phone)s has opted out of SMS", field=field, code="sms_opted_out",
                       params={"phone": contact.phone})

    conversation = (await _active_conversations(session, actor.tenant_id, channel.id,
                                                {contact.id: _now()}))[contact.id]
    opened = session.info[_OPENED_CONVERSATIONS]
    if conversation.id in opened:
        opened.discard(conversation.id)  # not for routing: the agent started it
        conversation.assignee_id = actor.user_id
        await _changed(session, actor, conversation, "conversation.started", {
            "channel_id": str(channel.id),
            "assignee_id": str(actor.user_id) if actor.user_id else None},
            event_kind="assigned" if actor.user_id else None)
    elif not await session.scalar(select(exists().where(
            Conversation.tenant_id == actor.tenant_id, Conversation.id == conversation.id,
            visible_clause(actor)))):
        raise Conflict("this contact already has an open conversation on this channel, "
                       "handled by a colleague", field=field, code="conversation_taken")
    if channel.kind in WHATSAPP_KINDS and message.content_kind != "template":
        closes = await reply_window_closes_at(session, conversation)
        if closes is not None and closes <= _now():
            raise Conflict("the customer has not written in the last 24 hours: WhatsApp lets "
                           "a business write first only with an approved template",
                           field="template", code="template_required")
    sent, created = await send_message(session, actor, conversation.id, message)
    return conversation, sent, created


async def sms_length_of(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                        text_: str) -> SmsLength | None:
    """``text_`` as SMS parts on the conversation's channel; None when it is not SMS."""
    conversation = await get_conversation(session, actor, conversation_id)
    channel = await session.get_one(Channel, conversation.channel_id)
    if channel.kind not in SMS_KINDS:
        return None
    return sms_length(clean_text(text_), turkish_shift=channel.kind in TURKISH_SHIFT_KINDS)


async def approved_templates(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                             ) -> list[ProviderTemplate]:
    """The templates the conversation's channel may send (asked of the provider now); none
    for a channel without templates."""
    conversation = await get_conversation(session, actor, conversation_id)
    channel = await session.get_one(Channel, conversation.channel_id)
    return await channel_templates(channel)


async def channel_templates(channel: Channel) -> list[ProviderTemplate]:
    """A synced channel's approved templates from our table (settings → Templates), else as
    the provider lists them now. ``channel`` was loaded in the caller's session."""
    adapter = adapter_for(channel.kind)
    if channel.kind not in WHATSAPP_KINDS or not hasattr(adapter, "list_templates"):
        return []
    session = async_object_session(channel)
    if session is not None and (synced := await templates.approved_for_channel(
            session, channel.tenant_id, channel.id)) is not None:
        return synced
    try:
        return await adapter.list_templates(ChannelAccount(
            kind=channel.kind, external_id=channel.external_id, settings=channel.settings,
            credentials=channels.credentials_of(channel)))
    except TemplatesUnavailable as exc:
        raise UpstreamUnavailable("WhatsApp's list of approved templates could not be read "
                                  "(%(reason)s)", field="template",
                                  params={"reason": str(exc)}) from exc


async def _checked_template(channel: Channel, spec: TemplateSend | None) -> tuple[dict, str]:
    """(payload, body) of a template message: the template approved, every placeholder filled;
    the body is the text as the customer will read it."""
    if spec is None:
        raise ValidationFailed("choose a template", field="template")
    known = next((t for t in await channel_templates(channel)
                  if (t.name, t.language) == (spec.name, spec.language)), None)
    if known is None:
        raise ValidationFailed("there is no approved template %(name)s (%(language)s)",
                               field="template.name",
                               params={"name": spec.name, "language": spec.language})
    values = {key: clean_text(value) for key, value in spec.parameters.items()}
    for placeholder in known.parameters:
        if not values.get(placeholder):
            raise ValidationFailed("fill in {{%(placeholder)s}}",
                                   field=f"template.parameters.{placeholder}",
                                   params={"placeholder": placeholder})
    template: dict = {"name": known.name, "language": known.language}
    if known.parameters:
        template["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": values[p],
             **({} if p.isdigit() else {"parameter_name": p})} for p in known.parameters]}]
    return {"template": template}, fill_template(known.body, values)
# WhatsApp's limits for interactive messages (characters).
_CHOICE_LIMITS = {"body": 1024, "header": 60, "footer": 60, "button": 20, "row": 24,
                  "description": 72, "section": 24}
_MAX_BUTTONS, _MAX_ROWS, _MAX_SECTIONS = 3, 10, 10


def checked_choices(choices: Choices | None, body: str) -> dict:
    """Reply buttons or a list within WhatsApp's limits, each choice with an id its reply will
    carry; the stored, provider-neutral form (the adapter writes WhatsApp's)."""
    if choices is None:
        raise ValidationFailed("add the buttons or the list to send", field="choices")
    _check_length(body, "body", "body")
    result: dict = {"type": choices.type}
    for name in ("header", "footer"):
        if text_ := clean_text(getattr(choices, name) or ""):
            result[name] = _check_length(text_, name, f"choices.{name}")
    seen: set[str] = set()

    def choice(item: Choice, n: int, limit: str, field: str) -> dict:
        title = _check_length(clean_text(item.title), limit, f"{field}.title")
        if not title:
            raise ValidationFailed("a choice has no title", field=f"{field}.title")
        if title.casefold() in seen:
            raise ValidationFailed("two choices are both called '%(title)s'",
                                   field=f"{field}.title", params={"title": title})
        seen.add(title.casefold())
        out = {"id": item.id or f"{limit}-{n}", "title": title}
        if description := clean_text(item.description or ""):
            out["description"] = _check_length(description, "description",
                                               f"{field}.description")
        return out

    if choices.type == "buttons":
        if not 1 <= len(choices.buttons) <= _MAX_BUTTONS:
            raise ValidationFailed("send one to %(max)s buttons", field="choices.buttons",
                                   params={"max": _MAX_BUTTONS})
        result["buttons"] = [choice(b, n, "button", f"choices.buttons.{n}")
                             for n, b in enumerate(choices.buttons, 1)]
        return result
    label = _check_length(clean_text(choices.button or ""), "button", "choices.button")
    if not label:
        raise ValidationFailed("the list needs a button label", field="choices.button")
    rows = sum(len(section.rows) for section in choices.sections)
    if not choices.sections or len(choices.sections) > _MAX_SECTIONS or not 1 <= rows <= _MAX_ROWS:
        raise ValidationFailed("a list has one to %(max)s rows", field="choices.sections",
                               params={"max": _MAX_ROWS})
    if len(choices.sections) > 1 and not all(clean_text(s.title or "") for s in choices.sections):
        raise ValidationFailed("with several sections, each needs a title",
                               field="choices.sections")
    result["button"] = label
    counter = iter(range(1, rows + 1))
    result["sections"] = [
        {**({"title": _check_length(t, "section", f"choices.sections.{s}.title")}
            if (t := clean_text(section.title or "")) else {}),
         "rows": [choice(row, next(counter), "row", f"choices.sections.{s}.rows.{r}")
                  for r, row in enumerate(section.rows)]}
        for s, section in enumerate(choices.sections)]
    return result


def _check_length(text_: str, limit: str, field: str) -> str:
    if len(text_) > _CHOICE_LIMITS[limit]:
        raise ValidationFailed("at most %(max)s characters here", field=field,
                               params={"max": _CHOICE_LIMITS[limit]})
    return text_


async def deliver_outbound(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
                           ) -> str:
    """Phase 1 of a send (the worker's job): claim the message. Returns 'send' when the caller
    should hand it to the provider now, or why not."""
    message = await session.scalar(select(Message).where(
        Message.tenant_id == tenant_id, Message.id == message_id).with_for_update())
    if message is None or message.status != "pending":
        return "done"  # already sent (a job run twice), or the message is gone
    if message.dispatched_at is not None:
        # An earlier attempt died while the provider had the message: it may have gone out.
        # Not resending is the safe side: a customer must never get it twice.
        await _set_status(session, message, "failed", code="delivery_unknown",
                          error="sending was interrupted; check before sending again")
        return "unknown"
    message.dispatched_at = _now()
    return "send"


async def take_recipient_slot(session: AsyncSession, tenant_id: uuid.UUID,
                              message_id: uuid.UUID, interval: float) -> datetime:
    """For a message just claimed (``deliver_outbound``, same transaction): when it may go to
    its recipient, at least ``interval`` seconds after every other message on its channel to its
    conversation that went or is waiting to go (a provider's per-chat cap: Telegram about one a
    second). Kept as its ``dispatched_at``. Jobs for one conversation take turns on a
    transaction-scoped lock, so each one sees the times taken before it."""
    message = await session.scalar(select(Message).where(
        Message.tenant_id == tenant_id, Message.id == message_id))
    assert message is not None and message.dispatched_at is not None, "claim it first"
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"recipient:{message.conversation_id}"})
    now = _now()
    previous = await session.scalar(select(func.max(Message.dispatched_at)).where(
        Message.tenant_id == tenant_id, Message.conversation_id == message.conversation_id,
        Message.channel_id == message.channel_id, Message.direction == "outbound",
        Message.id != message.id,
        Message.dispatched_at > now - timedelta(seconds=interval)))
    message.dispatched_at = pacing.recipient_slot(previous, now, interval)
    await session.flush()
    return message.dispatched_at


@dataclasses.dataclass(frozen=True)
class OutboundRequest:
    """What the outbound job needs for a claimed message; the file's bytes are read with
    ``with_file``, outside the transaction."""

    kind: str
    channel_id: uuid.UUID
    account: ChannelAccount
    message: OutboundMessage
    attachment: Attachment | None


async def outbound_request(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID,
                           *, public_url: str | None = None) -> OutboundRequest:
    """What the provider adapter needs for a claimed message. ``public_url``: where providers
    reach this app, for the callbacks a send asks for (the channel's webhook)."""
    message = await session.get_one(Message, message_id)
    attachment = (await session.get(Attachment, message.attachment_id)
                  if message.attachment_id else None)
    system = Actor.system(tenant_id)
    channel = await channels.get_channel(session, system, message.channel_id)
    contact = await contacts.get_contact(session, system, message.contact_id)
    handle = await contacts.handle_on_channel(session, tenant_id, contact.id, channel.id)
    path = channels.webhook_path(channel)
    account = ChannelAccount(kind=channel.kind, external_id=channel.external_id,
                             settings=channel.settings,
                             credentials=channels.credentials_of(channel),
                             webhook_url=public_url.rstrip("/") + path
                             if public_url and path else None)
    return OutboundRequest(channel.kind, channel.id, account, OutboundMessage(
        message_id=message.id, recipient_handle=handle or contact.phone or "",
        recipient_phone=contact.phone, content_kind=message.content_kind, body=message.body,
        payload=message.payload), attachment)


async def with_file(storage: Storage, outbound: OutboundMessage,
                    attachment: Attachment | None) -> OutboundMessage:
    """``outbound`` carrying its file's bytes, for the adapter to upload."""
    if attachment is None:
        return outbound
    return dataclasses.replace(outbound, attachment=OutboundFile(
        data=await storage.get(attachment.storage_key), mime_type=attachment.content_type,
        filename=attachment.filename))


async def record_send_result(session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID,
                             result: Sent | TemporaryFailure | PermanentFailure | None) -> None:
    """Phase 2: store what the provider said. A temporary failure un-claims the message so the
    job's retry sends it again."""
    message = await session.scalar(select(Message).where(
        Message.tenant_id == tenant_id, Message.id == message_id).with_for_update())
    if message is None or message.status != "pending":
        return
    if isinstance(result, Sent):
        # The provider's echo of this very message may have been ingested first (Messenger,
        # Instagram): this message is the one to keep.
        await session.execute(delete(Message).where(
            Message.tenant_id == tenant_id, Message.channel_id == message.channel_id,
            Message.provider_message_id == result.provider_message_id,
            Message.id != message.id, Message.payload.contains({"echo": True})))
        message.provider_message_id = result.provider_message_id
        await _set_status(session, message, "sent")
        await _apply_backlog(session, message)
    elif isinstance(result, TemporaryFailure):
        message.dispatched_at = None
    elif isinstance(result, PermanentFailure):
        await _set_status(session, message, "failed", code=result.code, error=result.message)
    else:
        await _set_status(session, message, "failed", code="channel_not_supported",
                          error="sending on this channel kind is not available yet")


async def stored_provider_ids(session: AsyncSession, tenant_id: uuid.UUID,
                              channel_id: uuid.UUID, provider_ids: list[str]) -> set[str]:
    """Which of these provider message ids the channel already has."""
    return set((await session.scalars(select(Message.provider_message_id).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.provider_message_id == any_(provider_ids)))).all())


async def awaiting_delivery(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                            *, since: datetime, limit: int) -> list[str]:
    """Provider ids of the channel's messages sent since ``since`` whose fate is not known yet
    (status ``sent``), newest first: what a provider that does not push statuses (Netgsm) is
    asked about."""
    return list((await session.scalars(select(Message.provider_message_id).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.direction == "outbound", Message.status == "sent",
        Message.provider_message_id.is_not(None), Message.created_at >= since,
    ).order_by(Message.created_at.desc(), Message.id).limit(limit))).all())


async def apply_provider_status(session: AsyncSession, tenant_id: uuid.UUID, *,
                                channel_id: uuid.UUID, provider_message_id: str, status: str,
                                error_code: str | None = None, error: str | None = None) -> None:
    """A provider's status webhook. One for a message we cannot match yet (it overtook our own
    send call's answer) waits in the backlog until the send's result is recorded."""
    message = await update_delivery_status(
        session, tenant_id, channel_id=channel_id, provider_message_id=provider_message_id,
        status=status, error_code=error_code, error=error)
    if message is None:
        session.add(StatusBacklog(tenant_id=tenant_id, channel_id=channel_id,
                                  provider_message_id=provider_message_id, status=status,
                                  error_code=error_code, error_message=error))
        await session.flush()


# A status waits this long for its message (the send's answer is seconds away at most).
KEEP_BACKLOG = timedelta(days=7)


async def prune_status_backlog(session: AsyncSession) -> int:
    result = await session.execute(delete(StatusBacklog).where(
        StatusBacklog.created_at < func.now() - KEEP_BACKLOG))
    return result.rowcount


async def _apply_backlog(session: AsyncSession, message: Message) -> None:
    waiting = list((await session.scalars(select(StatusBacklog).where(
        StatusBacklog.tenant_id == message.tenant_id,
        StatusBacklog.channel_id == message.channel_id,
        StatusBacklog.provider_message_id == message.provider_message_id))).all())
    for early in sorted(waiting, key=lambda row: _STATUS_ORDER[row.status]):
        await update_delivery_status(
            session, message.tenant_id, channel_id=message.channel_id,
            provider_message_id=early.provider_message_id, status=early.status,
            error_code=early.error_code, error=early.error_message)
        await session.delete(early)


async def update_delivery_status(session: AsyncSession, tenant_id: uuid.UUID, *,
                                 channel_id: uuid.UUID, provider_message_id: str, status: str,
                                 error_code: str | None = None, error: str | None = None
                                 ) -> Message | None:
    """A provider's status callback. Out-of-order and repeated callbacks change nothing."""
    message = await session.scalar(select(Message).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.provider_message_id == provider_message_id).with_for_update())
    if message is None:
        return None
    if _STATUS_ORDER[status] > _STATUS_ORDER[message.status] or (
            status == "failed" and message.status != "failed"):
        await _set_status(session, message, status, code=error_code, error=error)
    return message


async def _set_status(session: AsyncSession, message: Message, status: str, *,
                      code: str | None = None, error: str | None = None) -> None:
    message.status = status
    message.status_changed_at = _now()
    if status == "failed":
        message.error_code = code
        message.error_message = error
    await session.flush()
    conversation = await session.get_one(Conversation, message.conversation_id)
    await _publish(session, conversation, "message.status", {
        "conversation_id": str(message.conversation_id),
        "contact_id": str(message.contact_id), "message_id": str(message.id),
        "status": status, "error_code": code})


def _preview(body: str, content_kind: str) -> str:
    if body:
        return body[:_PREVIEW_LENGTH]
    return "📞" if content_kind == "call" else f"[{content_kind}]"


# ---- ingest ------------------------------------------------------------------------------------

async def receive_inbound(session: AsyncSession, tenant_id: uuid.UUID, inbound: InboundMessage
                          ) -> tuple[Message, bool]:
    """Store one customer message (see ``receive_inbound_batch``); returns it and whether it is
    new (False: a retried webhook, the stored message is returned)."""
    created = await receive_inbound_batch(session, tenant_id, inbound.channel_id, [inbound])
    message = await session.scalar(select(Message).where(
        Message.tenant_id == tenant_id, Message.channel_id == inbound.channel_id,
        Message.provider_message_id == inbound.provider_message_id))
    assert message is not None
    return message, bool(created)


async def receive_inbound_batch(session: AsyncSession, tenant_id: uuid.UUID,
                                channel_id: uuid.UUID, inbounds: list[InboundMessage]
                                ) -> set[str]:
    """Store customers' messages on one channel: contacts, conversations (opened where none is
    active), messages, live events, in a fixed number of statements however many there are.
    Idempotent on the provider's message id: a message already stored (a retried webhook, a
    repeat within the batch) is left alone. Returns the provider ids this call stored."""
    assert all(i.channel_id == channel_id for i in inbounds), "one channel per batch"
    stored = await stored_provider_ids(session, tenant_id, channel_id,
                                       [i.provider_message_id for i in inbounds])
    fresh: dict[str, InboundMessage] = {}
    for inbound in inbounds:
        if inbound.provider_message_id not in stored:
            fresh.setdefault(inbound.provider_message_id, inbound)
    if not fresh:
        return set()
    return await _store_inbound(session, tenant_id, channel_id, list(fresh.values()))


async def _store_inbound(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                         inbounds: list[InboundMessage]) -> set[str]:
    """Insert messages not stored yet; returns the provider ids this call inserted (another
    worker may have inserted some of them concurrently)."""
    senders = await contacts.find_or_create_senders(session, tenant_id, channel_id, [
        contacts.ChannelSender(i.handle, i.phone, i.contact_name) for i in inbounds])
    now = _now()
    at = {i.provider_message_id: i.sent_at or now for i in inbounds}
    inbounds = sorted(inbounds, key=lambda i: at[i.provider_message_id])
    # Scores answering a satisfaction survey are kept (follow_ups); a message that is just the
    # score goes into the surveyed conversation, which stays closed: it opens nothing.
    from invekto.follow_ups import service as follow_ups  # local: it sends through us

    answers = await follow_ups.survey_answers(session, tenant_id, channel_id, inbounds, {
        i.provider_message_id: senders[i.handle].id for i in inbounds}, at)
    surveyed = {pid: answer.conversation_id for pid, answer in answers.items()
                if answer.score_only}
    first_message_at: dict[uuid.UUID, datetime] = {}
    for inbound in inbounds:
        if inbound.provider_message_id not in surveyed:
            first_message_at.setdefault(senders[inbound.handle].id,
                                        at[inbound.provider_message_id])
    conversations = await _active_conversations(
        session, tenant_id, channel_id, first_message_at) if first_message_at else {}
    rows = []
    for inbound in inbounds:
        contact_id = senders[inbound.handle].id
        rows.append({
            "id": new_id(), "tenant_id": tenant_id, "channel_id": channel_id,
            "conversation_id": surveyed.get(inbound.provider_message_id)
            or conversations[contact_id].id, "contact_id": contact_id,
            "direction": "inbound", "sender_kind": "contact",
            "content_kind": inbound.content_kind, "body": inbound.body,
            "payload": inbound.payload, "attachment_id": inbound.attachment_id,
            "provider_message_id": inbound.provider_message_id, "status": "delivered",
            "created_at": at[inbound.provider_message_id]})
    # An executemany of one cached statement (see contacts.find_or_create_senders).
    inserted = set((await session.scalars(insert(Message.__table__).on_conflict_do_nothing(
        index_elements=["tenant_id", "channel_id", "provider_message_id"]
    ).returning(Message.provider_message_id), rows)).all())
    kind = (await session.get_one(Channel, channel_id)).kind
    campaigns = await chat_links.campaigns_in(session, tenant_id, [
        i.body for i in inbounds if i.provider_message_id in inserted]
    ) if kind in chat_links.WHATSAPP_KINDS else {}
    events = []
    # A blocked contact's messages are kept, quietly: no live event, no unread count, no
    # routing (see ``set_blocked``).
    blocked = {contact.id for contact in senders.values() if contact.blocked_at is not None}
    for inbound, row in zip(inbounds, rows, strict=True):
        if (inbound.provider_message_id not in inserted or row["contact_id"] in blocked
                or inbound.provider_message_id in surveyed):
            continue  # the same event, ingested concurrently by another worker; or blocked
        conversation = conversations[row["contact_id"]]
        _note_inbound(conversation, inbound, row["created_at"])
        link = campaigns.get(chat_links.reference_of(inbound.body) or "")
        if link is not None and conversation.referral is None:  # a click-to-chat campaign
            conversation.referral = {"source": "click_to_chat", "ref": link.code,
                                     "campaign": link.name, "link_id": str(link.id)}
        events.append(_event(conversation, "message.created", {
            "conversation_id": str(conversation.id), "contact_id": str(conversation.contact_id),
            "message_id": str(row["id"]), "direction": "inbound",
            "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None}))
    await contacts.touch_activity(session, tenant_id, {
        row["contact_id"] for row in rows if row["provider_message_id"] in inserted})
    if kind in SMS_KINDS:
        await contacts.record_sms_opt_outs(session, tenant_id, {
            phone: word for inbound in inbounds
            if inbound.provider_message_id in inserted
            and (word := opt_out_word(inbound.body))
            and (phone := senders[inbound.handle].phone)})
    # Keywords withdraw (İPTAL, STOP...) or give (KATIL) marketing consent on any channel
    # (local import: the consent domain records through campaigns, which send through us).
    from invekto.consent import service as consent

    await consent.on_inbound(session, tenant_id, channel_id, kind, [
        consent.Inbound(senders[inbound.handle], row["id"], inbound.body, row["created_at"])
        for inbound, row in zip(inbounds, rows, strict=True)
        if row["provider_message_id"] in inserted])
    await session.flush()
    await follow_ups.record_survey_answers(session, tenant_id, [
        (answers[row["provider_message_id"]], row["id"], row["created_at"]) for row in rows
        if row["provider_message_id"] in inserted and row["provider_message_id"] in answers])
    await follow_ups.stop_on_reply(session, tenant_id, {
        row["conversation_id"] for row in rows if row["provider_message_id"] in inserted})
    await _note_campaign_replies(session, tenant_id, channel_id, [
        row for row in rows if row["provider_message_id"] in inserted
        and row["contact_id"] not in blocked])
    await realtime.publish_many(session, events)
    opened = [conversation for conversation in {c.id: c for c in conversations.values()}.values()
              if conversation.id in session.info.get(_OPENED_CONVERSATIONS, ())
              and conversation.contact_id not in blocked]
    fresh = [row for inbound, row in zip(inbounds, rows, strict=True)
             if row["provider_message_id"] in inserted and row["contact_id"] not in blocked
             and inbound.provider_message_id not in surveyed]
    # A chatbot flow may take the conversation: it answers instead of the welcome, and
    # routing waits for its handoff (local import: flows send through this module).
    from invekto.flows import service as flows

    opened_ids = {c.id for c in opened}
    first_rows: set[uuid.UUID] = set()
    for row in fresh:
        if row["conversation_id"] in opened_ids and row["conversation_id"] not in first_rows:
            first_rows.add(row["id"])
            opened_ids.discard(row["conversation_id"])
    held = await flows.on_inbound(session, tenant_id, channel_id, [flows.Inbound(
        conversations[row["contact_id"]], row["id"], row["body"], row["payload"] or {},
        opened=row["id"] in first_rows) for row in fresh])
    # On its channels the AI answers the rest first (it defers its answers): they get the
    # welcome, and routing waits for its hand-off (local import: ai reads our models).
    from invekto.ai import auto_answer

    answered = await auto_answer.on_inbound(session, tenant_id, channel_id, [
        auto_answer.Inbound(conversations[row["contact_id"]], row["id"], row["body"],
                            opened=row["id"] in first_rows)
        for row in fresh if row["conversation_id"] not in held])
    humans = [c for c in opened if c.id not in held]
    closed = await _greet_opened(session, tenant_id, channel_id, humans)
    await sla.set_due_times(session, tenant_id, opened)
    session.info[_OPENED_CONVERSATIONS] = (
        session.info.get(_OPENED_CONVERSATIONS, set()) - {c.id for c in opened})
    await _route(session, tenant_id, channel_id,
                 [c for c in humans if c.id not in answered], group_for={
        conversation_id: group for conversation_id, group in closed.items()
        if group is not None})
    await _emit_received(session, tenant_id, senders, fresh, first_rows,
                         {c.id: c for c in opened})
    return inserted


async def offer_waiting(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *,
                        now: datetime | None = None) -> int:
    """An agent became available (came online, back from away, finished a conversation): give
    them the waiting conversations of their groups' queues, most urgent and longest waiting
    first, while they can take more. Returns how many they got."""
    given = 0
    system = Actor.system(tenant_id)
    agent = await routing.agent_state(session, tenant_id, user_id, at=now)
    while agent is not None and agent.available:
        conversation = await routing.next_waiting(session, tenant_id, user_id)
        if conversation is None:
            break
        previous = (conversation.assignee_id, conversation.group_id)
        conversation.assignee_id = user_id
        await _changed(session, system, conversation, "conversation.assigned", {
            "assignee_id": str(user_id), "reason": "queue"},
            event_kind="assigned", previous_audience=previous, audit_it=False)
        agent = routing.one_more(agent)
        given += 1
    return given


async def idle_conversations(session: AsyncSession, *, now: datetime | None = None,
                             only: uuid.UUID | None = None, limit: int = 500
                             ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, conversation) of assigned conversations whose customer has waited longer than
    their channel's ``idle_minutes`` with the same agent (none assigned it to them within that
    time). System scope: the periodic job's list."""
    operations = ChannelOperations
    idle_for = func.make_interval(0, 0, 0, 0, 0, operations.idle_minutes)
    cutoff = (now or _now()) - idle_for
    recently_assigned = exists().where(
        ConversationEvent.tenant_id == Conversation.tenant_id,
        ConversationEvent.contact_id == Conversation.contact_id,
        ConversationEvent.conversation_id == Conversation.id,
        ConversationEvent.kind.in_(("assigned", "transferred", "takeover")),
        ConversationEvent.created_at > cutoff)
    return [(tenant, conversation) for tenant, conversation in (await session.execute(
        select(Conversation.tenant_id, Conversation.id).join(operations, and_(
            operations.tenant_id == Conversation.tenant_id,
            operations.channel_id == Conversation.channel_id)).where(
            operations.idle_minutes.is_not(None), Conversation.status == "open",
            Conversation.assignee_id.is_not(None), Conversation.waiting_since < cutoff,
            ~recently_assigned, *([Conversation.id == only] if only else []))
        .order_by(Conversation.waiting_since).limit(limit))).all()]


async def reassign_idle(session: AsyncSession, tenant_id: uuid.UUID,
                        conversation_id: uuid.UUID, *, now: datetime | None = None) -> bool:
    """Give a conversation whose agent left the customer waiting too long to another agent of
    the channel's routing, and tell both. False when it is no longer idle (answered, moved,
    closed since it was listed: checked again under its lock) or nobody else can take it."""
    conversation = await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    ).with_for_update(skip_locked=True))
    if conversation is None or conversation.assignee_id is None or (
            conversation.status != "open") or conversation.waiting_since is None:
        return False
    if not await idle_conversations(session, now=now, only=conversation_id):
        return False
    idle_agent = conversation.assignee_id
    chosen = await routing.choose_other(session, tenant_id, conversation.channel_id,
                                        exclude={idle_agent})
    if chosen is None:
        return False
    previous = (conversation.assignee_id, conversation.group_id)
    conversation.assignee_id = chosen
    await _changed(session, Actor.system(tenant_id), conversation, "conversation.assigned", {
        "assignee_id": str(chosen), "reason": "idle", "from_user_id": str(idle_agent)},
        event_kind="assigned", previous_audience=previous, audit_it=False, at=now)
    for user_id, kind in ((idle_agent, "idle_taken"), (chosen, "idle_given")):
        await _notify(session, tenant_id, user_id, kind, conversation)
    await _offer_freed(session, tenant_id, idle_agent)
    return True


async def _notify(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, kind: str,
                  conversation: Conversation) -> None:
    """A notification for one agent about a conversation (not a mention: no note)."""
    notification = Notification(tenant_id=tenant_id, user_id=user_id, kind=kind,
                                conversation_id=conversation.id)
    session.add(notification)
    await session.flush()
    await realtime.publish(session, realtime.Event(
        tenant_id=tenant_id, type="notified", user_id=user_id, data={
            "notification_id": str(notification.id), "kind": kind,
            "conversation_id": str(conversation.id)}))


async def quiet_conversations(session: AsyncSession, *, now: datetime | None = None,
                              only: uuid.UUID | None = None, limit: int = 500
                              ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, conversation) of open or pending conversations whose customer has not written
    for their channel's ``auto_close_hours`` (``auto_close_pending_hours`` when pending).
    System scope: the periodic job's list."""
    operations = ChannelOperations
    last_customer = select(func.max(Message.created_at)).where(
        Message.tenant_id == Conversation.tenant_id,
        Message.conversation_id == Conversation.id,
        Message.direction == "inbound").correlate(Conversation).scalar_subquery()
    quiet_since = func.coalesce(last_customer, Conversation.opened_at)
    hours = case((Conversation.status == "pending", operations.auto_close_pending_hours),
                 else_=operations.auto_close_hours)
    return [(tenant, conversation) for tenant, conversation in (await session.execute(
        select(Conversation.tenant_id, Conversation.id).join(operations, and_(
            operations.tenant_id == Conversation.tenant_id,
            operations.channel_id == Conversation.channel_id)).where(
            Conversation.status.in_(("open", "pending")), hours.is_not(None),
            quiet_since < (now or _now()) - func.make_interval(0, 0, 0, 0, hours),
            *([Conversation.id == only] if only else []))
        .order_by(Conversation.last_message_at).limit(limit))).all()]


async def auto_close(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
                     *, now: datetime | None = None) -> bool:
    """Close a conversation that went quiet, with the channel's closing message first; False
    when the customer wrote (or someone closed it) since it was listed."""
    locked = await session.scalar(select(Conversation.id).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    ).with_for_update(skip_locked=True))
    if locked is None or not await quiet_conversations(session, now=now, only=conversation_id):
        return False
    system = Actor.system(tenant_id)
    conversation = await get_conversation(session, system, conversation_id)
    operations = await routing.operations_of(session, tenant_id, conversation.channel_id)
    if operations is not None and operations.closing_message and not await contacts.is_blocked(
            session, tenant_id, conversation.contact_id):
        await _send_automatic(session, conversation, operations.closing_message)
    await close(session, system, conversation_id, reason="auto_close")
    return True


async def escalate_breaches(session: AsyncSession, tenant_id: uuid.UUID,
                            conversation_id: uuid.UUID, *, now: datetime | None = None) -> int:
    """Record the SLA targets the conversation has missed (once each), tell the supervisors,
    and escalate as its policy says: to another agent, a tag, or a higher priority. Returns
    how many breaches were new."""
    now = now or _now()
    conversation = await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
    ).with_for_update(skip_locked=True))
    if conversation is None or conversation.status == "closed":
        return 0
    missed, policy = await sla.record_breaches(session, tenant_id, conversation, now)
    if not missed:
        return 0
    system = Actor.system(tenant_id)
    for supervisor_id in await roles.user_ids_with(session, tenant_id, Permission.SUPERVISE):
        await _notify(session, tenant_id, supervisor_id, "sla_breach", conversation)
    escalation = policy.escalation if policy else "notify"
    if escalation == "reassign" and conversation.assignee_id is not None:
        chosen = await routing.choose_other(session, tenant_id, conversation.channel_id,
                                            exclude={conversation.assignee_id}, at=now)
        if chosen is not None:
            previous = (conversation.assignee_id, conversation.group_id)
            conversation.assignee_id = chosen
            await _changed(session, system, conversation, "conversation.assigned", {
                "assignee_id": str(chosen), "reason": "sla", "from_user_id": str(previous[0])},
                event_kind="assigned", previous_audience=previous, audit_it=False, at=now)
            await _offer_freed(session, tenant_id, previous[0])
    elif escalation == "tag" and policy.escalation_tag:
        await change_tags(session, system, conversation.id, add=[policy.escalation_tag],
                          remove=[], create_missing=True)
    elif escalation == "priority":
        raised = PRIORITIES[min(PRIORITIES.index(conversation.priority) + 1,
                                len(PRIORITIES) - 1)]
        await set_priority(session, system, conversation.id, raised)
    return len(missed)


async def _offer_freed(session: AsyncSession, tenant_id: uuid.UUID,
                       user_id: uuid.UUID | None) -> None:
    """``user_id`` has one conversation fewer: the queue may have one for them (a job, after
    this transaction commits)."""
    if user_id is not None:
        from invekto.inbox import tasks

        await jobs.defer(session, tasks.offer_waiting, queueing_lock=f"offer:{user_id}",
                         tenant_id=str(tenant_id), user_id=str(user_id))


async def text_values(session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                      agent_id: uuid.UUID | None = None) -> variables.Values:
    """What a company's text (a quick reply, an automatic message) says about one customer,
    the agent writing (if any) and the company."""
    contact = await session.get_one(Contact, contact_id)
    agent = await session.get(User, agent_id) if agent_id else None
    tenant = await session.get_one(Tenant, tenant_id)
    return variables.Values(
        contact_name=contact.name, contact_phone=contact.phone or "",
        contact_email=contact.email or "", custom=dict(contact.custom_fields or {}),
        agent_name=agent.display_name if agent else "", company_name=tenant.name,
        today=variables.today_text(datetime.now(ZoneInfo(tenant.timezone)).date()),
        language=tenant.default_language)


async def _send_automatic(session: AsyncSession, conversation: Conversation, text_: str
                          ) -> None:
    """A message the company set up (welcome, away, closing), its variables filled."""
    await send_automatic(session, conversation, MessageSend(body=text_))


async def send_automatic(session: AsyncSession, conversation: Conversation, data: MessageSend,
                         *, as_bot: bool = False,
                         event_texts: Callable[[str], dict[str, dict[str, Any]]] | None = None
                         ) -> Message:
    """A message the company set up, sent by nobody in person, its text's variables filled
    (and its template parameters'); unlike a reply it may go into a closed conversation
    (follow-ups and surveys after a close). ``as_bot``: a chatbot flow's. ``event_texts``:
    what the event behind it offers the text (an order's number), in the company's language."""
    values = await text_values(session, conversation.tenant_id, conversation.contact_id,
                               conversation.assignee_id)
    if event_texts is not None:
        values = dataclasses.replace(values, extra=event_texts(values.language))
    filled = {"body": variables.render(data.body, values)}
    if data.template is not None:
        filled["template"] = data.template.model_copy(update={"parameters": {
            key: variables.render(value, values)
            for key, value in data.template.parameters.items()}})
    message, _ = await send_message(session, Actor.system(conversation.tenant_id),
                                    conversation.id, data.model_copy(update=filled),
                                    after_close=True, as_bot=as_bot)
    return message


async def _greet_opened(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                        opened: list[Conversation]) -> dict[uuid.UUID, uuid.UUID | None]:
    """The first answer to each customer whose message opened a conversation: outside business
    hours the away message, otherwise the channel's welcome (one for first-time customers,
    another for those who have written before). Returns the conversations opened outside
    hours, with the after-hours group (or None) their routing should use."""
    if not opened:
        return {}
    operations = await routing.operations_of(session, tenant_id, channel_id)
    returning = set((await session.scalars(select(Conversation.contact_id).where(
        Conversation.tenant_id == tenant_id,
        Conversation.contact_id.in_([c.contact_id for c in opened]),
        Conversation.id.not_in([c.id for c in opened])).distinct())).all())
    closed: dict[uuid.UUID, uuid.UUID | None] = {}
    # When the customers wrote (the provider's time), not when we ingested it.
    found = await routing.openings(session, tenant_id, channel_id,
                                   [c.opened_at for c in opened])
    for conversation, opening in zip(opened, found, strict=True):
        if not opening.open:
            closed[conversation.id] = opening.after_hours_group_id
            text_ = opening.away_message
        elif operations is None:
            continue
        else:
            text_ = (operations.welcome_returning if conversation.contact_id in returning
                     else operations.welcome_new)
        if text_:
            await _send_automatic(session, conversation, text_)
    return closed


async def route_to_humans(session: AsyncSession, conversation: Conversation, *,
                          group_id: uuid.UUID | None = None) -> None:
    """A chatbot hands the conversation over (its handoff step, the customer's escape word):
    the conversation goes to ``group_id`` (else the channel's routing decides) and waits for
    an agent from now, like one just opened. One already assigned stays with its agent."""
    conversation.held_by_bot = False
    if conversation.waiting_since is None:
        conversation.waiting_since = _now()
    if conversation.assignee_id is not None:
        if group_id is not None and group_id != conversation.group_id:
            previous = (conversation.assignee_id, conversation.group_id)
            conversation.group_id = group_id
            await _changed(session, Actor.system(conversation.tenant_id), conversation,
                           "conversation.transferred", {
                               "user_id": str(conversation.assignee_id),
                               "group_id": str(group_id), "reason": "bot"},
                           event_kind="transferred", previous_audience=previous,
                           audit_it=False)
        return
    await _route(session, conversation.tenant_id, conversation.channel_id, [conversation],
                 group_for={conversation.id: group_id} if group_id else {})


async def _route(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                 opened: list[Conversation], *, group_for: dict[uuid.UUID, uuid.UUID]) -> None:
    """Give conversations waiting for their first agent to agents, as the channel's routing
    decides (see ``routing.service``); those nobody can take wait in the group's queue.
    ``group_for``: a group chosen for some of them (after hours, a bot's handoff)."""
    if not opened:
        return
    by_id = {c.id: c for c in opened}
    system = Actor.system(tenant_id)
    for decision in await routing.decide(
            session, tenant_id, channel_id, sorted(opened, key=lambda c: (c.opened_at, c.id)),
            group_for=group_for):
        conversation = by_id[decision.conversation_id]
        previous = (conversation.assignee_id, conversation.group_id)
        conversation.group_id = conversation.group_id or decision.group_id
        if decision.user_id is not None:
            conversation.assignee_id = decision.user_id
            await _changed(session, system, conversation, "conversation.assigned", {
                "assignee_id": str(decision.user_id), "reason": decision.reason},
                event_kind="assigned", previous_audience=previous, audit_it=False)
            await _emit_assigned(session, conversation, decision.reason)
            continue
        await _changed(session, system, conversation, "conversation.transferred", {
            "user_id": None, "group_id": str(conversation.group_id), "reason": "queue"},
            event_kind="transferred", previous_audience=previous, audit_it=False)
        if decision.away_message:
            await _send_automatic(session, conversation, decision.away_message)


async def _note_campaign_replies(session: AsyncSession, tenant_id: uuid.UUID,
                                 channel_id: uuid.UUID, rows: list[dict]) -> None:
    """Customers answering a broadcast: their recipient turns "replied", the conversation
    carries the campaign's tag (before its SLA is set: a tag may choose the policy) and the
    campaign's message in its thread, and the campaign's follow-up sequences may start."""
    from invekto.campaigns import service as broadcasts  # local: campaigns read the inbox
    from invekto.follow_ups import service as follow_ups

    for reply in await broadcasts.note_replies(session, tenant_id, channel_id, [
            (row["contact_id"], row["conversation_id"], row["created_at"]) for row in rows]):
        conversation = await session.get_one(Conversation, reply.conversation_id)
        if reply.reply_tag not in conversation.tags:
            conversation.tags = [*conversation.tags, reply.reply_tag]
        # The thread shows what the campaign said, where it was said, before the answer.
        session.add(ConversationEvent(
            tenant_id=tenant_id, conversation_id=conversation.id,
            contact_id=conversation.contact_id, kind="campaign", created_at=reply.sent_at,
            data={"campaign": reply.campaign_name, "campaign_id": str(reply.campaign_id),
                  "body": reply.body}))
        await follow_ups.trigger(session, tenant_id, "campaign_replied", conversation.id,
                                 campaign_id=reply.campaign_id)
        await _emit(session, _conversation_event("campaign_replied", conversation, {
            "campaign_id": str(reply.campaign_id)}))


# ---- automation events (rules: ``automation.service``) ---------------------------------------

def _conversation_event(kind: str, conversation: Conversation, data: dict | None = None,
                        *, message_id: uuid.UUID | None = None) -> Event:
    return Event(kind, conversation.tenant_id, conversation_id=conversation.id,
                 contact_id=conversation.contact_id, message_id=message_id, data=data or {})


async def _emit(session: AsyncSession, *events: Event) -> None:
    if events:
        from invekto.automation import service as automation  # local: its actions call us

        await automation.emit(session, list(events))


async def _emit_assigned(session: AsyncSession, conversation: Conversation, reason: str
                         ) -> None:
    await _emit(session, _conversation_event("conversation_assigned", conversation, {
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        "group_id": str(conversation.group_id) if conversation.group_id else None,
        "reason": reason}))


async def _emit_received(session: AsyncSession, tenant_id: uuid.UUID,
                         senders: dict[str, Contact], rows: list[dict],
                         first_rows: set[uuid.UUID], opened: dict[uuid.UUID, Conversation]
                         ) -> None:
    """An ingested batch's events for rules, in the order the customers wrote: contacts
    created by it, conversations it opened, each new message."""
    # A contact this batch created also opened its first conversation in it: only then is
    # the transaction's start worth a query (a new contact's created_at).
    may_be_new = {c.contact_id for c in opened.values()}
    started = await session.scalar(select(func.now())) if may_be_new else None
    events = [Event("contact_created", tenant_id, contact_id=contact.id)
              for contact in {c.id: c for c in senders.values()}.values()
              if contact.id in may_be_new and contact.created_at == started]
    for row in rows:
        if row["id"] in first_rows:
            events.append(_conversation_event("conversation_opened",
                                              opened[row["conversation_id"]]))
        events.append(Event("message_received", tenant_id,
                            conversation_id=row["conversation_id"],
                            contact_id=row["contact_id"], message_id=row["id"],
                            data={"first_message": row["id"] in first_rows}))
    await _emit(session, *events)


def _note_inbound(conversation: Conversation, inbound: InboundMessage, at: datetime) -> None:
    """What a customer's new message changes on its conversation."""
    if conversation.status == "pending":
        conversation.status = "open"  # the customer answered (or wrote while snoozed)
        conversation.snoozed_until = None
    if at >= conversation.last_message_at:
        conversation.last_message_at = at
        conversation.last_message_preview = _preview(inbound.body, inbound.content_kind)
    conversation.unread_count += 1
    if conversation.waiting_since is None:
        conversation.waiting_since = at
    if inbound.referral and conversation.referral is None:
        conversation.referral = inbound.referral


async def _active_conversations(session: AsyncSession, tenant_id: uuid.UUID,
                                channel_id: uuid.UUID, opened_at: dict[uuid.UUID, datetime]
                                ) -> dict[uuid.UUID, Conversation]:
    """Each contact's open or pending conversation on the channel (by contact), opened where
    there is none, locked in id order (two batches never deadlock). The partial unique index
    settles races between two first messages."""
    opened = set((await session.scalars(insert(Conversation.__table__).on_conflict_do_nothing(
        index_elements=["tenant_id", "contact_id", "channel_id"],
        # A literal, not a bound parameter: once psycopg prepares the statement, a parameter
        # no longer matches the partial index.
        index_where=text("status <> 'closed'")).returning(Conversation.id), [
        {"id": new_id(), "tenant_id": tenant_id, "contact_id": contact_id,
         "channel_id": channel_id, "status": "open", "opened_at": at, "last_message_at": at}
        for contact_id, at in sorted(opened_at.items())])).all())  # key order: no deadlocks
    session.info.setdefault(_OPENED_CONVERSATIONS, set()).update(opened)
    found = (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.channel_id == channel_id,
        Conversation.contact_id == any_(list(opened_at)), Conversation.status != "closed"
    ).order_by(Conversation.id).with_for_update().execution_options(populate_existing=True)
    )).all()
    return {conversation.contact_id: conversation for conversation in found}


async def record_echo(session: AsyncSession, tenant_id: uuid.UUID, echo: InboundMessage) -> bool:
    """A message the business sent its customer from elsewhere (Meta Business Suite, the Page's
    own inbox), kept in the thread as a sent outbound message. Our own sends echo back too: one
    whose provider id is already stored is left alone. True when it was new."""
    if await stored_provider_ids(session, tenant_id, echo.channel_id,
                                 [echo.provider_message_id]):
        return False
    # A phone (an outbound call's number) finds the customer's contact from other channels.
    contact = (await contacts.find_or_create_senders(
        session, tenant_id, echo.channel_id, [contacts.ChannelSender(echo.handle, echo.phone)]
    ))[echo.handle]
    at = echo.sent_at or _now()
    conversation = (await _active_conversations(session, tenant_id, echo.channel_id,
                                                {contact.id: at}))[contact.id]
    message_id = await session.scalar(insert(Message).values(
        id=new_id(), tenant_id=tenant_id, conversation_id=conversation.id,
        contact_id=contact.id, channel_id=echo.channel_id, direction="outbound",
        sender_kind="agent", content_kind=echo.content_kind, body=echo.body,
        payload={**echo.payload, "echo": True}, attachment_id=echo.attachment_id,
        provider_message_id=echo.provider_message_id, status="sent", created_at=at,
    ).on_conflict_do_nothing(
        index_elements=["tenant_id", "channel_id", "provider_message_id"]).returning(Message.id))
    if message_id is None:
        return False
    if at >= conversation.last_message_at:
        conversation.last_message_at = at
        conversation.last_message_preview = _preview(echo.body, echo.content_kind)
    conversation.waiting_since = None  # the business has answered, wherever from
    conversation.unread_count = 0
    if conversation.first_response_at is None:
        conversation.first_response_at = at
    await session.flush()
    await _publish(session, conversation, "message.created", {
        "conversation_id": str(conversation.id), "contact_id": str(contact.id),
        "message_id": str(message_id), "direction": "outbound",
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None})
    return True


async def apply_receipt_watermark(session: AsyncSession, tenant_id: uuid.UUID, *,
                                  channel_id: uuid.UUID, handle: str, status: str,
                                  at: datetime) -> int:
    """Messenger's "delivered/read up to this moment": every message sent to the customer by
    then moves forward to ``status`` (never back). Returns how many moved."""
    contact_id = await contacts.contact_on_channel(session, tenant_id, channel_id, handle)
    if contact_id is None:
        return 0
    behind = [s for s, order in _STATUS_ORDER.items()
              if 0 < order < _STATUS_ORDER[status] and s != "failed"]
    moved = (await session.execute(update(Message).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.contact_id == contact_id, Message.direction == "outbound",
        Message.created_at <= at, Message.status == any_(behind),
    ).values(status=status, status_changed_at=_now()).returning(
        Message.id, Message.conversation_id))).all()
    if not moved:
        return 0
    conversations = {c.id: c for c in (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id,
        Conversation.id == any_(list({c for _, c in moved}))))).all()}
    await realtime.publish_many(session, [
        _event(conversations[conversation_id], "message.status", {
            "conversation_id": str(conversation_id), "contact_id": str(contact_id),
            "message_id": str(message_id), "status": status, "error_code": None})
        for message_id, conversation_id in moved])
    return len(moved)


# ---- notes -------------------------------------------------------------------------------------

# "@username" in a note; not inside an e-mail address, and a full stop or comma after it ends
# the sentence, not the name.
MENTION = re.compile(r"(?<![\w@])@([a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?)", re.IGNORECASE)


async def add_note(session: AsyncSession, actor: Actor, *, body: str,
                   contact_id: uuid.UUID | None = None,
                   conversation_id: uuid.UUID | None = None) -> Note:
    """A note on a conversation (and so its contact), or on a contact directly. ``@username``
    in a conversation's note notifies that colleague, if they can see the conversation."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    conversation = None
    if conversation_id:
        conversation = await get_conversation(session, actor, conversation_id)
        contact_id = conversation.contact_id
    elif contact_id:
        await _require_contact_visible(session, actor, contact_id)
    else:
        raise ValidationFailed("a note belongs to a contact or a conversation", field="contact_id")
    note = Note(tenant_id=actor.tenant_id, contact_id=contact_id, conversation_id=conversation_id,
                author_id=actor.user_id, body=clean_text(body))
    if not note.body:
        raise ValidationFailed("note is empty", field="body")
    session.add(note)
    await session.flush()
    if conversation is not None:
        await _notify_mentions(session, actor, conversation, note)
        await _publish(session, conversation, "note.created", {
            "conversation_id": str(conversation.id), "contact_id": str(contact_id),
            "note_id": str(note.id)})
    return note


async def _notify_mentions(session: AsyncSession, actor: Actor, conversation: Conversation,
                           note: Note) -> None:
    usernames = {m.lower() for m in MENTION.findall(note.body)}
    if not usernames:
        return
    for user in await users.active_users_named(session, actor, sorted(usernames)):
        if user.id == actor.user_id:
            continue
        colleague = await roles.actor_for(session, user)
        if not colleague.sees_whole_tenant and not await session.scalar(select(exists().where(
                Conversation.tenant_id == actor.tenant_id, Conversation.id == conversation.id,
                visible_clause(colleague)))):
            continue  # they could not open it: a mention there would only leak the preview
        notification = Notification(tenant_id=actor.tenant_id, user_id=user.id,
                                    actor_user_id=actor.user_id, kind="mention",
                                    conversation_id=conversation.id, note_id=note.id)
        session.add(notification)
        await session.flush()
        await realtime.publish(session, realtime.Event(
            tenant_id=actor.tenant_id, type="mention", user_id=user.id, data={
                "notification_id": str(notification.id),
                "conversation_id": str(conversation.id), "note_id": str(note.id),
                "by_user_id": str(actor.user_id) if actor.user_id else None,
                "preview": note.body[:140]}))


async def get_note(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> Note:
    note = await get_in_tenant(session, Note, actor.tenant_id, note_id, what=N_("note"))
    if note.conversation_id and not actor.sees_whole_tenant:
        await get_conversation(session, actor, note.conversation_id)
    else:
        await _require_contact_visible(session, actor, note.contact_id)
    return note


async def update_note(session: AsyncSession, actor: Actor, note_id: uuid.UUID, body: str
                      ) -> Note:
    note = await _own_note(session, actor, note_id)
    if not clean_text(body):
        raise ValidationFailed("note is empty", field="body")
    note.body = clean_text(body)
    await session.flush()
    return note


async def delete_note(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> None:
    note = await _own_note(session, actor, note_id)
    await session.delete(note)
    await session.flush()


async def _own_note(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> Note:
    """Authors change their own notes; supervisors anyone's."""
    note = await get_note(session, actor, note_id)
    if note.author_id != actor.user_id and not actor.sees_whole_tenant:
        raise PermissionDenied("only the author or a supervisor can change this note")
    return note


async def unread_notifications(session: AsyncSession, actor: Actor, *, limit: int = 20
                               ) -> list[Notification]:
    return list((await session.scalars(select(Notification).where(
        Notification.tenant_id == actor.tenant_id, Notification.user_id == actor.user_id,
        Notification.read_at.is_(None)).order_by(Notification.created_at.desc()).limit(limit)
    )).all())


async def mark_notifications_read(session: AsyncSession, actor: Actor, *,
                                  conversation_id: uuid.UUID | None = None) -> None:
    query = update(Notification).where(
        Notification.tenant_id == actor.tenant_id, Notification.user_id == actor.user_id,
        Notification.read_at.is_(None))
    if conversation_id:
        query = query.where(Notification.conversation_id == conversation_id)
    await session.execute(query.values(read_at=_now()))


async def list_notes(session: AsyncSession, actor: Actor, contact_id: uuid.UUID) -> list[Note]:
    """The contact's own notes, and the notes on those of its conversations the actor sees."""
    await _require_contact_visible(session, actor, contact_id)
    query = select(Note).where(Note.tenant_id == actor.tenant_id, Note.contact_id == contact_id)
    if not actor.sees_whole_tenant:
        visible = select(Conversation.id).where(Conversation.tenant_id == actor.tenant_id,
                                                Conversation.contact_id == contact_id,
                                                visible_clause(actor))
        query = query.where(or_(Note.conversation_id.is_(None), Note.conversation_id.in_(visible)))
    return list((await session.scalars(query.order_by(Note.created_at.desc()))).all())


async def _require_contact_visible(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                                   ) -> None:
    await contacts.get_contact(session, actor, contact_id)


# ---- attachments -------------------------------------------------------------------------------

# What a customer's phone can receive, by message kind (WhatsApp Cloud API's media limits, the
# strictest of our channels): the types and the largest file.
MEDIA_RULES: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png", "image/webp"}), 5 * 1024 * 1024),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * 1024 * 1024),
    "audio": (frozenset({"audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg",
                         "audio/webm"}), 16 * 1024 * 1024),
    "document": (frozenset({
        "application/pdf", "text/plain", "text/csv", "application/zip",
        "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }), 100 * 1024 * 1024),
}


_MEDIA_NAMES = {"image": N_("image"), "video": N_("video"), "audio": N_("audio"),
                "document": N_("document")}


def media_kind(content_type: str, size_bytes: int) -> str:
    """The message kind a file is sent as, or a clear refusal naming the type or the limit."""
    base_type = content_type.split(";")[0].strip().lower()
    for kind, (types, max_bytes) in MEDIA_RULES.items():
        if base_type in types:
            if size_bytes > max_bytes:
                raise ValidationFailed(
                    "this file is too large: %(kind)s files can be at most %(megabytes)s MB",
                    params={"kind": _MEDIA_NAMES[kind], "megabytes": max_bytes // (1024 * 1024)},
                    field="file", code="file_too_large")
            return kind
    raise ValidationFailed("this file type cannot be sent; send images (JPEG, PNG, WebP), "
                           "videos (MP4), audio or documents (PDF, Office, text, ZIP)",
                           field="file", code="file_type_not_allowed")


async def store_attachment(session: AsyncSession, actor: Actor, storage: Storage, *,
                           filename: str, content_type: str, data: bytes,
                           max_bytes: int) -> Attachment:
    if not data:
        raise ValidationFailed("the file is empty", field="file")
    if len(data) > max_bytes:
        raise ValidationFailed(f"the file is larger than {max_bytes // (1024 * 1024)} MB",
                               field="file")
    attachment_id = new_id()
    key = f"{actor.tenant_id}/{attachment_id}"
    await storage.put(key, data)
    attachment = Attachment(
        id=attachment_id, tenant_id=actor.tenant_id, storage_key=key,
        filename=(filename or "file")[:255], content_type=content_type or
        "application/octet-stream", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    session.add(attachment)
    await session.flush()
    return attachment


async def copy_attachment(session: AsyncSession, actor: Actor, storage: Storage,
                          attachment_id: uuid.UUID, *, max_bytes: int) -> Attachment:
    """A file of the company's (a quick reply's) as a new attachment of its own, to be sent:
    who may open a sent file follows the conversation it was sent in, so a shared one would
    let the first conversation decide for every later one."""
    source = await get_in_tenant(session, Attachment, actor.tenant_id, attachment_id,
                                 what=N_("attachment"))
    return await store_attachment(session, actor, storage, filename=source.filename,
                                  content_type=source.content_type,
                                  data=await storage.get(source.storage_key),
                                  max_bytes=max_bytes)


async def get_attachment(session: AsyncSession, actor: Actor, attachment_id: uuid.UUID
                         ) -> Attachment:
    """A file, for whoever may read the conversation it was sent in; a file not sent yet (just
    uploaded, to be attached) for anyone of the company, who can only know its id by having
    uploaded it."""
    attachment = await get_in_tenant(session, Attachment, actor.tenant_id, attachment_id,
                                     what=N_("attachment"))
    if not actor.sees_whole_tenant:
        contact_ids = (await session.scalars(select(Message.contact_id).where(
            Message.tenant_id == actor.tenant_id, Message.attachment_id == attachment_id
        ).distinct())).all()
        for contact_id in contact_ids:
            try:
                await require_history_visible(session, actor, contact_id)
                break
            except NotFound:
                continue
        else:
            if contact_ids:
                raise NotFound("%(what)s not found", params={"what": N_("attachment")})
    return attachment


async def import_outbound(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                          body: str, sent_at: datetime, sender_user_id: uuid.UUID | None
                          ) -> Message:
    """Record a reply that was already delivered elsewhere (history imports, demo data): stored
    as read, never sent again."""
    actor.require(Permission.MANAGE_SETTINGS)
    conversation = await get_conversation(session, actor, conversation_id, for_update=True)
    message = Message(
        tenant_id=actor.tenant_id, conversation_id=conversation.id,
        contact_id=conversation.contact_id, channel_id=conversation.channel_id,
        direction="outbound", sender_kind="agent" if sender_user_id else "system",
        sender_user_id=sender_user_id, content_kind="text", body=body, status="read",
        created_at=sent_at, status_changed_at=sent_at)
    session.add(message)
    if conversation.first_response_at is None:
        conversation.first_response_at = sent_at
    if sent_at >= conversation.last_message_at:
        conversation.last_message_at = sent_at
        conversation.last_message_preview = _preview(body, "text")
        conversation.unread_count = 0
    await session.flush()
    return message


# ---- for automation rules ----------------------------------------------------------------------

async def record_automation(session: AsyncSession, conversation: Conversation, data: dict
                            ) -> None:
    """A rule changed the conversation: the thread says which rule and what it did, so agents
    see why (``automation.service``)."""
    await _changed(session, Actor.system(conversation.tenant_id), conversation,
                   "conversation.automation", data, audit_it=False, event_kind="automation")


async def route_for_rule(session: AsyncSession, conversation: Conversation) -> None:
    """A rule asks for the channel's routing: an unassigned conversation goes to an agent (or
    waits in the queue) as a new one would."""
    await _route(session, conversation.tenant_id, conversation.channel_id, [conversation],
                 group_for={})


async def notify_for_rule(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *,
                          body: str, conversation: Conversation | None,
                          contact_id: uuid.UUID) -> bool:
    """A rule tells a colleague something: its text is kept as a note (on the conversation,
    else the contact) that the notification points to, as a mention's does. False when the
    user is gone or deactivated."""
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or not user.is_active:
        return False
    note = Note(tenant_id=tenant_id, contact_id=contact_id,
                conversation_id=conversation.id if conversation else None, author_id=None,
                body=clean_text(body))
    session.add(note)
    await session.flush()
    notification = Notification(tenant_id=tenant_id, user_id=user_id, kind="automation",
                                conversation_id=conversation.id if conversation else None,
                                note_id=note.id)
    session.add(notification)
    await session.flush()
    if conversation is not None:
        await _publish(session, conversation, "note.created", {
            "conversation_id": str(conversation.id), "contact_id": str(contact_id),
            "note_id": str(note.id)})
    await realtime.publish(session, realtime.Event(
        tenant_id=tenant_id, type="notified", user_id=user_id, data={
            "notification_id": str(notification.id), "kind": "automation",
            "conversation_id": str(conversation.id) if conversation else None,
            "note_id": str(note.id), "preview": note.body[:140]}))
    return True


def forget_rolled_back_events(session: AsyncSession) -> None:
    """A rule's savepoint was rolled back: the thread events recorded inside it never
    happened, so the page answering this request must not show them."""
    from sqlalchemy import inspect as inspect_state

    recorded = session.info.get(_RECORDED_EVENTS)
    if recorded:
        session.info[_RECORDED_EVENTS] = [e for e in recorded
                                          if inspect_state(e).persistent]


# ---- for chatbot flows -------------------------------------------------------------------------

async def record_bot_event(session: AsyncSession, conversation: Conversation, data: dict, *,
                           user_id: uuid.UUID | None = None) -> None:
    """A chatbot flow started, handed the conversation over or ended: a thread line (kind
    "bot", ``data["action"]`` says which) and the live event, so agents see what the bot did.
    ``user_id``: the person who stopped it (a takeover)."""
    actor = Actor(tenant_id=conversation.tenant_id, role="admin", kind="system",
                  user_id=user_id) if user_id else Actor.system(conversation.tenant_id)
    await _changed(session, actor, conversation, "conversation.bot", data, audit_it=False,
                   event_kind="bot")

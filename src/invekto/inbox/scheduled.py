"""Send later: a reply written now to go out at a chosen time.

The agent picks a wall-clock time in the company's time zone (the one every page shows times
in). The minute scan ``inbox:send_scheduled`` lists what is due across companies, then sends each
in its company's scope through ``service.send_message``, as its author, after taking the row
``FOR UPDATE SKIP LOCKED`` and checking again that it is still waiting (decisions/0016): runs
that overlap send it once. The message's client id ``scheduled:<id>`` makes a second send of the
same row impossible even past the lock. At send time the 24-hour window is judged again: free
text after it closed fails (``reply_window_closed``) and the author is notified; a template goes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core.actor import Actor
from invekto.core.errors import (
    AppError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from invekto.core.i18n import N_
from invekto.core.text import clean_text
from invekto.db.queries import get_in_tenant
from invekto.inbox import service
from invekto.inbox.models import Conversation, ScheduledMessage
from invekto.inbox.schemas import MessageSend
from invekto.routing.service import company_zone
from invekto.users import roles
from invekto.users.models import User

# The notification its author gets when a scheduled message could not be sent.
FAILED_NOTIFICATION = "scheduled_failed"


def _now() -> datetime:
    return datetime.now(UTC)


async def _moment(session: AsyncSession, tenant_id: uuid.UUID, send_at: datetime) -> datetime:
    """``send_at`` as given, or, without a time zone (a form's datetime-local), as a wall-clock
    time in the company's time zone."""
    if send_at.tzinfo is None:
        return send_at.replace(tzinfo=await company_zone(session, tenant_id))
    return send_at


async def _check(session: AsyncSession, conversation: Conversation, spec: MessageSend,
                 send_at: datetime) -> None:
    """Refuse now what could never be sent then: a time gone by, an empty text, free text due
    after the customer's 24-hour window will have closed."""
    if send_at <= _now():
        raise ValidationFailed("choose a time in the future", field="send_at")
    if spec.content_kind in ("text", "interactive") and not clean_text(spec.body):
        raise ValidationFailed("message is empty", field="body")
    if spec.content_kind == "template" and spec.template is None:
        raise ValidationFailed("choose a template", field="template")
    if spec.content_kind != "template":
        closes = await service.reply_window_closes_at(session, conversation)
        if closes is not None and closes <= send_at:
            raise Conflict("the customer's 24-hour window closes before that time: schedule an "
                           "approved template, or an earlier time", field="send_at",
                           code="outside_reply_window")


async def schedule(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID, *,
                   send_at: datetime, message: MessageSend) -> ScheduledMessage:
    """Keep ``message`` to be sent at ``send_at`` by whoever may reply now. A repeated
    ``client_message_id`` (a double click) returns the first one."""
    await service.check_can_reply(session, actor, conversation_id)
    if message.client_message_id:
        earlier = await session.scalar(select(ScheduledMessage).where(
            ScheduledMessage.tenant_id == actor.tenant_id,
            ScheduledMessage.client_id == message.client_message_id))
        if earlier is not None:
            if earlier.conversation_id != conversation_id:
                raise Conflict("client_message_id was used for another conversation",
                               field="client_message_id")
            return earlier
    conversation = await service.get_conversation(session, actor, conversation_id)
    send_at = await _moment(session, actor.tenant_id, send_at)
    await _check(session, conversation, message, send_at)
    if message.attachment_id:
        await service.get_attachment(session, actor, message.attachment_id)
    scheduled = ScheduledMessage(
        tenant_id=actor.tenant_id, conversation_id=conversation_id, author_id=actor.user_id,
        spec=message.model_dump(mode="json", exclude={"client_message_id"}, exclude_none=True),
        send_at=send_at, status="scheduled", client_id=message.client_message_id)
    session.add(scheduled)
    await session.flush()
    return scheduled


async def list_scheduled(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                         ) -> list[ScheduledMessage]:
    """The conversation's scheduled messages, whatever became of them, soonest first."""
    await service.get_conversation(session, actor, conversation_id)
    return list((await session.scalars(select(ScheduledMessage).where(
        ScheduledMessage.tenant_id == actor.tenant_id,
        ScheduledMessage.conversation_id == conversation_id,
    ).order_by(ScheduledMessage.send_at, ScheduledMessage.id))).all())


async def get_scheduled(session: AsyncSession, actor: Actor, scheduled_id: uuid.UUID, *,
                        conversation_id: uuid.UUID | None = None, for_update: bool = False
                        ) -> ScheduledMessage:
    """One scheduled message (of ``conversation_id``, if given), for whoever may see its
    conversation."""
    scheduled = await get_in_tenant(session, ScheduledMessage, actor.tenant_id, scheduled_id,
                                    what=N_("scheduled message"))
    if conversation_id is not None and scheduled.conversation_id != conversation_id:
        raise NotFound("%(what)s not found", params={"what": N_("scheduled message")})
    await service.get_conversation(session, actor, scheduled.conversation_id)
    if for_update:
        await session.refresh(scheduled, with_for_update=True)
    return scheduled


async def _waiting_own(session: AsyncSession, actor: Actor, scheduled_id: uuid.UUID,
                       conversation_id: uuid.UUID | None) -> ScheduledMessage:
    """A scheduled message its author (or a supervisor) may still change: locked, so the scan
    cannot be sending it meanwhile, and not sent, cancelled or failed yet."""
    scheduled = await get_scheduled(session, actor, scheduled_id,
                                    conversation_id=conversation_id, for_update=True)
    # One an API key scheduled (no author) is any API key's of the company: integrations.
    if scheduled.author_id != actor.user_id and not actor.sees_whole_tenant:
        raise PermissionDenied("only its author or a supervisor can change a scheduled message")
    if scheduled.status != "scheduled":
        raise Conflict("this message is no longer waiting to be sent", field="status",
                       code="not_scheduled")
    return scheduled


async def update_scheduled(session: AsyncSession, actor: Actor, scheduled_id: uuid.UUID, *,
                           body: str | None = None, send_at: datetime | None = None,
                           conversation_id: uuid.UUID | None = None) -> ScheduledMessage:
    """Change a waiting message's text (not a template's: choose another) or its time."""
    scheduled = await _waiting_own(session, actor, scheduled_id, conversation_id)
    spec = MessageSend.model_validate(scheduled.spec)
    if body is not None:
        if spec.content_kind == "template":
            raise ValidationFailed("a template's text cannot be edited", field="body")
        spec = spec.model_copy(update={"body": body})
    moment = (await _moment(session, actor.tenant_id, send_at) if send_at is not None
              else scheduled.send_at)
    conversation = await service.get_conversation(session, actor, scheduled.conversation_id)
    await _check(session, conversation, spec, moment)
    scheduled.spec = spec.model_dump(mode="json", exclude={"client_message_id"},
                                     exclude_none=True)
    scheduled.send_at = moment
    return await _saved(session, scheduled)


async def cancel_scheduled(session: AsyncSession, actor: Actor, scheduled_id: uuid.UUID, *,
                           conversation_id: uuid.UUID | None = None) -> ScheduledMessage:
    scheduled = await _waiting_own(session, actor, scheduled_id, conversation_id)
    scheduled.status = "cancelled"
    return await _saved(session, scheduled)


async def _saved(session: AsyncSession, scheduled: ScheduledMessage) -> ScheduledMessage:
    """Flushed, with the ``updated_at`` the database gave it (read now, not lazily later)."""
    await session.flush()
    await session.refresh(scheduled)
    return scheduled


# ---- the minute scan ---------------------------------------------------------------------------

async def due_scheduled(session: AsyncSession, *, now: datetime | None = None, limit: int = 500
                        ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, scheduled message) of every message waiting whose time has come, oldest due
    first. System scope: the periodic job's list."""
    return [(tenant, scheduled_id) for tenant, scheduled_id in (await session.execute(
        select(ScheduledMessage.tenant_id, ScheduledMessage.id).where(
            ScheduledMessage.status == "scheduled", ScheduledMessage.send_at <= (now or _now()))
        .order_by(ScheduledMessage.send_at).limit(limit))).all()]


async def send_scheduled(session: AsyncSession, tenant_id: uuid.UUID, scheduled_id: uuid.UUID,
                         *, now: datetime | None = None) -> bool:
    """Send one due message as its author. False when there is nothing to do: another run has
    it (locked) or sent it, or it was cancelled or moved later since it was listed. A message
    that cannot go is marked failed with the reason, and its author told."""
    now = now or _now()
    scheduled = await session.scalar(select(ScheduledMessage).where(
        ScheduledMessage.tenant_id == tenant_id, ScheduledMessage.id == scheduled_id,
        ScheduledMessage.status == "scheduled", ScheduledMessage.send_at <= now,
    ).with_for_update(skip_locked=True))
    if scheduled is None:
        return False
    conversation_id = scheduled.conversation_id
    spec = MessageSend.model_validate(
        {**scheduled.spec, "client_message_id": f"scheduled:{scheduled.id}"})
    author = await _author(session, tenant_id, scheduled.author_id)
    failure: tuple[str, str] | None = None
    if author is None:
        failure = ("author_inactive", "its author can no longer send messages")
    elif spec.content_kind != "template" and await _window_closed(session, tenant_id,
                                                                  conversation_id, now):
        failure = ("reply_window_closed", "the customer's 24-hour window had closed: only an "
                                          "approved template can be sent now")
    else:
        try:
            async with session.begin_nested():  # a refusal leaves the row to be marked failed
                message, _ = await service.send_message(session, author, conversation_id, spec)
        except AppError as exc:
            code = "reply_window_closed" if exc.code == "outside_reply_window" else exc.code
            failure = (code, exc.message)
    if failure is None:
        scheduled.status, scheduled.message_id = "sent", message.id
        await session.flush()
        return True
    scheduled.status = "failed"
    scheduled.failure_reason, scheduled.failure_message = failure
    await session.flush()
    if scheduled.author_id is not None:
        conversation = await session.scalar(select(Conversation).where(
            Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
        ).execution_options(populate_existing=True))
        await service._notify(session, tenant_id, scheduled.author_id, FAILED_NOTIFICATION,
                              conversation)
    return True


async def _window_closed(session: AsyncSession, tenant_id: uuid.UUID,
                         conversation_id: uuid.UUID, now: datetime) -> bool:
    conversation = await session.get_one(Conversation, conversation_id)
    closes = await service.reply_window_closes_at(session, conversation)
    return closes is not None and closes <= now


async def _author(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID | None
                  ) -> Actor | None:
    """The author as they act now (role and groups of today), or None when they cannot."""
    user = await session.get(User, user_id) if user_id else None
    if user is None or user.tenant_id != tenant_id or not user.is_active:
        return None
    return await roles.actor_for(session, user)

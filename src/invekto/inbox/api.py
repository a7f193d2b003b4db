from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, UploadFile, status
from pydantic import AwareDatetime, BaseModel

from invekto import runtime
from invekto.contacts.schemas import ContactOut
from invekto.http.deps import Scoped
from invekto.inbox import calls, scheduled, service
from invekto.inbox.schemas import (
    AssignIn,
    AttachmentOut,
    CallSummaryOut,
    ConversationFilters,
    ConversationOut,
    ConversationStart,
    ConversationStatus,
    MessageOut,
    MessageSend,
    NoteCreate,
    NoteOut,
    ScheduledMessageIn,
    ScheduledMessageOut,
    ScheduledMessageUpdate,
    TagsIn,
    TransferIn,
)

router = APIRouter(tags=["inbox"])
Limit = Annotated[int, Query(ge=1, le=200)]


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class StatusIn(BaseModel):
    status: ConversationStatus


class ConversationStarted(BaseModel):
    conversation: ConversationOut
    message: MessageOut


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(ctx: Scoped, filters: Annotated[ConversationFilters, Query()],
                             cursor: str | None = None, limit: Limit = 50):
    items, next_cursor = await service.list_conversations(ctx.session, ctx.actor, filters,
                                                          cursor=cursor, limit=limit)
    return ConversationPage(items=items, next_cursor=next_cursor)


@router.post("/conversations", response_model=ConversationStarted,
             status_code=status.HTTP_201_CREATED)
async def start_conversation(body: ConversationStart, ctx: Scoped, response: Response):
    """Write first to a contact or a phone number; the contact's open conversation on the
    channel is used when there is one."""
    conversation, message, created = await service.start_conversation(
        ctx.session, ctx.actor, channel_id=body.channel_id, contact_id=body.contact_id,
        phone=body.phone, message=body.message)
    if not created:
        response.status_code = status.HTTP_200_OK  # a retry: the first send's message
    return ConversationStarted(conversation=ConversationOut.model_validate(conversation),
                               message=MessageOut.model_validate(message))


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: uuid.UUID, ctx: Scoped):
    return await service.get_conversation(ctx.session, ctx.actor, conversation_id)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut)
async def assign(conversation_id: uuid.UUID, body: AssignIn, ctx: Scoped):
    return await service.assign(ctx.session, ctx.actor, conversation_id, body.assignee_id)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut)
async def transfer(conversation_id: uuid.UUID, body: TransferIn, ctx: Scoped):
    return await service.transfer(ctx.session, ctx.actor, conversation_id,
                                  user_id=body.user_id, group_id=body.group_id)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(conversation_id: uuid.UUID, ctx: Scoped):
    return await service.close(ctx.session, ctx.actor, conversation_id)


@router.post("/conversations/{conversation_id}/reopen", response_model=ConversationOut)
async def reopen(conversation_id: uuid.UUID, ctx: Scoped):
    return await service.reopen(ctx.session, ctx.actor, conversation_id)


@router.post("/conversations/{conversation_id}/status", response_model=ConversationOut)
async def set_status(conversation_id: uuid.UUID, body: StatusIn, ctx: Scoped):
    return await service.set_status(ctx.session, ctx.actor, conversation_id, body.status)


@router.post("/conversations/{conversation_id}/tags", response_model=ConversationOut)
async def change_tags(conversation_id: uuid.UUID, body: TagsIn, ctx: Scoped):
    return await service.change_tags(ctx.session, ctx.actor, conversation_id, add=body.add,
                                     remove=body.remove)


@router.post("/conversations/{conversation_id}/read", response_model=ConversationOut)
async def mark_read(conversation_id: uuid.UUID, ctx: Scoped):
    return await service.mark_read(ctx.session, ctx.actor, conversation_id)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(conversation_id: uuid.UUID, ctx: Scoped, cursor: str | None = None,
                        limit: Limit = 50):
    items, next_cursor = await service.list_messages(ctx.session, ctx.actor, conversation_id,
                                                     cursor=cursor, limit=limit)
    return MessagePage(items=items, next_cursor=next_cursor)


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut,
             status_code=status.HTTP_201_CREATED)
async def send_message(conversation_id: uuid.UUID, body: MessageSend, ctx: Scoped,
                       response: Response):
    message, created = await service.send_message(ctx.session, ctx.actor, conversation_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK  # a retry: the first send's message
    return message


@router.get("/conversations/{conversation_id}/scheduled-messages",
            response_model=list[ScheduledMessageOut])
async def list_scheduled(conversation_id: uuid.UUID, ctx: Scoped):
    return await scheduled.list_scheduled(ctx.session, ctx.actor, conversation_id)


@router.post("/conversations/{conversation_id}/scheduled-messages",
             response_model=ScheduledMessageOut, status_code=status.HTTP_201_CREATED)
async def schedule_message(conversation_id: uuid.UUID, body: ScheduledMessageIn, ctx: Scoped):
    return await scheduled.schedule(ctx.session, ctx.actor, conversation_id,
                                    send_at=body.send_at, message=body.message)


@router.patch("/conversations/{conversation_id}/scheduled-messages/{scheduled_id}",
              response_model=ScheduledMessageOut)
async def update_scheduled(conversation_id: uuid.UUID, scheduled_id: uuid.UUID,
                           body: ScheduledMessageUpdate, ctx: Scoped):
    return await scheduled.update_scheduled(ctx.session, ctx.actor, scheduled_id,
                                            body=body.body, send_at=body.send_at,
                                            conversation_id=conversation_id)


@router.post("/conversations/{conversation_id}/scheduled-messages/{scheduled_id}/cancel",
             response_model=ScheduledMessageOut)
async def cancel_scheduled(conversation_id: uuid.UUID, scheduled_id: uuid.UUID, ctx: Scoped):
    return await scheduled.cancel_scheduled(ctx.session, ctx.actor, scheduled_id,
                                            conversation_id=conversation_id)


@router.get("/contacts/{contact_id}/messages", response_model=MessagePage)
async def contact_history(contact_id: uuid.UUID, ctx: Scoped, cursor: str | None = None,
                          limit: Limit = 50):
    items, next_cursor = await service.contact_history(ctx.session, ctx.actor, contact_id,
                                                       cursor=cursor, limit=limit)
    return MessagePage(items=items, next_cursor=next_cursor)


@router.put("/contacts/{contact_id}/block", response_model=ContactOut)
async def block_contact(contact_id: uuid.UUID, ctx: Scoped):
    """Block the contact: their messages are kept but notify and route to no one, and nothing
    is sent to them."""
    return await service.set_blocked(ctx.session, ctx.actor, contact_id, True)


@router.delete("/contacts/{contact_id}/block", response_model=ContactOut)
async def unblock_contact(contact_id: uuid.UUID, ctx: Scoped):
    return await service.set_blocked(ctx.session, ctx.actor, contact_id, False)


@router.get("/calls/summary", response_model=CallSummaryOut)
async def call_summary(ctx: Scoped, since: AwareDatetime, until: AwareDatetime):
    """The company's calls in ``[since, until)`` (ISO 8601 with a time zone)."""
    return await calls.call_summary(ctx.session, ctx.actor, since=since, until=until)


@router.get("/contacts/{contact_id}/notes", response_model=list[NoteOut])
async def list_notes(contact_id: uuid.UUID, ctx: Scoped):
    return await service.list_notes(ctx.session, ctx.actor, contact_id)


@router.post("/contacts/{contact_id}/notes", response_model=NoteOut,
             status_code=status.HTTP_201_CREATED)
async def add_contact_note(contact_id: uuid.UUID, body: NoteCreate, ctx: Scoped):
    return await service.add_note(ctx.session, ctx.actor, contact_id=contact_id, body=body.body)


@router.post("/conversations/{conversation_id}/notes", response_model=NoteOut,
             status_code=status.HTTP_201_CREATED)
async def add_conversation_note(conversation_id: uuid.UUID, body: NoteCreate, ctx: Scoped):
    return await service.add_note(ctx.session, ctx.actor, conversation_id=conversation_id,
                                  body=body.body)


@router.post("/attachments", response_model=AttachmentOut, status_code=status.HTTP_201_CREATED)
async def upload_attachment(file: UploadFile, ctx: Scoped):
    rt = runtime.current()
    data = await file.read(rt.settings.max_attachment_bytes + 1)
    return await service.store_attachment(
        ctx.session, ctx.actor, rt.storage, filename=file.filename or "file",
        content_type=file.content_type or "application/octet-stream", data=data,
        max_bytes=rt.settings.max_attachment_bytes)


@router.get("/attachments/{attachment_id}")
async def download_attachment(attachment_id: uuid.UUID, ctx: Scoped) -> Response:
    attachment = await service.get_attachment(ctx.session, ctx.actor, attachment_id)
    data = await runtime.current().storage.get(attachment.storage_key)
    # Served as a download with a fixed type: an uploaded HTML file must not run on our origin.
    filename = quote(attachment.filename, safe="")
    return Response(data, media_type=attachment.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
        "X-Content-Type-Options": "nosniff"})

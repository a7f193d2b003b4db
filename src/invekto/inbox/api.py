from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, UploadFile, status
from pydantic import AwareDatetime, BaseModel

from invekto import runtime
from invekto.contacts.api import contact_out
from invekto.contacts.schemas import ContactOut
from invekto.core import i18n, uploads
from invekto.http.deps import Scoped
from invekto.inbox import calls, export, scheduled, service
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


ExportFormat = Annotated[Literal["json", "csv", "html"], Query()]
_EXPORT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
                 "html": "text/html; charset=utf-8"}


def export_response(found: export.Export, fmt: str, language: str) -> Response:
    if fmt == "json":
        body = export.to_json(found)
    elif fmt == "csv":
        body = export.to_csv(found, language)
    else:
        from invekto.web.rendering import render_to_text  # the pages' templates and i18n

        title = i18n.text(language, "Conversation history")
        body = render_to_text("inbox/transcript.html", lang=language, export=found,
                              title=title, labels=export.LABELS,
                              fmt=i18n.Formatter(language, found.zone.key)).encode()
    return Response(body, media_type=_EXPORT_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{export.filename(found, fmt)}"',
        "Cache-Control": "no-store"})


@router.get("/conversations/export")
async def export_conversations(ctx: Scoped, filters: Annotated[ConversationFilters, Query()],
                               format: ExportFormat = "json", start: date | None = None,
                               end: date | None = None):
    """Admins: the history of every conversation the filters find (and opened between
    ``start`` and ``end``, the company's days), as JSON, CSV (a row per message) or an HTML
    transcript. At most 5,000 conversations at a time."""
    found = await export.export_filtered(ctx.session, ctx.actor, filters,
                                         export.OpenedBetween(start, end), format)
    return export_response(found, format, ctx.actor.language)


@router.get("/conversations/{conversation_id}/export")
async def export_conversation(conversation_id: uuid.UUID, ctx: Scoped,
                              format: ExportFormat = "json"):
    """Admins: one conversation's history (messages, internal notes, what happened)."""
    found = await export.export_one(ctx.session, ctx.actor, conversation_id, format)
    return export_response(found, format, ctx.actor.language)


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
    return await contact_out(ctx, await service.set_blocked(ctx.session, ctx.actor, contact_id,
                                                            True))


@router.delete("/contacts/{contact_id}/block", response_model=ContactOut)
async def unblock_contact(contact_id: uuid.UUID, ctx: Scoped):
    return await contact_out(ctx, await service.set_blocked(ctx.session, ctx.actor, contact_id,
                                                            False))


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
    uploads.check(file.filename or "file", file.content_type or "", data)
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
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})

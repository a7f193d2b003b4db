"""The inbox pages: conversation list, thread and contact card, as full pages and as the HTMX
fragments the page swaps in. Routes only translate between HTTP and the inbox services."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from invekto import runtime
from invekto.ai import suggestions
from invekto.channels import calls
from invekto.channels import service as channels
from invekto.channels.sms import SMS_KINDS
from invekto.contacts import service as contacts
from invekto.contacts.schemas import ContactUpdate
from invekto.core import uploads
from invekto.core.errors import NotFound, UpstreamUnavailable, ValidationFailed
from invekto.flows import service as flows
from invekto.inbox import export, merge, saved_views, scheduled, service, timeline
from invekto.inbox.api import export_response
from invekto.inbox.models import PRIORITIES, Conversation
from invekto.inbox.schemas import ConversationFilters, MessageSend
from invekto.integrations import service as integrations
from invekto.replies import service as replies
from invekto.replies import variables
from invekto.users import service as users
from invekto.web.rendering import Page, WebPage, parse_form, render_page

router = APIRouter(prefix="/inbox", include_in_schema=False)

TABS = ("mine", "unassigned", "groups", "all")
STATUSES = ("open", "pending", "closed")
LIST_PAGE = 30
COUNT_CAP = 1000
# Served inline (previews in the thread); anything else only ever downloads.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "audio/", "video/",
                 "application/pdf")


@dataclass
class ListState:
    """The list's filters, as they appear in the page's query string."""

    tab: str = "mine"
    status: str = "open"
    channel: str = ""
    tag: str = ""
    group: str = ""
    assignee: str = ""
    priority: str = ""
    q: str = ""

    @classmethod
    def parse(cls, params: dict[str, Any]) -> ListState:
        state = cls(**{f.name: str(params.get(f.name, f.default) or "").strip()
                       for f in fields(cls)})
        state.tab = state.tab or "mine"
        if state.tab not in TABS:
            raise ValidationFailed("unknown inbox tab", field="tab")
        if state.status and state.status not in STATUSES:
            raise ValidationFailed("status must be open, pending or closed", field="status")
        if state.priority and state.priority not in PRIORITIES:
            raise ValidationFailed("priority must be low, normal, high or urgent",
                                   field="priority")
        for name in ("channel", "group"):
            value = getattr(state, name)
            if value:
                _uuid(value, name)
        if len(state.q) > 200:
            raise ValidationFailed("the search text is longer than 200 characters", field="q")
        return state

    def filters(self) -> ConversationFilters:
        assignee = {"mine": "me", "unassigned": "none"}.get(self.tab) or self.assignee or None
        return ConversationFilters(
            status=self.status or None, channel_id=_uuid(self.channel) if self.channel else None,
            group_id=_uuid(self.group) if self.group else None, tag=self.tag or None,
            assignee=assignee, q=self.q or None, in_my_groups=self.tab == "groups",
            priority=self.priority or None)

    def query(self, **overrides: str) -> str:
        values = {**asdict(self), **overrides}
        return urlencode({k: v for k, v in values.items() if v})

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def _json_form(value: str, field: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ValidationFailed("this is not valid JSON", field=field) from exc


def _uuid(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValidationFailed("not a valid id", field=field) from exc


@dataclass
class Directory:
    """Names the pages show for ids: users, groups, channels, tags. Small per tenant."""

    users: dict[uuid.UUID, Any]
    groups: dict[uuid.UUID, Any]
    channels: dict[uuid.UUID, Any]
    tags: list[Any]
    # What the company's connected integrations can do (order look-up, payment links).
    integrations: frozenset[str] = frozenset()

    @classmethod
    async def load(cls, page: Page) -> Directory:
        session, actor = page.ctx.session, page.ctx.actor
        return cls(
            users={u.id: u for u in await users.list_users(session, actor,
                                                           include_inactive=True)},
            groups={g.id: g for g in await users.list_groups(session, actor)},
            channels={c.id: c for c in await channels.list_channels(session, actor)},
            tags=await contacts.list_tags(session, actor),
            integrations=await integrations.capabilities_of(session, actor.tenant_id))

    def offers(self, capability: str) -> bool:
        return capability in self.integrations

    @property
    def active_users(self) -> list[Any]:
        return sorted((u for u in self.users.values() if u.is_active),
                      key=lambda u: u.display_name.casefold())

    @property
    def tag_colors(self) -> dict[str, str]:
        return {t.name: t.color for t in self.tags}

    def is_phone_line(self, channel_id: uuid.UUID) -> bool:
        """A phone line (a PBX, Twilio Voice): calls only, nothing to write on."""
        channel = self.channels.get(channel_id)
        return channel is not None and channel.kind in calls.VOICE_KINDS

    @property
    def can_call(self) -> bool:
        """Whether the contact card offers click-to-call: a channel can place calls."""
        return calls.offers_calls(self.channels.values())

    def is_sms(self, channel_id: uuid.UUID) -> bool:
        channel = self.channels.get(channel_id)
        return channel is not None and channel.kind in SMS_KINDS

    def can_send_choices(self, channel_id: uuid.UUID) -> bool:
        """Whether the composer offers reply buttons and lists on this channel."""
        channel = self.channels.get(channel_id)
        return channel is not None and channel.kind in service.WHATSAPP_KINDS


async def _rows(page: Page, conversations: list[Conversation]) -> list[dict[str, Any]]:
    """Each conversation with its contact, for the list."""
    by_id = await contacts.get_contacts(page.ctx.session, page.ctx.actor,
                                        [c.contact_id for c in conversations])
    return [{"conversation": c, "contact": by_id.get(c.contact_id)} for c in conversations]


async def _tab_counts(page: Page, state: ListState) -> dict[str, int]:
    counts = {}
    for tab in _tabs_for(page):
        tab_state = ListState(**{**asdict(state), "tab": tab})
        counts[tab] = await service.count_conversations(
            page.ctx.session, page.ctx.actor, tab_state.filters(), cap=COUNT_CAP)
    return counts


def _tabs_for(page: Page) -> tuple[str, ...]:
    return TABS if page.ctx.actor.sees_whole_tenant else TABS[:3]


async def _list_context(page: Page, state: ListState, cursor: str | None = None
                        ) -> dict[str, Any]:
    conversations, next_cursor = await service.list_conversations(
        page.ctx.session, page.ctx.actor, state.filters(), cursor=cursor, limit=LIST_PAGE)
    return {"rows": await _rows(page, conversations), "next_cursor": next_cursor,
            "state": state, "cursor_used": cursor is not None}


async def _thread_context(page: Page, conversation: Conversation) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    contact = await contacts.get_contact(session, actor, conversation.contact_id)
    thread = await timeline.thread_page(session, actor, conversation.contact_id)
    return {
        "conversation": conversation, "contact": contact, "thread": thread,
        "identities": await contacts.identities_of(session, actor, contact.id),
        "custom_fields": await contacts.list_custom_fields(session, actor),
        "notes": await service.list_notes(session, actor, contact.id),
        "past": (await service.list_conversations(
            session, actor, ConversationFilters(contact_id=contact.id), limit=20))[0],
        "can_reply": _can_reply(page, conversation),
        "window_closes_at": await service.reply_window_closes_at(session, conversation),
    }


def _can_reply(page: Page, conversation: Conversation) -> bool:
    """Whoever holds the conversation answers it. A supervisor reads a colleague's chat
    read-only until they take it over (which the thread records)."""
    return conversation.assignee_id in (None, page.ctx.actor.user_id)


async def _open_conversation(page: Page, conversation_id: uuid.UUID) -> Conversation:
    """Opening a thread reads it: its unread count and mentions there are cleared."""
    session, actor = page.ctx.session, page.ctx.actor
    conversation = await service.get_conversation(session, actor, conversation_id)
    if conversation.unread_count:
        conversation = await service.mark_read(session, actor, conversation_id)
    await service.mark_notifications_read(session, actor, conversation_id=conversation_id)
    return conversation


# ---- pages -------------------------------------------------------------------------------------

@router.get("")
async def inbox_page(request: Request, page: WebPage, c: str | None = None,
                     view: str | None = None) -> Response:
    session, actor = page.ctx.session, page.ctx.actor
    params = dict(request.query_params)
    active_view = None
    if view:
        active_view = await saved_views.get_view(session, actor, _uuid(view, "view"))
        params = {**active_view.filters}
    state = ListState.parse(params)
    if state.tab == "all" and not actor.sees_whole_tenant:
        state.tab = "mine"
    context: dict[str, Any] = {
        **await _list_context(page, state),
        "counts": await _tab_counts(page, state), "tabs": _tabs_for(page),
        "directory": await Directory.load(page),
        "views": await saved_views.list_views(session, actor), "active_view": active_view,
    }
    if c:
        conversation = await _open_conversation(page, _uuid(c, "c"))
        context.update(await _thread_context(page, conversation))
    # After opening: its mentions have just been read.
    context["notifications"] = await service.unread_notifications(session, actor)
    return render_page(request, page, "inbox/page.html", **context)


@router.get("/list")
async def list_fragment(request: Request, page: WebPage, cursor: str | None = None) -> Response:
    state = ListState.parse(dict(request.query_params))
    return render_page(request, page, "inbox/_list_rows.html",
                       directory=await Directory.load(page),
                       **await _list_context(page, state, cursor))


@router.get("/export")
async def export_list(request: Request, page: WebPage, format: str = "html") -> Response:
    """Admins: the list as filtered, every conversation of it with its history."""
    state = ListState.parse(dict(request.query_params))
    found = await export.export_filtered(page.ctx.session, page.ctx.actor, state.filters(),
                                         export.OpenedBetween(), format)
    return export_response(found, format, page.lang)


@router.get("/counts")
async def counts_fragment(request: Request, page: WebPage) -> Response:
    state = ListState.parse(dict(request.query_params))
    return JSONResponse(await _tab_counts(page, state))


@router.get("/rows/{conversation_id}")
async def row_fragment(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    """One row, when the conversation belongs in the list as filtered; 204 when it does not
    (any more): the page then removes it."""
    state = ListState.parse(dict(request.query_params))
    filters = state.filters()
    conversations, _ = await service.list_conversations(
        page.ctx.session, page.ctx.actor, filters, limit=1,
        only_id=conversation_id)
    if not conversations:
        return Response(status_code=204)
    rows = await _rows(page, conversations)
    return render_page(request, page, "inbox/_row.html", row=rows[0], state=state,
                       directory=await Directory.load(page))


@router.get("/c/{conversation_id}")
async def conversation(request: Request, conversation_id: uuid.UUID, page: WebPage
                       ) -> Response:
    if request.headers.get("hx-request") != "true":
        query = urlencode({**request.query_params, "c": str(conversation_id)})
        return RedirectResponse(f"/inbox?{query}", status_code=303)
    opened = await _open_conversation(page, conversation_id)
    return render_page(request, page, "inbox/_conversation.html",
                       directory=await Directory.load(page),
                       **await _thread_context(page, opened))


@router.get("/contacts/{contact_id}/older")
async def older(request: Request, contact_id: uuid.UUID, cursor: str, page: WebPage
                ) -> Response:
    thread = await timeline.thread_page(page.ctx.session, page.ctx.actor, contact_id,
                                        cursor=cursor)
    return render_page(request, page, "inbox/_timeline.html", thread=thread,
                       contact_id=contact_id, directory=await Directory.load(page))


@router.get("/items/{kind}/{item_id}")
async def item(request: Request, kind: str, item_id: uuid.UUID, page: WebPage) -> Response:
    """One thread item (a new message, a status change, a note, an event) for live updates."""
    session, actor = page.ctx.session, page.ctx.actor
    attachments = {}
    if kind == "message":
        record = await service.get_message(session, actor, item_id)
        attachments = await timeline.attachments_of(session, actor, [record])
    elif kind == "note":
        record = await service.get_note(session, actor, item_id)
    elif kind == "event":
        record = await service.get_event(session, actor, item_id)
    else:
        raise NotFound("no such item")
    entry = timeline.Item(kind, record.created_at, record.id, record)
    return render_page(request, page, "inbox/_item.html", item=entry,
                       attachments=attachments, directory=await Directory.load(page))


# ---- composing ---------------------------------------------------------------------------------

@router.post("/c/{conversation_id}/messages")
async def send(request: Request, conversation_id: uuid.UUID, page: WebPage,
               body: str = Form(""), client_message_id: str = Form(""),
               choices: str = Form(""), template: str = Form(""),
               quick_reply: str = Form(""), file: UploadFile | None = None) -> Response:
    session, actor = page.ctx.session, page.ctx.actor
    kind, attachment_id = "text", None
    settings = runtime.current().settings
    if choices:  # reply buttons or a list, as JSON (see MessageSend.choices)
        kind = "interactive"
    elif template:  # an approved template and its values, as JSON (MessageSend.template)
        kind = "template"
    if quick_reply and not (file is not None and file.filename):
        # The file of a quick reply from the library, sent as a copy of its own.
        chosen = await replies.get(session, actor, _uuid(quick_reply, "quick_reply"))
        if chosen.attachment_id is not None:
            await service.check_can_reply(session, actor, conversation_id)
            attachment = await service.copy_attachment(
                session, actor, runtime.current().storage, chosen.attachment_id,
                max_bytes=settings.max_attachment_bytes)
            kind = service.media_kind(attachment.content_type, attachment.size_bytes)
            attachment_id = attachment.id
    if file is not None and file.filename:
        await service.check_can_reply(session, actor, conversation_id)
        data = await file.read(settings.max_attachment_bytes + 1)
        content_type = file.content_type or "application/octet-stream"
        kind = service.media_kind(content_type, len(data))
        uploads.check(file.filename, content_type, data)
        attachment = await service.store_attachment(
            session, actor, runtime.current().storage, filename=file.filename,
            content_type=content_type, data=data, max_bytes=settings.max_attachment_bytes)
        attachment_id = attachment.id
    message, _ = await service.send_message(session, actor, conversation_id, parse_form(
        MessageSend, {"body": body, "content_kind": kind, "attachment_id": attachment_id,
                      "client_message_id": client_message_id or None,
                      "choices": _json_form(choices, "choices") if choices else None,
                      "template": _json_form(template, "template") if template else None}))
    entry = timeline.Item("message", message.created_at, message.id, message)
    return render_page(request, page, "inbox/_item.html", item=entry,
                       attachments=await timeline.attachments_of(session, actor, [message]),
                       directory=await Directory.load(page))


@router.post("/c/{conversation_id}/sms-length")
async def sms_length(request: Request, conversation_id: uuid.UUID, page: WebPage,
                     body: str = Form("")) -> Response:
    """The composer's text as SMS parts on the conversation's channel, as the agent types."""
    length = await service.sms_length_of(page.ctx.session, page.ctx.actor, conversation_id,
                                         body[:5000])
    return render_page(request, page, "inbox/_sms_length.html", length=length)


@router.get("/c/{conversation_id}/templates")
async def templates(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    """The channel's approved templates, as the composer's choices (asked of WhatsApp now)."""
    return render_page(request, page, "inbox/_templates.html",
                       templates=await service.approved_templates(
                           page.ctx.session, page.ctx.actor, conversation_id))


@router.get("/c/{conversation_id}/suggestions")
async def reply_suggestions(request: Request, conversation_id: uuid.UUID, page: WebPage
                            ) -> Response:
    """Up to three replies to the customer's latest question, above the composer; empty when
    there are none (or the company turned them off). The page asks after the thread shows, as
    the API route does: the builtin ones, rewritten by the company's LLM when it has one."""
    found = await suggestions.for_agent(page.ctx.session, page.ctx.actor, conversation_id,
                                        runtime.current().db)
    # Dismissed suggestions stay hidden until the customer asks something else.
    question_key = hashlib.sha256(found.question.encode()).hexdigest()[:16]
    return render_page(request, page, "inbox/_suggestions.html", items=found.items,
                       question_key=question_key)


@router.post("/c/{conversation_id}/notes")
async def add_note(request: Request, conversation_id: uuid.UUID, page: WebPage,
                   body: str = Form("")) -> Response:
    note = await service.add_note(page.ctx.session, page.ctx.actor, body=body,
                                  conversation_id=conversation_id)
    entry = timeline.Item("note", note.created_at, note.id, note)
    return render_page(request, page, "inbox/_item.html", item=entry, attachments={},
                       directory=await Directory.load(page))


# ---- send later --------------------------------------------------------------------------------

# A failed scheduled message stays in the list above the composer this long, so its author sees
# why (they were notified too).
_SHOW_FAILED = timedelta(days=7)


def _wall_clock(value: str) -> datetime:
    """A datetime-local input's value: a wall-clock time, which the service reads in the
    company's time zone (the one the page shows times in)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("choose a date and time", field="send_at") from exc


async def _scheduled_list(request: Request, page: WebPage, conversation_id: uuid.UUID
                          ) -> HTMLResponse:
    items = await scheduled.list_scheduled(page.ctx.session, page.ctx.actor, conversation_id)
    since = datetime.now(UTC) - _SHOW_FAILED
    return render_page(request, page, "inbox/_scheduled.html", conversation_id=conversation_id,
                       items=[s for s in items if s.status == "scheduled"
                              or (s.status == "failed" and s.send_at > since)])


@router.get("/c/{conversation_id}/scheduled")
async def scheduled_messages(request: Request, conversation_id: uuid.UUID, page: WebPage
                             ) -> Response:
    """The conversation's messages waiting to be sent (and those that recently failed)."""
    return await _scheduled_list(request, page, conversation_id)


@router.post("/c/{conversation_id}/scheduled")
async def schedule(request: Request, conversation_id: uuid.UUID, page: WebPage,
                   body: str = Form(""), send_at: str = Form(""),
                   client_message_id: str = Form("")) -> Response:
    """The composer's text, to be sent at ``send_at`` (the company's wall-clock time)."""
    await scheduled.schedule(page.ctx.session, page.ctx.actor, conversation_id,
                             send_at=_wall_clock(send_at), message=parse_form(MessageSend, {
                                 "body": body, "client_message_id": client_message_id or None}))
    return await _scheduled_list(request, page, conversation_id)


@router.post("/c/{conversation_id}/scheduled/{scheduled_id}/edit")
async def edit_scheduled(request: Request, conversation_id: uuid.UUID, scheduled_id: uuid.UUID,
                         page: WebPage, body: str | None = Form(None),
                         send_at: str = Form("")) -> Response:
    await scheduled.update_scheduled(page.ctx.session, page.ctx.actor, scheduled_id, body=body,
                                     send_at=_wall_clock(send_at) if send_at else None,
                                     conversation_id=conversation_id)
    return await _scheduled_list(request, page, conversation_id)


@router.post("/c/{conversation_id}/scheduled/{scheduled_id}/cancel")
async def cancel_scheduled(request: Request, conversation_id: uuid.UUID,
                           scheduled_id: uuid.UUID, page: WebPage) -> Response:
    await scheduled.cancel_scheduled(page.ctx.session, page.ctx.actor, scheduled_id,
                                     conversation_id=conversation_id)
    return await _scheduled_list(request, page, conversation_id)


# ---- starting a conversation -------------------------------------------------------------------

@dataclass
class NewConversationForm:
    """The "New message" dialog as typed so far (it is drawn again when the channel or the
    template changes)."""

    contact: str = ""
    phone: str = ""
    channel: str = ""
    body: str = ""
    template: str = ""  # "name|language"

    @classmethod
    def parse(cls, values: dict[str, Any]) -> NewConversationForm:
        return cls(**{f.name: str(values.get(f.name) or "").strip() for f in fields(cls)})


async def _new_conversation_dialog(request: Request, page: WebPage, form: NewConversationForm,
                                   parameters: dict[str, str]) -> HTMLResponse:
    session, actor = page.ctx.session, page.ctx.actor
    contact_id = _uuid(form.contact, "contact") if form.contact else None
    contact = await contacts.get_contact(session, actor, contact_id) if contact_id else None
    options = await service.startable_channels(session, actor, contact_id)
    chosen = next((c for c in options if str(c.id) == form.channel),
                  options[0] if options else None)
    templates, templates_error = [], None
    if chosen is not None and chosen.kind in service.WHATSAPP_KINDS:
        try:
            templates = await service.channel_templates(chosen)
        except UpstreamUnavailable as exc:
            templates_error = exc  # the dialog says so; free text may still do
    template = next((t for t in templates if f"{t.name}|{t.language}" == form.template), None)
    return render_page(request, page, "inbox/_new_conversation.html", form=form,
                       contact=contact, channels=options, chosen=chosen, templates=templates,
                       templates_error=templates_error is not None, template=template,
                       parameters=parameters, client_message_id=uuid.uuid4().hex)


def _template_parameters(values: dict[str, Any]) -> dict[str, str]:
    """The template's placeholders as the form names them: ``param.1``, ``param.name``..."""
    return {key.removeprefix("param."): str(value) for key, value in values.items()
            if key.startswith("param.")}


@router.get("/new")
async def new_conversation(request: Request, page: WebPage) -> Response:
    """The "New message" dialog: to a contact (``contact``), or to a phone number typed in."""
    values = dict(request.query_params)
    return await _new_conversation_dialog(request, page, NewConversationForm.parse(values),
                                          _template_parameters(values))


@router.post("/new")
async def start_conversation(request: Request, page: WebPage) -> Response:
    """Write first; the browser then opens the conversation."""
    values = dict(await request.form())
    form = NewConversationForm.parse(values)
    message: dict[str, Any] = {"body": form.body,
                               "client_message_id": values.get("client_message_id") or None}
    if form.template:
        name, _, language = form.template.partition("|")
        message.update(content_kind="template", template={
            "name": name, "language": language, "parameters": _template_parameters(values)})
    conversation, _message, _ = await service.start_conversation(
        page.ctx.session, page.ctx.actor, channel_id=_uuid(form.channel, "channel_id"),
        contact_id=_uuid(form.contact, "contact_id") if form.contact else None,
        phone=None if form.contact else form.phone, message=parse_form(MessageSend, message))
    return Response(status_code=204, headers={"HX-Redirect": f"/inbox?c={conversation.id}"})


@router.get("/quick-replies")
async def quick_replies(page: WebPage, q: str = "", c: uuid.UUID | None = None) -> Response:
    """The composer's "/" suggestions; with the open conversation ``c``, their variables
    filled for its customer and the agent writing."""
    session, actor = page.ctx.session, page.ctx.actor
    found = await replies.search(session, actor, q[:100])
    files = await timeline.attachments_by_id(
        session, actor, [r.attachment_id for r in found if r.attachment_id])
    values = None
    if c is not None:
        conversation = await service.get_conversation(session, actor, c)
        values = await service.text_values(session, actor.tenant_id, conversation.contact_id,
                                           actor.user_id)
    return JSONResponse([{"id": str(r.id), "shortcut": r.shortcut,
                          "body": variables.render(r.body, values) if values else r.body,
                          "file": files[r.attachment_id].filename
                          if r.attachment_id in files else None} for r in found])


@router.get("/people")
async def people(page: WebPage, q: str = "") -> Response:
    """Colleagues to @mention."""
    needle = q.casefold()
    found = [u for u in await users.list_users(page.ctx.session, page.ctx.actor)
             if needle in u.username or needle in u.display_name.casefold()][:8]
    return JSONResponse([{"username": u.username, "name": u.display_name} for u in found])


@router.get("/media/{attachment_id}")
async def media(attachment_id: uuid.UUID, page: WebPage) -> Response:
    """Attachments for the thread's previews. Inline only for types a browser shows without
    running anything of the file's, and sandboxed even then."""
    attachment = await service.get_attachment(page.ctx.session, page.ctx.actor, attachment_id)
    data = await runtime.current().storage.get(attachment.storage_key)
    inline = attachment.content_type.startswith(_INLINE_TYPES)
    disposition = "inline" if inline else "attachment"
    filename = quote(attachment.filename, safe="")
    return Response(data, media_type=attachment.content_type if inline
                    else "application/octet-stream", headers={
                        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
                        "X-Content-Type-Options": "nosniff",
                        "Content-Security-Policy": "sandbox",
                        "Cache-Control": "private, max-age=3600"})


# ---- actions on a conversation -----------------------------------------------------------------

@router.get("/c/{conversation_id}/header")
async def header(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    """The thread's header and composer, when someone else changed the conversation."""
    conversation = await service.get_conversation(page.ctx.session, page.ctx.actor,
                                                  conversation_id)
    return await _after_action(request, page, conversation)


async def _after_action(request: Request, page: WebPage, conversation: Conversation
                        ) -> HTMLResponse:
    """The refreshed thread header and composer, and the thread's new event lines (out of
    band)."""
    return render_page(request, page, "inbox/_after_action.html", conversation=conversation,
                       window_closes_at=await service.reply_window_closes_at(
                           page.ctx.session, conversation),
                       events=service.recorded_events(page.ctx.session, conversation.id),
                       can_reply=_can_reply(page, conversation),
                       contact=await contacts.get_contact(page.ctx.session, page.ctx.actor,
                                                          conversation.contact_id),
                       directory=await Directory.load(page))


@router.post("/c/{conversation_id}/assign")
async def assign(request: Request, conversation_id: uuid.UUID, page: WebPage,
                 user_id: str = Form("")) -> Response:
    target = _uuid(user_id, "user_id") if user_id else None
    conversation = await service.assign(page.ctx.session, page.ctx.actor, conversation_id, target)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/transfer")
async def transfer(request: Request, conversation_id: uuid.UUID, page: WebPage,
                   user_id: str = Form(""), group_id: str = Form(""), note: str = Form("")
                   ) -> Response:
    conversation = await service.transfer(
        page.ctx.session, page.ctx.actor, conversation_id,
        user_id=_uuid(user_id, "user_id") if user_id else None,
        group_id=_uuid(group_id, "group_id") if group_id else None, note=note)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/takeover")
async def takeover(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    conversation = await service.takeover(page.ctx.session, page.ctx.actor, conversation_id)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/bot/take-over")
async def take_over_from_bot(request: Request, conversation_id: uuid.UUID, page: WebPage
                             ) -> Response:
    """The agent stops the chatbot that holds the conversation and answers themselves."""
    conversation = await flows.take_over(page.ctx.session, page.ctx.actor, conversation_id)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/tags")
async def tags(request: Request, conversation_id: uuid.UUID, page: WebPage,
               add: str = Form(""), remove: str = Form(""), create: str = Form("")
               ) -> Response:
    """Tag or untag; ``create=1`` adds a tag that does not exist yet to the catalogue first."""
    name = " ".join(add.split())
    conversation = await service.change_tags(
        page.ctx.session, page.ctx.actor, conversation_id, add=[name] if name else [],
        remove=[remove] if remove else [], create_missing=bool(create))
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/close")
async def close(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    conversation = await service.close(page.ctx.session, page.ctx.actor, conversation_id)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/reopen")
async def reopen(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    conversation = await service.reopen(page.ctx.session, page.ctx.actor, conversation_id)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/priority")
async def priority(request: Request, conversation_id: uuid.UUID, page: WebPage,
                   priority: str = Form(...)) -> Response:
    conversation = await service.set_priority(page.ctx.session, page.ctx.actor,
                                              conversation_id, priority)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/snooze")
async def snooze(request: Request, conversation_id: uuid.UUID, page: WebPage,
                 until: str = Form(...)) -> Response:
    """``until`` comes from a datetime-local input: a wall-clock time in the company's zone."""
    try:
        moment = datetime.fromisoformat(until)
    except ValueError as exc:
        raise ValidationFailed("choose a date and time", field="until") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=page.fmt.tz)
    conversation = await service.snooze(page.ctx.session, page.ctx.actor, conversation_id,
                                        moment)
    return await _after_action(request, page, conversation)


@router.post("/c/{conversation_id}/unread")
async def unread(request: Request, conversation_id: uuid.UUID, page: WebPage) -> Response:
    conversation = await service.mark_unread(page.ctx.session, page.ctx.actor, conversation_id)
    return await _after_action(request, page, conversation)


BULK_ACTIONS = ("assign", "tag", "close")


@router.post("/bulk")
async def bulk(page: WebPage, action: str = Form(...), ids: list[str] = Form(default=[]),
               user_id: str = Form(""), tag: str = Form("")) -> Response:
    """The same action on each selected conversation, each checked as if done one by one; the
    first refusal undoes them all (one transaction), so a selection never half-changes."""
    session, actor = page.ctx.session, page.ctx.actor
    if action not in BULK_ACTIONS:
        raise ValidationFailed("unknown bulk action", field="action")
    if not ids:
        raise ValidationFailed("select at least one conversation", field="ids")
    if len(ids) > 200:
        raise ValidationFailed("select at most 200 conversations at a time", field="ids")
    for raw in ids:
        conversation_id = _uuid(raw, "ids")
        if action == "assign":
            await service.assign(session, actor, conversation_id,
                                 _uuid(user_id, "user_id") if user_id else None)
        elif action == "tag":
            await service.change_tags(session, actor, conversation_id, add=[tag], remove=[])
        else:
            await service.close(session, actor, conversation_id)
    return Response(status_code=204, headers={"HX-Trigger": "inbox-refresh"})


# ---- saved views -------------------------------------------------------------------------------

@router.post("/views")
async def save_view(request: Request, page: WebPage, name: str = Form("")) -> Response:
    state = ListState.parse(dict(request.query_params))
    view = await saved_views.save_view(page.ctx.session, page.ctx.actor, name, state.as_dict())
    return Response(status_code=204, headers={"HX-Redirect": f"/inbox?view={view.id}"})


@router.post("/views/{view_id}/delete")
async def delete_view(view_id: uuid.UUID, page: WebPage) -> Response:
    await saved_views.delete_view(page.ctx.session, page.ctx.actor, view_id)
    return Response(status_code=204, headers={"HX-Redirect": "/inbox"})


# ---- contact card ------------------------------------------------------------------------------

async def _card(request: Request, page: WebPage, contact_id: uuid.UUID,
                conversation_id: uuid.UUID | None, *, revealed: bool = False) -> HTMLResponse:
    """``revealed``: personal data in clear for someone who sees it masked (already audited)."""
    session, actor = page.ctx.session, page.ctx.actor
    await service.require_history_visible(session, actor, contact_id)
    contact = await (contacts.reveal if revealed else contacts.get_contact)(session, actor,
                                                                             contact_id)
    conversation = (await service.get_conversation(session, actor, conversation_id)
                    if conversation_id else None)
    return render_page(
        request, page, "inbox/_contact.html", contact=contact, conversation=conversation,
        identities=await contacts.identities_of(session, actor, contact.id),
        custom_fields=await contacts.list_custom_fields(session, actor),
        notes=await service.list_notes(session, actor, contact.id),
        past=(await service.list_conversations(
            session, actor, ConversationFilters(contact_id=contact.id), limit=20))[0],
        directory=await Directory.load(page), revealed=revealed)


@router.get("/contacts/{contact_id}/card")
async def card(request: Request, contact_id: uuid.UUID, page: WebPage,
               c: uuid.UUID | None = None) -> Response:
    return await _card(request, page, contact_id, c)


@router.post("/contacts/{contact_id}/reveal")
async def reveal_contact(request: Request, contact_id: uuid.UUID, page: WebPage,
                         c: uuid.UUID | None = None) -> Response:
    return await _card(request, page, contact_id, c, revealed=True)


@router.post("/contacts/{contact_id}")
async def update_contact(request: Request, contact_id: uuid.UUID, page: WebPage,
                         c: uuid.UUID | None = None) -> Response:
    """One field edited inline: ``name``, ``email``, ``phone``, ``language`` or ``cf.<key>``."""
    session, actor = page.ctx.session, page.ctx.actor
    await service.require_history_visible(session, actor, contact_id)
    form = await request.form()
    changes: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in form.items():
        if key == "csrf_token":
            continue
        if key.startswith("cf."):
            # A form's "true"/"false" for yes/no fields; the API takes JSON booleans.
            custom[key[3:]] = {"": None, "true": True, "false": False}.get(value, value)
        elif key in ("name", "email", "phone", "language"):
            changes[key] = value if value != "" or key == "name" else None
    if custom:
        changes["custom_fields"] = custom
    await contacts.update_contact(session, actor, contact_id, parse_form(ContactUpdate, changes))
    return await _card(request, page, contact_id, c)


@router.post("/contacts/{contact_id}/block")
async def block_contact(request: Request, contact_id: uuid.UUID, page: WebPage,
                        blocked: str = Form(""), c: uuid.UUID | None = None) -> Response:
    """Block (``blocked=true``) or unblock the contact; the card is drawn again."""
    await service.set_blocked(page.ctx.session, page.ctx.actor, contact_id, blocked == "true")
    return await _card(request, page, contact_id, c)


@router.post("/contacts/{contact_id}/tags")
async def contact_tags(request: Request, contact_id: uuid.UUID, page: WebPage,
                       add: str = Form(""), remove: str = Form(""), c: uuid.UUID | None = None
                       ) -> Response:
    await service.require_history_visible(page.ctx.session, page.ctx.actor, contact_id)
    await contacts.change_tags(page.ctx.session, page.ctx.actor, contact_id,
                               add=[add.strip()] if add.strip() else [],
                               remove=[remove] if remove else [])
    return await _card(request, page, contact_id, c)


@router.post("/contacts/{contact_id}/notes")
async def add_contact_note(request: Request, contact_id: uuid.UUID, page: WebPage,
                           body: str = Form(""), c: uuid.UUID | None = None) -> Response:
    await service.add_note(page.ctx.session, page.ctx.actor, body=body, contact_id=contact_id)
    return await _card(request, page, contact_id, c)


@router.post("/notes/{note_id}/edit")
async def edit_note(request: Request, note_id: uuid.UUID, page: WebPage, body: str = Form(""),
                    c: uuid.UUID | None = None) -> Response:
    note = await service.update_note(page.ctx.session, page.ctx.actor, note_id, body)
    return await _card(request, page, note.contact_id, c)


@router.post("/notes/{note_id}/delete")
async def delete_note(request: Request, note_id: uuid.UUID, page: WebPage,
                      c: uuid.UUID | None = None) -> Response:
    note = await service.get_note(page.ctx.session, page.ctx.actor, note_id)
    contact_id = note.contact_id
    await service.delete_note(page.ctx.session, page.ctx.actor, note_id)
    return await _card(request, page, contact_id, c)


@router.post("/contacts/{contact_id}/call")
async def call_contact(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    """Click-to-call: the voice channel rings the agent, then the contact; the card says so."""
    placed = await calls.call_contact(
        page.ctx.session, page.ctx.actor, contact_id,
        base_url=runtime.current().settings.public_url or str(request.base_url))
    return render_page(request, page, "inbox/_call_placed.html", placed=placed)


@router.get("/contacts/{contact_id}/merge-candidates")
async def merge_candidates(request: Request, contact_id: uuid.UUID, page: WebPage,
                           q: str = "") -> Response:
    found = []
    if q.strip():
        found, _ = await contacts.search_contacts(page.ctx.session, page.ctx.actor, q=q[:100],
                                                  limit=8)
    return render_page(request, page, "inbox/_merge_candidates.html", contact_id=contact_id,
                       candidates=[c for c in found if c.id != contact_id])


@router.post("/contacts/{contact_id}/merge")
async def merge_contact(request: Request, contact_id: uuid.UUID, page: WebPage,
                        merge_id: str = Form(""), c: uuid.UUID | None = None) -> Response:
    await merge.merge_contacts(page.ctx.session, page.ctx.actor, contact_id,
                               _uuid(merge_id, "merge_id"))
    return await _card(request, page, contact_id, c)

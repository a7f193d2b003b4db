"""Conversation history export, for admins: one conversation or every conversation a filter
finds, with its messages, internal notes and what happened to it (assignments, transfers,
closes), as JSON (everything, for another system), CSV (a row per message, for a
spreadsheet) or a readable HTML transcript (printable to PDF from the browser).

The documents are built from plain dataclasses here; the HTML transcript's template lives with
the web pages. Each export is written to the audit trail.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels.models import Channel
from invekto.contacts.models import Contact
from invekto.contacts.service import masker_for
from invekto.core import tables as files
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.i18n import text as translate
from invekto.core.masking import Masker
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Conversation, ConversationEvent, Message, Note
from invekto.inbox.schemas import ConversationFilters
from invekto.routing.service import company_zone
from invekto.tenants.models import Tenant
from invekto.users.models import AgentGroup, User

FORMATS = ("json", "csv", "html")
# An export is built in memory and sent at once: beyond this, narrow the filter (by dates).
MAX_CONVERSATIONS = 5000
# Conversations read per round trip.
_CHUNK = 500
# What happened to a conversation, in its transcript between the messages.
_EVENTS = ("assigned", "transferred", "takeover", "closed", "reopened", "tagged", "untagged",
           "priority", "status")


# How the transcript names statuses, senders and events.
LABELS = {
    "open": N_("Open"), "pending": N_("Pending"), "closed": N_("Closed"),
    "contact": N_("Customer"), "agent": N_("Agent"), "bot": N_("Bot"), "system": N_("System"),
    "assigned": N_("Assigned"), "transferred": N_("Transferred"),
    "takeover": N_("Taken over by a supervisor"), "reopened": N_("Reopened"),
    "tagged": N_("Tagged"), "untagged": N_("Tag removed"), "priority": N_("Priority changed"),
    "status": N_("Status changed"), "failed": N_("Not delivered"), "delivered": N_("Delivered"),
    "read": N_("Read"), "pending_delivery": N_("Sending"),
}


@dataclass(frozen=True)
class Sender:
    kind: str  # contact, agent, bot, system
    name: str


@dataclass(frozen=True)
class ExportedMessage:
    id: uuid.UUID
    at: datetime
    direction: str
    sender: Sender
    kind: str
    text: str
    status: str
    attachment: dict | None = None  # filename, content_type, size_bytes


@dataclass(frozen=True)
class ExportedNote:
    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class ExportedEvent:
    at: datetime
    kind: str
    by: str
    data: dict


@dataclass(frozen=True)
class ExportedConversation:
    id: uuid.UUID
    channel: dict  # id, name, kind
    contact: dict  # id, name, phone, email
    status: str
    priority: str
    opened_at: datetime
    closed_at: datetime | None
    assignee: str | None
    group: str | None
    tags: list[str]
    messages: list[ExportedMessage] = field(default_factory=list)
    notes: list[ExportedNote] = field(default_factory=list)
    events: list[ExportedEvent] = field(default_factory=list)

    def thread(self) -> list[ExportedMessage | ExportedNote | ExportedEvent]:
        """Messages, notes and events in the order they happened (the transcript)."""
        return sorted([*self.messages, *self.notes, *self.events], key=lambda item: item.at)


@dataclass(frozen=True)
class Export:
    company: str
    zone: ZoneInfo
    exported_at: datetime
    conversations: list[ExportedConversation]


@dataclass(frozen=True)
class OpenedBetween:
    """Conversations opened on these local days (either end may be open)."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValidationFailed("the end date comes before the start date", field="end")


async def export_one(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                     fmt: str) -> Export:
    """One conversation (admins)."""
    _check(actor, fmt)
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    return await _export(session, actor, [conversation.id], fmt,
                         {"conversation_id": str(conversation.id)},
                         await company_zone(session, actor.tenant_id))


async def export_filtered(session: AsyncSession, actor: Actor, filters: ConversationFilters,
                          opened: OpenedBetween, fmt: str) -> Export:
    """Every conversation the inbox's filters (and the opening days) find, newest activity
    first (admins)."""
    _check(actor, fmt)
    zone = await company_zone(session, actor.tenant_id)
    query = inbox.filtered_conversations(actor, filters).with_only_columns(Conversation.id)
    if opened.start:
        query = query.where(Conversation.opened_at >= _midnight(opened.start, zone))
    if opened.end:
        query = query.where(
            Conversation.opened_at < _midnight(opened.end + timedelta(days=1), zone))
    ids = list((await session.scalars(query.order_by(
        Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(MAX_CONVERSATIONS + 1))).all())
    if len(ids) > MAX_CONVERSATIONS:
        raise ValidationFailed(
            "more than %(limit)s conversations match: narrow the filter, for example by dates",
            field="start", params={"limit": MAX_CONVERSATIONS})
    described = {key: str(value) for key, value in
                 {**filters.model_dump(exclude_defaults=True), "opened_from": opened.start,
                  "opened_to": opened.end}.items() if value is not None}
    return await _export(session, actor, ids, fmt, described, zone)


def _check(actor: Actor, fmt: str) -> None:
    actor.require(Permission.EXPORT_DATA)
    if fmt not in FORMATS:
        raise ValidationFailed("format must be one of json, csv, html", field="format")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


async def _export(session: AsyncSession, actor: Actor, ids: list[uuid.UUID], fmt: str,
                  described: dict, zone: ZoneInfo) -> Export:
    conversations = []
    masker = await masker_for(session, actor)  # an export shows no more than the screen
    for start in range(0, len(ids), _CHUNK):
        conversations += await load(session, actor.tenant_id, ids[start:start + _CHUNK],
                                     masker)
    await audit.record(session, actor, "conversations.exported", data={
        "format": fmt, "conversations": len(conversations),
        "messages": sum(len(c.messages) for c in conversations), "filters": described})
    company = await session.scalar(select(Tenant.name).where(Tenant.id == actor.tenant_id))
    return Export(company or "", zone, datetime.now(UTC), conversations)


async def load(session: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID],
                masker: Masker) -> list[ExportedConversation]:
    """The conversations with their messages, notes and events, in ``ids``' order."""
    rows = {c.id: c for c in (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id.in_(ids)))).all()}
    contacts = {c.id: c for c in (await session.scalars(select(Contact).where(
        Contact.tenant_id == tenant_id,
        Contact.id.in_({c.contact_id for c in rows.values()})))).all()}
    channels = {c.id: c for c in (await session.scalars(select(Channel).where(
        Channel.tenant_id == tenant_id))).all()}
    people = dict((await session.execute(select(User.id, User.display_name).where(
        User.tenant_id == tenant_id))).all())
    groups = dict((await session.execute(select(AgentGroup.id, AgentGroup.name).where(
        AgentGroup.tenant_id == tenant_id))).all())

    messages: dict[uuid.UUID, list[ExportedMessage]] = defaultdict(list)
    for message, attachment in await session.execute(
            select(Message, Attachment)
            .outerjoin(Attachment, Attachment.id == Message.attachment_id)
            .where(Message.tenant_id == tenant_id, Message.conversation_id.in_(ids))
            .order_by(Message.created_at, Message.id)):
        contact = contacts.get(message.contact_id)
        messages[message.conversation_id].append(ExportedMessage(
            id=message.id, at=message.created_at, direction=message.direction,
            sender=Sender(message.sender_kind, _sender_name(message, contact, people, masker)),
            kind=message.content_kind, text=message.body, status=message.status,
            attachment=None if attachment is None else {
                "filename": attachment.filename, "content_type": attachment.content_type,
                "size_bytes": attachment.size_bytes}))
    notes: dict[uuid.UUID, list[ExportedNote]] = defaultdict(list)
    for note in (await session.scalars(select(Note).where(
            Note.tenant_id == tenant_id, Note.conversation_id.in_(ids))
            .order_by(Note.created_at))).all():
        notes[note.conversation_id].append(ExportedNote(
            note.created_at, people.get(note.author_id, ""), note.body))
    events: dict[uuid.UUID, list[ExportedEvent]] = defaultdict(list)
    for event in (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.tenant_id == tenant_id, ConversationEvent.conversation_id.in_(ids),
            ConversationEvent.kind.in_(_EVENTS)).order_by(ConversationEvent.created_at))).all():
        events[event.conversation_id].append(ExportedEvent(
            event.created_at, event.kind, people.get(event.actor_user_id, ""),
            _named(event.data or {}, people, groups)))

    exported = []
    for conversation_id in ids:
        c = rows.get(conversation_id)
        if c is None:  # deleted since it was found
            continue
        contact = contacts.get(c.contact_id)
        channel = channels.get(c.channel_id)
        exported.append(ExportedConversation(
            id=c.id,
            channel={"id": str(c.channel_id), "name": channel.name if channel else "",
                     "kind": channel.kind if channel else ""},
            contact={"id": str(c.contact_id), "name": contact.name if contact else "",
                     "phone": masker.phone(contact.phone) if contact else None,
                     "email": masker.email(contact.email) if contact else None},
            status=c.status, priority=c.priority, opened_at=c.opened_at,
            closed_at=c.closed_at, assignee=people.get(c.assignee_id),
            group=groups.get(c.group_id), tags=list(c.tags or ()),
            messages=messages[c.id], notes=notes[c.id], events=events[c.id]))
    return exported


def _sender_name(message: Message, contact: Contact | None, people: dict, masker: Masker
                 ) -> str:
    if message.sender_kind == "contact":
        return masker.display_name(contact.name, contact.phone, None) if contact else ""
    if message.sender_kind == "agent":
        return people.get(message.sender_user_id, "")
    return ""


def _named(data: dict, people: dict, groups: dict) -> dict:
    """An event's data with the people and groups it names by id also named by name."""
    named = dict(data)
    for key, value in data.items():
        try:
            known = uuid.UUID(str(value))
        except ValueError:
            continue
        name = people.get(known) or groups.get(known)
        if name:
            named[key.removesuffix("_id") + "_name"] = name
    return named


# ---- documents -------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def to_json(export: Export) -> bytes:
    """Everything, times in UTC (ISO 8601), for another system."""
    return json.dumps({
        "format": "invekto.conversations/1", "company": export.company,
        "time_zone": export.zone.key, "exported_at": export.exported_at,
        "conversations": [asdict(c) for c in export.conversations],
    }, default=_plain, ensure_ascii=False, indent=1).encode()


CSV_COLUMNS = (N_("Conversation"), N_("Channel"), N_("Contact"), N_("Phone"), N_("Time"),
               N_("Direction"), N_("Sender"), N_("Sender name"), N_("Kind"), N_("Text"),
               N_("Attachment"), N_("Status"))


def to_csv(export: Export, language: str) -> bytes:
    """A row per message (times on the company's clock), for a spreadsheet."""
    return files.to_csv([translate(language, column) for column in CSV_COLUMNS],
                        _csv_rows(export.conversations), zone=export.zone)


def _csv_rows(conversations: Iterable[ExportedConversation]):
    for c in conversations:
        for m in c.messages:
            yield (str(c.id), c.channel["name"], c.contact["name"], c.contact["phone"] or "",
                   m.at, m.direction, m.sender.kind, m.sender.name, m.kind, m.text,
                   (m.attachment or {}).get("filename", ""), m.status)


def filename(export: Export, fmt: str) -> str:
    if len(export.conversations) == 1:
        return f"conversation-{export.conversations[0].id}.{fmt}"
    return f"conversations-{export.exported_at.astimezone(export.zone):%Y-%m-%d}.{fmt}"

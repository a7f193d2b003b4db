"""The website chat widget: a company's visitors write to it from the company's own website.

There is no provider between us and the visitor. The widget's script (``static/widget.js``)
calls this domain over plain HTTP and a WebSocket, from pages on the origins the channel allows.
A visitor is a contact of their own on the web chat channel: the pre-chat form (name, phone or
e-mail, KVKK consent) makes them, and a signed visitor token, kept by the browser, lets the same
visitor continue the conversation across page loads. Their messages are stored as inbound
messages at once (the request is the delivery: no webhook, nothing to batch); an agent's reply
is "sent" by the web chat adapter and read by the widget from here.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.audit.models import AuditEvent
from invekto.channels.models import Channel
from invekto.consent import service as consent
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact, ContactIdentity
from invekto.core import uploads
from invekto.core.actor import Actor
from invekto.core.crypto import SecretBox, box_for
from invekto.core.errors import (
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from invekto.core.i18n import text
from invekto.core.phone import to_e164
from invekto.core.storage import Storage
from invekto.core.text import clean_text
from invekto.db.session import Database
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Message
from invekto.inbox.schemas import InboundMessage
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.models import User
from invekto.widget.schemas import VisitorStart, WidgetConfigOut

KIND = "webchat"
# What a visitor sees of the thread: the latest messages (the widget keeps what it showed).
HISTORY = 100
MESSAGE_MAX = 4096
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# ---- the channel and the page's origin ---------------------------------------------------------

@dataclass(frozen=True)
class WidgetChannel:
    """A web chat channel as the widget's requests need it, found by id before any tenant."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    name: str
    settings: dict[str, Any]

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return parse_origins(str(self.settings.get("allowed_origins") or ""))


async def widget_channel(db: Database, channel_id: uuid.UUID) -> WidgetChannel:
    """The active web chat channel ``channel_id``; NotFound otherwise (a deleted or switched off
    channel's widget stops quietly)."""
    async with db.system_session() as session:
        channel = await session.scalar(select(Channel).where(
            Channel.id == channel_id, Channel.kind == KIND, Channel.is_active.is_(True)))
    if channel is None:
        raise NotFound("no such chat widget")
    return WidgetChannel(channel.tenant_id, channel.id, channel.name, dict(channel.settings or {}))


def parse_origins(value: str, *, field: str = "allowed_origins") -> tuple[str, ...]:
    """The origins a setting lists (separated by spaces, commas or lines), each as browsers send
    it: ``https://www.klinik.com.tr``, lower case, no path. ValidationFailed names a bad one."""
    origins = []
    for raw in re.split(r"[\s,]+", value.strip()):
        if not raw:
            continue
        parts = urlsplit(raw.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or (
                parts.query or parts.fragment or parts.username):
            raise ValidationFailed(
                "'%(origin)s' is not a website address such as https://www.example.com.tr",
                field=field, params={"origin": raw})
        origin = f"{parts.scheme}://{parts.hostname.lower()}" + (
            f":{parts.port}" if parts.port else "")
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def check_origin(channel: WidgetChannel, origin: str | None) -> str:
    """The page's origin when the channel allows it; PermissionDenied otherwise (a page that is
    not the company's own must not open its chat, nor read its visitors' replies)."""
    if origin and origin.rstrip("/").lower() in channel.allowed_origins:
        return origin
    raise PermissionDenied("this website is not allowed to use this chat widget",
                           code="origin_not_allowed")


# ---- visitors ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visitor:
    """Who a visitor token stands for."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    handle: str


def _box() -> SecretBox:
    return box_for(b"invekto/widget-visitor")


def visitor_token(visitor: Visitor) -> str:
    """Signed and encrypted (Fernet): the browser keeps it, cannot read or change it."""
    return _box().encrypt_json({"t": str(visitor.tenant_id), "c": str(visitor.channel_id),
                                "v": visitor.handle})


def visitor_of(channel: WidgetChannel, token: str | None) -> Visitor:
    """The visitor a token names, on this channel; Unauthenticated for anything else."""
    try:
        data = _box().decrypt_json(token or "")
        visitor = Visitor(uuid.UUID(data["t"]), uuid.UUID(data["c"]), str(data["v"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthenticated("the visitor token is missing or not valid",
                              code="bad_visitor_token") from exc
    if (visitor.tenant_id, visitor.channel_id) != (channel.tenant_id, channel.channel_id):
        raise Unauthenticated("the visitor token is missing or not valid",
                              code="bad_visitor_token")
    return visitor


# New visitors one address may start per hour on a company's chats: far above what the people of
# one office start, low enough that a script cannot fill the contacts with junk.
VISITORS_PER_HOUR = 20


async def _check_visitor_rate(session: AsyncSession, tenant_id: uuid.UUID, ip: str | None
                              ) -> None:
    if not ip:
        return
    started = await session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.action == CONSENT_ACTION,
        AuditEvent.occurred_at > func.now() - timedelta(hours=1),
        AuditEvent.data["ip"].astext == ip))
    if started >= VISITORS_PER_HOUR:
        raise TooManyRequests("too many chats were started from your address; please try "
                              "again later", headers={"Retry-After": "3600"})


CONSENT_ACTION = "contact.consent_given"


async def start_visitor(session: AsyncSession, channel: WidgetChannel, data: VisitorStart, *,
                        origin: str, ip: str | None = None) -> tuple[Visitor, Contact]:
    """The pre-chat form: a new contact for this visitor, their consent recorded (what they
    agreed to, when and where), and the token that lets them continue later.

    The phone number a visitor types is not proof that it is theirs, so it never links them to
    an existing contact (who would then read that contact's web chat): a number another contact
    has already is noted on the new contact for an agent to merge after a check."""
    await _check_visitor_rate(session, channel.tenant_id, ip)
    consent_text = str(channel.settings.get("consent_text") or "").strip()
    if consent_text and not data.consent:
        raise ValidationFailed("please accept the privacy notice to start the chat",
                               field="consent", code="consent_required")
    name = clean_text(data.name)
    if not name:
        raise ValidationFailed("name is required", field="name")
    phone = to_e164(data.phone) if data.phone and data.phone.strip() else None
    email = (data.email or "").strip() or None
    if email and not _EMAIL.fullmatch(email):
        raise ValidationFailed("'%(raw)s' is not an e-mail address", field="email",
                               params={"raw": email})
    if not phone and not email:
        raise ValidationFailed("enter a phone number or an e-mail address so that we can reach "
                               "you", field="phone", code="contact_required")

    visitor = Visitor(channel.tenant_id, channel.channel_id, "v_" + secrets.token_urlsafe(18))
    contact = (await contacts.find_or_create_senders(
        session, channel.tenant_id, channel.channel_id,
        [contacts.ChannelSender(visitor.handle, None, name)]))[visitor.handle]
    contact.email = email
    contact.language = data.language
    system = Actor.system(channel.tenant_id)
    holder = await session.scalar(select(Contact).where(
        Contact.tenant_id == channel.tenant_id, Contact.phone == phone)) if phone else None
    if holder is None:
        contact.phone = phone
    else:
        await session.flush()
        language = await _tenant_language(session, channel.tenant_id)
        await inbox.add_note(session, system, contact_id=contact.id, body=text(
            language, "The visitor gave the phone number %(phone)s, which %(other)s already "
            "has. If they are the same person, merge the two contacts.",
            phone=phone, other=holder.name or phone))
    await session.flush()
    await audit.record(session, system, CONSENT_ACTION, target_type="contact",
                       target_id=contact.id, data={
                           "channel_id": str(channel.channel_id), "origin": origin, "ip": ip,
                           "page": (data.page or "")[:500], "consent_text": consent_text,
                           "language": data.language})
    marketing_text = str(channel.settings.get("marketing_consent_text") or "").strip()
    if marketing_text and data.marketing_consent:
        # Marketing consent is its own box with its own text, never read into the notice.
        await consent.record_widget_consent(session, contact, text=marketing_text, evidence={
            "channel_id": str(channel.channel_id), "origin": origin, "ip": ip,
            "page": (data.page or "")[:500], "language": data.language})
    return visitor, contact


async def _tenant_language(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    return (await session.scalar(select(Tenant.default_language).where(Tenant.id == tenant_id))
            ) or "tr"


async def visitor_contact(session: AsyncSession, visitor: Visitor) -> Contact:
    """The contact behind a visitor (merged into another one, that one)."""
    contact = await session.scalar(select(Contact).join(ContactIdentity, (
        ContactIdentity.tenant_id == Contact.tenant_id) & (
        ContactIdentity.contact_id == Contact.id)).where(
        ContactIdentity.tenant_id == visitor.tenant_id,
        ContactIdentity.channel_id == visitor.channel_id,
        ContactIdentity.handle == visitor.handle))
    if contact is None:
        raise NotFound("this chat has ended; start a new one")
    return contact


# ---- messages --------------------------------------------------------------------------------

async def visitor_writes(session: AsyncSession, visitor: Visitor, *, client_id: uuid.UUID,
                         body: str, attachment: Attachment | None = None,
                         content_kind: str = "text") -> Message:
    """A visitor's message, stored as the customer's. ``client_id`` is the widget's own id for
    it: a retried or double-sent message is stored once (and returned again)."""
    body = clean_text(body or "")
    if len(body) > MESSAGE_MAX:
        raise ValidationFailed("the message is longer than %(max)s characters", field="body",
                               params={"max": MESSAGE_MAX})
    if not body and attachment is None:
        raise ValidationFailed("the message is empty", field="body")
    contact = await visitor_contact(session, visitor)
    message, _ = await inbox.receive_inbound(session, visitor.tenant_id, InboundMessage(
        channel_id=visitor.channel_id, handle=visitor.handle,
        provider_message_id=f"{visitor.handle}:{client_id}", contact_name=contact.name,
        content_kind=content_kind, body=body,
        attachment_id=attachment.id if attachment else None))
    return message


async def visitor_uploads(session: AsyncSession, storage: Storage, visitor: Visitor, *,
                          client_id: uuid.UUID, filename: str, content_type: str, data: bytes,
                          caption: str, max_bytes: int) -> Message:
    """A file from the visitor, as a message of the kind its type makes (image, document...)."""
    kind = inbox.media_kind(content_type, len(data))
    uploads.check(filename, content_type, data)
    provider_id = f"{visitor.handle}:{client_id}"
    if already := await session.scalar(select(Message).where(
            Message.tenant_id == visitor.tenant_id, Message.channel_id == visitor.channel_id,
            Message.provider_message_id == provider_id)):
        return already  # a retried upload: the file is stored once
    attachment = await inbox.store_attachment(
        session, Actor.system(visitor.tenant_id), storage, filename=filename,
        content_type=content_type, data=data, max_bytes=max_bytes)
    return await visitor_writes(session, visitor, client_id=client_id, body=caption,
                                attachment=attachment, content_kind=kind)


@dataclass(frozen=True)
class VisibleMessage:
    message: Message
    attachment: Attachment | None
    agent: User | None


async def visible_messages(session: AsyncSession, visitor: Visitor) -> list[VisibleMessage]:
    """What the visitor sees, oldest first: their own messages and the replies that went out
    to them on this channel (not what is still being sent, nor notes, nor other channels)."""
    contact = await visitor_contact(session, visitor)
    rows = (await session.execute(
        select(Message, Attachment, User)
        .outerjoin(Attachment, (Attachment.tenant_id == Message.tenant_id)
                   & (Attachment.id == Message.attachment_id))
        .outerjoin(User, (User.tenant_id == Message.tenant_id)
                   & (User.id == Message.sender_user_id))
        .where(Message.tenant_id == visitor.tenant_id, Message.channel_id == visitor.channel_id,
               Message.contact_id == contact.id,
               Message.status.in_(("sent", "delivered", "read")))
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(HISTORY))).all()
    return [VisibleMessage(m, a, u) for m, a, u in reversed(rows)]


async def visitor_read(session: AsyncSession, visitor: Visitor, up_to: uuid.UUID) -> int:
    """The widget showed the replies up to ``up_to``: they are read (the agent sees it)."""
    contact = await visitor_contact(session, visitor)
    limit = await session.scalar(select(Message.created_at).where(
        Message.tenant_id == visitor.tenant_id, Message.id == up_to,
        Message.contact_id == contact.id))
    if limit is None:
        return 0
    unread = (await session.scalars(select(Message.provider_message_id).where(
        Message.tenant_id == visitor.tenant_id, Message.channel_id == visitor.channel_id,
        Message.contact_id == contact.id, Message.direction == "outbound",
        Message.status.in_(("sent", "delivered")), Message.created_at <= limit))).all()
    for provider_id in unread:
        if provider_id:
            await inbox.update_delivery_status(
                session, visitor.tenant_id, channel_id=visitor.channel_id,
                provider_message_id=provider_id, status="read")
    return len(unread)


async def visitor_attachment(session: AsyncSession, visitor: Visitor, attachment_id: uuid.UUID
                             ) -> Attachment:
    """A file of a message the visitor can see; NotFound for any other."""
    shown = {v.attachment.id for v in await visible_messages(session, visitor) if v.attachment}
    if attachment_id not in shown:
        raise NotFound("no such file")
    return await session.get_one(Attachment, attachment_id)


# ---- what the widget shows before a chat -----------------------------------------------------

DEFAULT_COLOR = "#206bc4"


async def config(session: AsyncSession, channel: WidgetChannel, *, max_file_bytes: int
                 ) -> WidgetConfigOut:
    settings = channel.settings
    tenant_name = await session.scalar(select(Tenant.name).where(
        Tenant.id == channel.tenant_id))
    return WidgetConfigOut(
        title=str(settings.get("title") or tenant_name or channel.name),
        welcome_text=str(settings.get("welcome_text") or ""),
        consent_text=str(settings.get("consent_text") or ""),
        marketing_consent_text=str(settings.get("marketing_consent_text") or ""),
        privacy_url=str(settings.get("privacy_url") or ""),
        offline_text=str(settings.get("offline_text") or ""),
        color=str(settings.get("color") or DEFAULT_COLOR),
        online=await users.anyone_online(session, channel.tenant_id),
        max_file_bytes=max_file_bytes)


# Widget events: a message of the visitor's contact was stored or changed status.
WIDGET_EVENTS = ("message.created", "message.status")

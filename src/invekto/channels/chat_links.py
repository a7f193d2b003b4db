"""Click-to-chat: wa.me links, their QR codes and a website button, each with a pre-filled message
that ends with a reference code ("(Ref: K7Q2MX)"). A customer who sends it unchanged tells us
which campaign brought them: the code is kept on the conversation (``referral``) for reports, as
a Click-to-WhatsApp ad's referral is.
"""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import quote

import segno
from markupsafe import escape
from sqlalchemy import any_, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels.models import Channel, ChatLink
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.phone import to_e164
from invekto.core.text import clean_text
from invekto.db.queries import get_in_tenant

WHATSAPP_KINDS = ("whatsapp_cloud", "whatsapp_bsp")
# Unambiguous letters and digits (no 0/O, 1/I): codes are read off screens and QR scans.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 6
_REFERENCE = re.compile(r"\(Ref:\s*([A-Z0-9]{6})\)", re.IGNORECASE)
MAX_MESSAGE = 400


async def list_links(session: AsyncSession, actor: Actor) -> list[ChatLink]:
    actor.require(Permission.MANAGE_CONTENT)
    return list((await session.scalars(select(ChatLink).where(
        ChatLink.tenant_id == actor.tenant_id).order_by(ChatLink.created_at.desc()))).all())


async def create_link(session: AsyncSession, actor: Actor, *, channel_id: uuid.UUID, name: str,
                      phone: str, message: str) -> ChatLink:
    actor.require(Permission.MANAGE_CONTENT)
    channel = await get_in_tenant(session, Channel, actor.tenant_id, channel_id,
                                  what=N_("channel"))
    if channel.kind not in WHATSAPP_KINDS:
        raise ValidationFailed("click-to-chat links are for WhatsApp channels",
                               field="channel_id")
    name, message = clean_text(name), clean_text(message)
    if not name:
        raise ValidationFailed("name is required", field="name")
    if len(name) > 100:
        raise ValidationFailed("the name is longer than %(max)s characters", field="name",
                               params={"max": 100})
    if len(message) > MAX_MESSAGE:
        raise ValidationFailed("the message is longer than %(max)s characters", field="message",
                               params={"max": MAX_MESSAGE})
    link = ChatLink(tenant_id=actor.tenant_id, channel_id=channel.id, name=name,
                    phone=to_e164(phone), message=message, code=await _free_code(session, actor))
    session.add(link)
    await session.flush()
    await audit.record(session, actor, "chat_link.created", target_type="chat_link",
                       target_id=link.id, data={"code": link.code, "name": name})
    return link


async def delete_link(session: AsyncSession, actor: Actor, link_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_CONTENT)
    link = await get_in_tenant(session, ChatLink, actor.tenant_id, link_id, what=N_("link"))
    await session.delete(link)
    await session.flush()


async def _free_code(session: AsyncSession, actor: Actor) -> str:
    while True:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
        taken = await session.scalar(select(ChatLink.id).where(
            ChatLink.tenant_id == actor.tenant_id, ChatLink.code == code))
        if taken is None:
            return code


def prefilled(link: ChatLink) -> str:
    """The message the customer's WhatsApp opens with."""
    return f"{link.message} (Ref: {link.code})".strip()


def wa_me_url(link: ChatLink) -> str:
    return f"https://wa.me/{link.phone.lstrip('+')}?text={quote(prefilled(link))}"


def qr_svg(link: ChatLink) -> str:
    """The link as a QR code: segno's inline SVG (the URL is in its modules, never in markup),
    so a page may show it as it is."""
    return segno.make(wa_me_url(link), error="m").svg_inline(scale=4, border=2)


def website_button(link: ChatLink) -> str:
    """A floating WhatsApp button for the customer's website: plain HTML, no script."""
    url = escape(wa_me_url(link))
    return (f'<a href="{url}" target="_blank" rel="noopener" aria-label="WhatsApp" '
            'style="position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;'
            'height:56px;border-radius:50%;background:#25d366;color:#fff;display:flex;'
            'align-items:center;justify-content:center;font:600 14px sans-serif;'
            'box-shadow:0 4px 12px rgba(0,0,0,.25);text-decoration:none">WA</a>')


async def campaigns_in(session: AsyncSession, tenant_id: uuid.UUID, texts: list[str]
                       ) -> dict[str, ChatLink]:
    """The links whose reference code these messages carry, by code."""
    codes = {m.group(1).upper() for text in texts for m in _REFERENCE.finditer(text or "")}
    if not codes:
        return {}
    return {link.code: link for link in (await session.scalars(select(ChatLink).where(
        ChatLink.tenant_id == tenant_id, ChatLink.code == any_(list(codes))))).all()}


def reference_of(text: str) -> str | None:
    match = _REFERENCE.search(text or "")
    return match.group(1).upper() if match else None

"""Quick replies: the team's canned answers, offered in the composer after '/'. Everyone may use
and search them; supervisors and admins keep the list."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import memory
from invekto.audit import service as audit
from invekto.contacts import service as contacts
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import fold, like_pattern
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.replies import variables
from invekto.replies.models import SHORTCUT_PATTERN, QuickReply

MAX_BODY = 4096


async def search(session: AsyncSession, actor: Actor, q: str = "", *, limit: int = 20
                 ) -> list[QuickReply]:
    """By shortcut prefix or any words of the text, accent- and case-folded (Turkish İ/ı)."""
    query = select(QuickReply).where(QuickReply.tenant_id == actor.tenant_id)
    needle = fold(q)
    if needle:
        query = query.where(or_(
            QuickReply.shortcut.startswith(needle, autoescape=True),
            func.lower(func.unaccent(QuickReply.body)).like(like_pattern(needle))))
    return list((await session.scalars(query.order_by(QuickReply.shortcut).limit(limit))).all())


async def create(session: AsyncSession, actor: Actor, *, shortcut: str, body: str,
                 attachment_id: uuid.UUID | None = None) -> QuickReply:
    actor.require(Permission.MANAGE_CONTENT)
    reply = QuickReply(tenant_id=actor.tenant_id, attachment_id=attachment_id)
    _apply(reply, shortcut, body)
    await check_text(session, actor, reply.body)
    session.add(reply)
    await flush_unique(session, "this shortcut is already in use", field="shortcut")
    await memory.quick_replies_changed(session, actor.tenant_id)
    await audit.record(session, actor, "quick_reply.created", target_type="quick_reply",
                       target_id=reply.id, after={"shortcut": reply.shortcut})
    return reply


async def update(session: AsyncSession, actor: Actor, reply_id: uuid.UUID, *, shortcut: str,
                 body: str, attachment_id: uuid.UUID | None = None,
                 remove_file: bool = False) -> QuickReply:
    """``attachment_id`` replaces the file, ``remove_file`` drops it; neither keeps it."""
    actor.require(Permission.MANAGE_CONTENT)
    reply = await get_in_tenant(session, QuickReply, actor.tenant_id, reply_id,
                                what=N_("quick reply"))
    before = {"shortcut": reply.shortcut, "body": reply.body}
    _apply(reply, shortcut, body)
    await check_text(session, actor, reply.body)
    if attachment_id is not None or remove_file:
        reply.attachment_id = attachment_id
    await flush_unique(session, "this shortcut is already in use", field="shortcut")
    await memory.quick_replies_changed(session, actor.tenant_id)
    await audit.record(session, actor, "quick_reply.updated", target_type="quick_reply",
                       target_id=reply.id, **audit.diff(before, {
                           "shortcut": reply.shortcut, "body": reply.body}))
    return reply


async def get(session: AsyncSession, actor: Actor, reply_id: uuid.UUID) -> QuickReply:
    """Anyone of the company may use a quick reply."""
    return await get_in_tenant(session, QuickReply, actor.tenant_id, reply_id,
                               what=N_("quick reply"))


async def delete(session: AsyncSession, actor: Actor, reply_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_CONTENT)
    reply = await get_in_tenant(session, QuickReply, actor.tenant_id, reply_id,
                                what=N_("quick reply"))
    await session.delete(reply)
    await session.flush()
    await memory.quick_replies_changed(session, actor.tenant_id)
    await audit.record(session, actor, "quick_reply.deleted", target_type="quick_reply",
                       target_id=reply_id, before={"shortcut": reply.shortcut})


async def check_text(session: AsyncSession, actor: Actor, text: str, *,
                     field: str = "body",
                     extra: Mapping[str, tuple[str, ...]] | None = None) -> None:
    """Refuse a text whose variables would not render (``variables.check``), with this
    company's custom fields known (and ``extra``: what an automation event offers)."""
    if "{" in text:
        keys = tuple(f.key for f in await contacts.list_custom_fields(session, actor))
        variables.check(text, keys, field=field, extra=extra)


def _apply(reply: QuickReply, shortcut: str, body: str) -> None:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not re.fullmatch(SHORTCUT_PATTERN, shortcut):
        raise ValidationFailed("a shortcut is 1 to 30 lowercase letters, digits, - or _",
                               field="shortcut")
    body = body.strip()
    if not body:
        raise ValidationFailed("the reply text is empty", field="body")
    if len(body) > MAX_BODY:
        raise ValidationFailed("the reply text is longer than 4096 characters", field="body")
    reply.shortcut, reply.body = shortcut, body

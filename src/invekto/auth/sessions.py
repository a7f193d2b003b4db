"""Browser sessions as their people see them: one's own (each device, where from, since when,
last seen), ended one at a time or all but the current one; and, for who manages users,
another user's. An ended session is refused from its next request on (``authenticate_session``
finds no row).

A session lives until it has been idle for the company's idle limit, and at most its absolute
limit after it began (``auth.policy``); ``expires_at`` is kept at the nearer of the two as
requests slide it forward, so the hourly clean-up finds the dead ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth import policy
from invekto.auth.models import UserSession
from invekto.core import security
from invekto.core.actor import Actor, Permission
from invekto.core.errors import NotFound, ValidationFailed
from invekto.core.i18n import N_
from invekto.users import service as users


def expiry(created_at: datetime, last_seen_at: datetime, limits: policy.SecurityPolicy
           ) -> datetime:
    """When a session seen last at ``last_seen_at`` ends if nothing more is heard from it."""
    return min(last_seen_at + limits.session_idle, created_at + limits.session_absolute)


# ---- what a user agent says --------------------------------------------------------------------

# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
             ("python-httpx", "httpx"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def device_of(user_agent: str) -> str:
    """"Chrome on Windows", from the user agent; "Unknown device" when it says nothing known.
    Only to tell one's sessions apart: a user agent is whatever the client claims."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or N_("Unknown device")


@dataclass(frozen=True)
class SessionView:
    id: uuid.UUID
    device: str
    user_agent: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


async def _views(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID,
                 current_secret: str | None) -> list[SessionView]:
    limits = await policy.policy_of(session, tenant_id)
    current_hash = security.token_digest(current_secret) if current_secret else None
    rows = (await session.scalars(select(UserSession).where(
        UserSession.tenant_id == tenant_id, UserSession.user_id == user_id)
        .order_by(UserSession.last_seen_at.desc()))).all()
    now = datetime.now(UTC)
    views = []
    for row in rows:
        ends = expiry(row.created_at, row.last_seen_at, limits)
        if ends <= now:
            continue  # over, if not yet cleaned up
        views.append(SessionView(
            id=row.id, device=device_of(row.user_agent), user_agent=row.user_agent,
            ip=str(row.ip) if row.ip else None, created_at=row.created_at,
            last_seen_at=row.last_seen_at, expires_at=ends,
            current=current_hash is not None and row.token_hash == current_hash))
    return views


def _person(actor: Actor) -> uuid.UUID:
    if actor.user_id is None:
        raise ValidationFailed("an API key has no sessions")
    return actor.user_id


# ---- one's own ---------------------------------------------------------------------------------

async def list_own(session: AsyncSession, actor: Actor, current_secret: str | None
                   ) -> list[SessionView]:
    return await _views(session, actor.tenant_id, _person(actor), current_secret)


async def end_own(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> None:
    """End one of one's sessions (the current one too: that is logging out)."""
    if actor.user_id is None:
        raise NotFound("session not found")  # an API key has none to end
    await _end(session, actor, actor.user_id, session_id, action="auth.session_ended")


async def end_own_others(session: AsyncSession, actor: Actor, current_secret: str | None
                         ) -> int:
    """End every session of one's but the one asking."""
    user_id = _person(actor)
    query = delete(UserSession).where(UserSession.tenant_id == actor.tenant_id,
                                      UserSession.user_id == user_id)
    if current_secret:
        query = query.where(UserSession.token_hash != security.token_digest(current_secret))
    ended = (await session.execute(query)).rowcount
    await audit.record(session, actor, "auth.sessions_ended", target_type="user",
                       target_id=user_id, data={"count": ended, "others": True})
    return ended


# ---- another user's ----------------------------------------------------------------------------

async def list_for_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID
                        ) -> list[SessionView]:
    actor.require(Permission.MANAGE_USERS)
    user = await users.get_user(session, actor, user_id)
    # "current" marks the asker's own session when they look at themselves.
    return await _views(session, actor.tenant_id, user.id, None)


async def counts_by_user(session: AsyncSession, actor: Actor) -> dict[uuid.UUID, int]:
    """How many sessions each user of the company has open (roughly: those the clean-up has
    not reached yet may be idle past their limit)."""
    actor.require(Permission.MANAGE_USERS)
    rows = await session.execute(select(UserSession.user_id, func.count()).where(
        UserSession.tenant_id == actor.tenant_id, UserSession.expires_at > datetime.now(UTC))
        .group_by(UserSession.user_id))
    return {user_id: count for user_id, count in rows}


async def end_for_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID,
                       session_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_USERS)
    user = await users.get_user(session, actor, user_id)
    await _end(session, actor, user.id, session_id, action="auth.session_ended")


async def end_all_for_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> int:
    actor.require(Permission.MANAGE_USERS)
    user = await users.get_user(session, actor, user_id)
    ended = (await session.execute(delete(UserSession).where(
        UserSession.tenant_id == actor.tenant_id, UserSession.user_id == user.id))).rowcount
    await audit.record(session, actor, "auth.sessions_ended", target_type="user",
                       target_id=user.id, data={"count": ended})
    return ended


async def _end(session: AsyncSession, actor: Actor, user_id: uuid.UUID, session_id: uuid.UUID,
               *, action: str) -> None:
    result = await session.execute(delete(UserSession).where(
        UserSession.tenant_id == actor.tenant_id, UserSession.user_id == user_id,
        UserSession.id == session_id))
    if result.rowcount == 0:
        raise NotFound("session not found")
    await audit.record(session, actor, action, target_type="user", target_id=user_id,
                       data={"session_id": str(session_id)})

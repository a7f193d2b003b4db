"""Login, browser sessions, API keys and password changes.

Credentials carry their tenant id in clear (``<tenant>.<token>`` cookies, ``ivk_<tenant>_<token>``
keys) so that even authentication runs inside the tenant's row-level-security scope; only the
SHA-256 of the secret part is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth.models import ApiKey, LoginAttempt, UserSession
from invekto.core import security
from invekto.core.actor import ROLE_RANK, Actor
from invekto.core.errors import NotFound, Unauthenticated, ValidationFailed
from invekto.users import service as users
from invekto.users.models import User

API_KEY_PREFIX = "ivk_"
# Writing last_seen_at on every request would turn each read into a write.
_TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class LoginResult:
    user: User | None = None
    session_token: str | None = None  # the cookie value, "<tenant_id>.<secret>"
    locked_for: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def _now() -> datetime:
    return datetime.now(UTC)


def split_credential(value: str, *, prefix: str = "", sep: str = ".") -> tuple[uuid.UUID, str]:
    """``<tenant uuid><sep><secret>`` → (tenant id, secret); Unauthenticated if malformed."""
    if not value.startswith(prefix):
        raise Unauthenticated("credentials are malformed")
    tenant_part, _, secret = value[len(prefix):].partition(sep)
    try:
        return uuid.UUID(tenant_part), secret
    except ValueError as exc:
        raise Unauthenticated("credentials are malformed") from exc


# ---- login -------------------------------------------------------------------------------------

async def login(session: AsyncSession, *, tenant_id: uuid.UUID, username: str, password: str,
                ip: str | None, user_agent: str = "", policy: LoginPolicy = LoginPolicy()
                ) -> LoginResult:
    """Check a password with throttling. Never raises for bad credentials: the attempt must be
    committed either way, so the caller commits and then reports the failure."""
    username = username.strip().lower()[:64]
    actor = Actor(tenant_id=tenant_id, role="agent", kind="system", ip=ip)
    now = _now()
    locked_for = await _lockout_remaining(session, tenant_id, username, now, policy)
    if locked_for is not None:
        await audit.record(session, actor, "auth.login_blocked", data={"username": username})
        return LoginResult(locked_for=locked_for)

    user = await users.find_by_username(session, tenant_id, username)
    valid = security.verify_password(user.password_hash if user else None, password)
    ok = bool(valid and user and user.is_active)
    session.add(LoginAttempt(tenant_id=tenant_id, username=username, ip=ip, succeeded=ok,
                             attempted_at=now))
    if not ok:
        await audit.record(session, actor, "auth.login_failed", data={"username": username})
        if await _lockout_remaining(session, tenant_id, username, now, policy) is not None:
            await audit.record(session, actor, "auth.locked_out", data={"username": username})
        return LoginResult()

    assert user is not None
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = now
    token = await _open_session(session, user, ip=ip, user_agent=user_agent, now=now,
                                lifetime=policy.session_lifetime)
    await audit.record(session, _user_actor(user, ip), "auth.login", target_type="user",
                       target_id=user.id)
    return LoginResult(user=user, session_token=token)


async def _lockout_remaining(session: AsyncSession, tenant_id: uuid.UUID, username: str,
                             now: datetime, policy: LoginPolicy) -> timedelta | None:
    window_start = now - policy.lockout
    last_success = select(func.max(LoginAttempt.attempted_at)).where(
        LoginAttempt.tenant_id == tenant_id, LoginAttempt.username == username,
        LoginAttempt.succeeded).scalar_subquery()
    count, latest = (await session.execute(
        select(func.count(), func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.tenant_id == tenant_id, LoginAttempt.username == username,
            LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at > window_start,
            LoginAttempt.attempted_at > func.coalesce(last_success, window_start),
        ))).one()
    if count < policy.max_failures:
        return None
    return latest + policy.lockout - now


async def _open_session(session: AsyncSession, user: User, *, ip: str | None, user_agent: str,
                        now: datetime, lifetime: timedelta) -> str:
    secret = security.new_token()
    session.add(UserSession(
        tenant_id=user.tenant_id, user_id=user.id, token_hash=security.token_digest(secret),
        created_at=now, expires_at=now + lifetime, last_seen_at=now, ip=ip,
        user_agent=user_agent[:400],
    ))
    await session.flush()
    return f"{user.tenant_id}.{secret}"


def _user_actor(user: User, ip: str | None = None,
                group_ids: frozenset[uuid.UUID] = frozenset()) -> Actor:
    return Actor(tenant_id=user.tenant_id, role=user.role, kind="user", user_id=user.id,
                 group_ids=group_ids, language=user.language, ip=ip)


# ---- authenticating requests -------------------------------------------------------------------

async def authenticate_session(session: AsyncSession, tenant_id: uuid.UUID, secret: str, *,
                               ip: str | None = None,
                               lifetime: timedelta = LoginPolicy.session_lifetime) -> Actor:
    now = _now()
    row = (await session.execute(
        select(UserSession, User).join(User, User.id == UserSession.user_id).where(
            UserSession.tenant_id == tenant_id,
            UserSession.token_hash == security.token_digest(secret),
            UserSession.expires_at > now, User.is_active)
    )).first()
    if row is None:
        raise Unauthenticated("your session has ended; please log in again")
    user_session, user = row
    if now - user_session.last_seen_at > _TOUCH_INTERVAL:
        # Sliding expiry: an agent working every day is not logged out mid-shift.
        user_session.last_seen_at = now
        user_session.expires_at = now + lifetime
    group_ids = await users.group_ids_of(session, tenant_id, user.id)
    return _user_actor(user, ip, group_ids)


async def authenticate_api_key(session: AsyncSession, tenant_id: uuid.UUID, secret: str, *,
                               ip: str | None = None) -> Actor:
    key = await session.scalar(select(ApiKey).where(
        ApiKey.tenant_id == tenant_id, ApiKey.secret_hash == security.token_digest(secret),
        ApiKey.revoked_at.is_(None)))
    if key is None:
        raise Unauthenticated("API key is not valid")
    now = _now()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_INTERVAL:
        key.last_used_at = now
    return Actor(tenant_id=tenant_id, role=key.role, kind="api_key", api_key_id=key.id, ip=ip)


async def logout(session: AsyncSession, actor: Actor, secret: str) -> None:
    await session.execute(delete(UserSession).where(
        UserSession.tenant_id == actor.tenant_id,
        UserSession.token_hash == security.token_digest(secret)))
    await audit.record(session, actor, "auth.logout", target_type="user", target_id=actor.user_id)


async def end_all_sessions(session: AsyncSession, actor: Actor, user_id: uuid.UUID, *,
                           except_secret: str | None = None) -> None:
    query = delete(UserSession).where(UserSession.tenant_id == actor.tenant_id,
                                      UserSession.user_id == user_id)
    if except_secret:
        query = query.where(UserSession.token_hash != security.token_digest(except_secret))
    await session.execute(query)


async def change_password(session: AsyncSession, actor: Actor, *, current_password: str,
                          new_password: str, keep_session_secret: str | None = None) -> None:
    if actor.user_id is None:
        raise ValidationFailed("only a person has a password", field="current_password")
    user = await users.get_user(session, actor, actor.user_id)
    if not security.verify_password(user.password_hash, current_password):
        raise ValidationFailed("current password is wrong", field="current_password")
    users.check_password_strength(new_password, username=user.username, field="new_password")
    if new_password == current_password:
        raise ValidationFailed("new password must differ from the current one",
                               field="new_password")
    user.password_hash = security.hash_password(new_password)
    user.password_changed_at = _now()
    # Anyone else holding a session of this user (a stolen cookie) is logged out.
    await end_all_sessions(session, actor, user.id, except_secret=keep_session_secret)
    await audit.record(session, actor, "auth.password_changed", target_type="user",
                       target_id=user.id)


# ---- API keys ----------------------------------------------------------------------------------

async def create_api_key(session: AsyncSession, actor: Actor, *, name: str, role: str = "admin"
                         ) -> tuple[ApiKey, str]:
    """Returns the key row and the full key, which is shown once and never stored."""
    actor.require("admin")
    if not name.strip():
        raise ValidationFailed("name is required", field="name")
    if role not in ROLE_RANK:
        raise ValidationFailed(f"role must be one of {', '.join(ROLE_RANK)}", field="role")
    secret = security.new_token()
    full_key = f"{API_KEY_PREFIX}{actor.tenant_id.hex}_{secret}"
    key = ApiKey(tenant_id=actor.tenant_id, name=name.strip(), role=role,
                 secret_hash=security.token_digest(secret),
                 display_prefix=f"{API_KEY_PREFIX}…{secret[-4:]}", created_by_id=actor.user_id)
    session.add(key)
    await session.flush()
    await audit.record(session, actor, "api_key.created", target_type="api_key",
                       target_id=key.id, data={"name": key.name, "role": role})
    return key, full_key


async def list_api_keys(session: AsyncSession, actor: Actor) -> list[ApiKey]:
    actor.require("admin")
    return list((await session.scalars(select(ApiKey).where(
        ApiKey.tenant_id == actor.tenant_id).order_by(ApiKey.created_at))).all())


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID) -> None:
    actor.require("admin")
    result = await session.execute(update(ApiKey).where(
        ApiKey.tenant_id == actor.tenant_id, ApiKey.id == key_id,
        ApiKey.revoked_at.is_(None)).values(revoked_at=_now()))
    if result.rowcount == 0:
        raise NotFound("API key not found")
    await audit.record(session, actor, "api_key.revoked", target_type="api_key",
                       target_id=key_id)


# ---- housekeeping ------------------------------------------------------------------------------

async def prune(session: AsyncSession, *, keep_attempts: timedelta = timedelta(days=30)
                ) -> tuple[int, int]:
    """Delete expired sessions and old login attempts (system scope). Returns the counts."""
    now = _now()
    sessions = await session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    attempts = await session.execute(delete(LoginAttempt).where(
        LoginAttempt.attempted_at < now - keep_attempts))
    return sessions.rowcount, attempts.rowcount

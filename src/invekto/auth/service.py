"""Login (with its second step when two-factor authentication asks for one), browser
sessions, API keys and password changes.

Credentials carry their tenant id in clear (``<tenant>.<token>`` cookies, ``ivk_<tenant>_<token>``
keys) so that even authentication runs inside the tenant's row-level-security scope; only the
SHA-256 of the secret part is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth import lockout, two_factor
from invekto.auth import policy as security_policy
from invekto.auth.lockout import LoginPolicy
from invekto.auth.models import ApiKey, LoginAttempt, SecuritySettings, SsoSettings, UserSession
from invekto.auth.sessions import expiry
from invekto.core import security
from invekto.core.actor import PERMISSION_NAMES, ROLE_PERMISSIONS, ROLE_RANK, Actor, Permission
from invekto.core.errors import NotFound, Unauthenticated, ValidationFailed
from invekto.users import roles
from invekto.users import service as users
from invekto.users.models import User

API_KEY_PREFIX = "ivk_"
# Writing last_seen_at on every request would turn each read into a write.
_TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class LoginResult:
    user: User | None = None
    session_token: str | None = None  # the cookie value, "<tenant_id>.<secret>"
    locked_for: timedelta | None = None
    # The password was right and a second step is owed before a session (two_factor).
    pending: two_factor.Pending | None = None
    # Two-factor authentication set up at this login: its recovery codes, shown once.
    recovery_codes: list[str] | None = None
    # Why a login got nowhere other than wrong credentials: "sso_required" (the company signs
    # in through its identity provider), "code_invalid", "pending_expired".
    refusal: str | None = None
    # The session's longest life: the cookie's max age.
    session_lifetime: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.session_token is not None


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
    committed either way, so the caller commits and then reports the failure.

    A right password opens a session, or, for a user with two-factor authentication (or
    without it in a company that requires it), a pending login (``two_factor``) whose token
    only ``complete_login`` takes."""
    username = username.strip().lower()[:64]
    actor = Actor(tenant_id=tenant_id, role="agent", kind="system", ip=ip)
    now = _now()
    locked_for = await lockout.remaining(session, tenant_id, username, now, policy)
    if locked_for is not None:
        await audit.record(session, actor, "auth.login_blocked", data={"username": username})
        return LoginResult(locked_for=locked_for)

    user = await users.find_by_username(session, tenant_id, username)
    if await _sso_only_for(session, tenant_id, user):
        # The same work as a password check, so the answer's timing tells nobody whether
        # the username belongs to a break-glass admin.
        security.verify_password(None, password)
        await audit.record(session, actor, "auth.login_refused", data={
            "username": username, "reason": "sso_only"})
        return LoginResult(refusal="sso_required")
    valid = security.verify_password(user.password_hash if user else None, password)
    ok = bool(valid and user and user.is_active)
    if not ok:
        lockout.record(session, tenant_id, username, ip=ip, succeeded=False, now=now)
        await audit.record(session, actor, "auth.login_failed", data={"username": username})
        if await lockout.remaining(session, tenant_id, username, now, policy) is not None:
            await audit.record(session, actor, "auth.locked_out", data={"username": username})
        return LoginResult()

    assert user is not None
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    limits = await security_policy.policy_of(session, tenant_id)
    has_two_factor = await two_factor.is_enabled(session, tenant_id, user.id)
    if has_two_factor or limits.require_two_factor:
        step = "verify" if has_two_factor else "enrol"
        pending = await two_factor.begin_pending(session, user, purpose=step, ip=ip,
                                                 user_agent=user_agent, now=now)
        # No attempt is recorded yet: a success would wipe out the failures that wrong codes
        # add up, and the password alone would buy unlimited tries at the code.
        await audit.record(session, _user_actor(user, ip), "auth.password_accepted",
                           target_type="user", target_id=user.id, data={"next": step})
        return LoginResult(pending=pending)
    lockout.record(session, tenant_id, username, ip=ip, succeeded=True, now=now)
    return await open_login(session, user, ip=ip, user_agent=user_agent, now=now,
                            limits=limits)


async def complete_login(session: AsyncSession, *, tenant_id: uuid.UUID, pending_secret: str,
                         code: str, ip: str | None, user_agent: str = "",
                         policy: LoginPolicy = LoginPolicy()) -> LoginResult:
    """The second step of a pending login: a code (or a recovery code) for "verify"; for
    "enrol", a code of the app being set up, which turns two-factor authentication on. Like
    ``login``, never raises for a wrong code (the failed attempt must be committed)."""
    now = _now()
    pending = await two_factor.find_pending(session, tenant_id, pending_secret, lock=True)
    user = await session.get(User, pending.user_id) if pending is not None else None
    if pending is None or user is None or not user.is_active:
        return LoginResult(refusal="pending_expired")
    actor = _user_actor(user, ip)
    recovery_codes = None
    if pending.purpose == "verify":
        check = await two_factor.check_code(session, user, code, actor=actor, policy=policy,
                                            now=now)
        if check.locked_for is not None:
            await session.delete(pending)  # the password must be typed again
            return LoginResult(locked_for=check.locked_for)
        if not check.ok:
            return LoginResult(refusal="code_invalid")
        how = check.kind
    else:
        locked_for = await lockout.remaining(session, tenant_id, user.username, now, policy)
        if locked_for is not None:
            await session.delete(pending)
            await audit.record(session, actor, "auth.login_blocked",
                               data={"username": user.username, "step": "2fa"})
            return LoginResult(locked_for=locked_for)
        recovery_codes = await two_factor.enrol_from_pending(session, user, pending, code, now,
                                                             actor=actor)
        if recovery_codes is None:
            await two_factor.record_failure(session, user, actor=actor, policy=policy, now=now)
            return LoginResult(refusal="code_invalid")
        how = "enrolled"
    await session.delete(pending)
    lockout.record(session, tenant_id, user.username, ip=ip, succeeded=True, now=now)
    result = await open_login(session, user, ip=ip, user_agent=user_agent, now=now,
                              limits=await security_policy.policy_of(session, tenant_id),
                              data={"two_factor": how})
    return replace(result, recovery_codes=recovery_codes)


async def _sso_only_for(session: AsyncSession, tenant_id: uuid.UUID, user: User | None
                        ) -> bool:
    """Whether the company refuses passwords (single sign-on only) to this user: to all but
    those who manage security, the way in should the identity provider fail."""
    sso_only = await session.scalar(select(SsoSettings.sso_only).where(
        SsoSettings.tenant_id == tenant_id, SsoSettings.enabled))
    if not sso_only:
        return False
    if user is None or not user.is_active:
        return True
    return not (await roles.actor_for(session, user)).can(Permission.MANAGE_SECURITY)


async def open_login(session: AsyncSession, user: User, *, ip: str | None, user_agent: str,
                     now: datetime, limits: security_policy.SecurityPolicy,
                     data: dict | None = None) -> LoginResult:
    """A finished login (password, second step or single sign-on): a session, audited."""
    user.last_login_at = now
    secret = security.new_token()
    session.add(UserSession(
        tenant_id=user.tenant_id, user_id=user.id, token_hash=security.token_digest(secret),
        created_at=now, expires_at=expiry(now, now, limits), last_seen_at=now,
        ip=ip, user_agent=user_agent[:400],
    ))
    await session.flush()
    await audit.record(session, _user_actor(user, ip), "auth.login", target_type="user",
                       target_id=user.id, data=data)
    return LoginResult(user=user, session_token=f"{user.tenant_id}.{secret}",
                       session_lifetime=limits.session_absolute)


def _user_actor(user: User, ip: str | None = None,
                group_ids: frozenset[uuid.UUID] = frozenset()) -> Actor:
    return Actor(tenant_id=user.tenant_id, role=user.role, kind="user", user_id=user.id,
                 group_ids=group_ids, language=user.language, ip=ip)


# ---- authenticating requests -------------------------------------------------------------------

async def authenticate_session(session: AsyncSession, tenant_id: uuid.UUID, secret: str, *,
                               ip: str | None = None,
                               lifetime: timedelta = LoginPolicy.session_lifetime,
                               touch: bool = True) -> Actor:
    """The session's person, if the session is alive: not ended, its user active, heard from
    within the company's idle limit and younger than its absolute limit (``lifetime`` when the
    company chose none), both read with the session in one query. ``touch=False``: a check
    that is not the person's activity (an open tab's automatic ping) and so does not extend
    the idle limit."""
    now = _now()
    row = (await session.execute(
        select(UserSession, User, SecuritySettings.session_idle_minutes,
               SecuritySettings.session_absolute_hours)
        .join(User, User.id == UserSession.user_id)
        .outerjoin(SecuritySettings, SecuritySettings.tenant_id == UserSession.tenant_id)
        .where(UserSession.tenant_id == tenant_id,
               UserSession.token_hash == security.token_digest(secret),
               UserSession.expires_at > now, User.is_active)
    )).first()
    if row is None:
        raise Unauthenticated("your session has ended; please log in again")
    user_session, user, idle_minutes, absolute_hours = row
    idle = timedelta(minutes=idle_minutes or security_policy.DEFAULT_IDLE_MINUTES)
    absolute = timedelta(hours=absolute_hours) if absolute_hours else lifetime
    ends = min(user_session.last_seen_at + idle, user_session.created_at + absolute)
    if ends <= now:
        raise Unauthenticated("your session has ended; please log in again")
    if touch and now - user_session.last_seen_at > _TOUCH_INTERVAL:
        # Sliding expiry within the absolute limit: an agent working every day is not logged
        # out mid-shift, and a stolen cookie does not live for ever.
        user_session.last_seen_at = now
        user_session.expires_at = min(now + idle, user_session.created_at + absolute)
    return await roles.actor_for(session, user, ip=ip)


async def authenticate_api_key(session: AsyncSession, tenant_id: uuid.UUID, secret: str, *,
                               ip: str | None = None) -> Actor:
    key = await session.scalar(select(ApiKey).where(
        ApiKey.tenant_id == tenant_id, ApiKey.secret_hash == security.token_digest(secret),
        ApiKey.revoked_at.is_(None)))
    if key is None:
        raise Unauthenticated("API key is not valid")
    now = _now()
    # Scopes narrow the role: the key may do what both allow (none: all the role allows).
    granted = (ROLE_PERMISSIONS[key.role] & roles.permission_set(key.scopes)
               if key.scopes else None)
    actor = Actor(tenant_id=tenant_id, role=key.role, kind="api_key", api_key_id=key.id, ip=ip,
                  granted=granted)
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_INTERVAL:
        key.last_used_at = now
        # Use of a key is on the audit trail at the same pace (at most every few minutes, from
        # where): enough to see a leaked key at work without a row per request.
        await audit.record(session, actor, "api_key.used", target_type="api_key",
                           target_id=key.id)
    return actor


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
    users.check_password_strength(
        new_password, username=user.username, field="new_password",
        policy=await security_policy.password_policy(session, actor.tenant_id))
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

# Requests a minute an API key may make (decisions/0024), unless set otherwise for the key.
DEFAULT_RATE_LIMIT = 600
MAX_RATE_LIMIT = 100_000


def _checked_scopes(scopes: list[str], role: str) -> list[str]:
    """Permission names the key is narrowed to: known ones, within what its role allows."""
    unknown = sorted({name for name in scopes if name not in PERMISSION_NAMES})
    if unknown:
        raise ValidationFailed("unknown scope: %(names)s", field="scopes",
                               params={"names": ", ".join(unknown)})
    beyond = sorted({name for name in scopes} - {p.value for p in ROLE_PERMISSIONS[role]})
    if beyond:
        raise ValidationFailed("the %(role)s role does not allow: %(names)s", field="scopes",
                               params={"role": role, "names": ", ".join(beyond)})
    return sorted(set(scopes))


def _checked_rate_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_RATE_LIMIT:
        raise ValidationFailed("the limit must be between 1 and %(max)s requests a minute",
                               field="rate_limit_per_minute", params={"max": MAX_RATE_LIMIT})
    return limit


async def create_api_key(session: AsyncSession, actor: Actor, *, name: str, role: str = "admin",
                         scopes: list[str] | None = None,
                         rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
                         ) -> tuple[ApiKey, str]:
    """Returns the key row and the full key, which is shown once and never stored.
    ``scopes``: permission names narrowing the role (none: all it allows)."""
    actor.require(Permission.MANAGE_SECURITY)
    if not name.strip():
        raise ValidationFailed("name is required", field="name")
    if role not in ROLE_RANK:
        raise ValidationFailed(f"role must be one of {', '.join(ROLE_RANK)}", field="role")
    scopes = _checked_scopes(scopes or [], role)
    rate_limit_per_minute = _checked_rate_limit(rate_limit_per_minute)
    secret = security.new_token()
    full_key = f"{API_KEY_PREFIX}{actor.tenant_id.hex}_{secret}"
    key = ApiKey(tenant_id=actor.tenant_id, name=name.strip(), role=role, scopes=scopes,
                 rate_limit_per_minute=rate_limit_per_minute,
                 secret_hash=security.token_digest(secret),
                 display_prefix=f"{API_KEY_PREFIX}…{secret[-4:]}", created_by_id=actor.user_id)
    session.add(key)
    await session.flush()
    await audit.record(session, actor, "api_key.created", target_type="api_key",
                       target_id=key.id, data={
                           "name": key.name, "role": role,
                           # What differs from a plain key of the role, only.
                           **({"scopes": scopes} if scopes else {}),
                           **({"rate_limit_per_minute": rate_limit_per_minute}
                              if rate_limit_per_minute != DEFAULT_RATE_LIMIT else {})})
    return key, full_key


async def update_api_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID, *,
                         name: str | None = None, scopes: list[str] | None = None,
                         rate_limit_per_minute: int | None = None) -> ApiKey:
    """A key's name, scopes or rate limit (its role and secret stay)."""
    actor.require(Permission.MANAGE_SECURITY)
    key = await session.scalar(select(ApiKey).where(
        ApiKey.tenant_id == actor.tenant_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None)))
    if key is None:
        raise NotFound("API key not found")
    changes: dict = {}
    if name is not None:
        if not name.strip():
            raise ValidationFailed("name is required", field="name")
        changes["name"] = name.strip()
    if scopes is not None:
        changes["scopes"] = _checked_scopes(scopes, key.role)
    if rate_limit_per_minute is not None:
        changes["rate_limit_per_minute"] = _checked_rate_limit(rate_limit_per_minute)
    before = {field: getattr(key, field) for field in changes}
    for field, value in changes.items():
        setattr(key, field, value)
    await session.flush()
    await audit.record(session, actor, "api_key.updated", target_type="api_key",
                       target_id=key.id, **audit.diff(before, changes))
    return key


async def list_api_keys(session: AsyncSession, actor: Actor) -> list[ApiKey]:
    actor.require(Permission.MANAGE_SECURITY)
    return list((await session.scalars(select(ApiKey).where(
        ApiKey.tenant_id == actor.tenant_id).order_by(ApiKey.created_at))).all())


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_SECURITY)
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
    """Delete expired sessions and pending logins, and old login attempts (system scope).
    Returns the counts of sessions and attempts."""
    now = _now()
    sessions = await session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    attempts = await session.execute(delete(LoginAttempt).where(
        LoginAttempt.attempted_at < now - keep_attempts))
    await two_factor.prune_pending(session)
    return sessions.rowcount, attempts.rowcount

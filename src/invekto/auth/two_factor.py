"""Two-factor authentication: a user's authenticator app (TOTP) and recovery codes, and the
pending logins that wait for a code between the password and the session.

Setting up: ``start_enrolment`` keeps a new secret, unconfirmed; ``confirm_enrolment`` with a
code the app made turns it on and hands out ten recovery codes (shown once, stored as keyed
digests). Turning it off or making new recovery codes takes a current code.

Every code checked for a person (``check_code``) is throttled with the passwords
(``auth.lockout``): a wrong one is a failed attempt of the username. A code is accepted once:
the time step it belongs to is remembered and only later ones are taken, under the row's lock
so two requests with the same code cannot both pass.

A check that fails is not an exception: the failed attempt and its audit entry must be
committed, so the caller commits first and then reports ``CodeCheck.error()``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth import lockout, totp
from invekto.auth.models import PendingLogin, RecoveryCode, TwoFactor
from invekto.core import security
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import AppError, Conflict, TooManyRequests, ValidationFailed
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.models import User

APP_NAME = "Invekto"  # the name the authenticator app lists the account under
# Long enough to open the authenticator app (or, when setting one up, to scan the code).
PENDING_LIFETIME = timedelta(minutes=10)
WRONG_CODE = "the code is wrong or has expired; type the one your app shows now"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Setup:
    """What a person needs to add the account to their authenticator app."""

    secret: str
    uri: str

    @property
    def qr_svg(self) -> str:
        return totp.qr_svg(self.uri)

    @property
    def grouped_secret(self) -> str:
        return totp.grouped(self.secret)


def setup_for(secret: str, *, username: str, company: str) -> Setup:
    return Setup(secret=secret, uri=totp.provisioning_uri(
        secret, account=f"{username}@{company}", issuer=APP_NAME))


def _encrypt(secret: str) -> str:
    return secret_box().encrypt_json({"totp": secret})


def _decrypt(encrypted: str) -> str:
    return secret_box().decrypt_json(encrypted)["totp"]


@dataclass(frozen=True)
class CodeCheck:
    """How a code fared: ``kind`` "totp" or "recovery" when accepted; else wrong, or not even
    checked because the username is locked (``locked_for``)."""

    kind: str | None
    locked_for: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.kind is not None

    def error(self) -> AppError:
        if self.locked_for is not None:
            seconds = max(1, math.ceil(self.locked_for.total_seconds()))
            return TooManyRequests(
                "too many failed attempts; try again in %(minutes)s minutes",
                params={"minutes": math.ceil(seconds / 60)}, code="login_locked",
                headers={"Retry-After": str(seconds)})
        return ValidationFailed(WRONG_CODE, field="code", code="code_invalid")


# ---- the user's authenticator ------------------------------------------------------------------

async def _row(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *,
               lock: bool = False) -> TwoFactor | None:
    query = select(TwoFactor).where(TwoFactor.tenant_id == tenant_id,
                                    TwoFactor.user_id == user_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def is_enabled(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    row = await _row(session, tenant_id, user_id)
    return row is not None and row.confirmed_at is not None


async def _person(session: AsyncSession, actor: Actor) -> User:
    if actor.user_id is None:
        raise ValidationFailed("only a person can use two-factor authentication")
    return await users.get_user(session, actor, actor.user_id)


async def _company_code(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    return await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)) or ""


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    # Being set up: the secret saved but not yet confirmed with a code.
    setting_up: bool


async def status(session: AsyncSession, actor: Actor) -> Status:
    user = await _person(session, actor)
    row = await _row(session, user.tenant_id, user.id)
    left = await session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id,
        RecoveryCode.used_at.is_(None)))
    return Status(enabled=row is not None and row.confirmed_at is not None,
                  enabled_at=row.confirmed_at if row else None,
                  recovery_codes_left=left or 0,
                  setting_up=row is not None and row.confirmed_at is None)


async def start_enrolment(session: AsyncSession, actor: Actor) -> Setup:
    """A new secret, kept unconfirmed until ``confirm_enrolment`` (starting again replaces
    it)."""
    user = await _person(session, actor)
    row = await _row(session, user.tenant_id, user.id, lock=True)
    if row is not None and row.confirmed_at is not None:
        raise Conflict("two-factor authentication is already on; turn it off first to set up "
                       "another app")
    secret = totp.new_secret()
    if row is None:
        session.add(TwoFactor(tenant_id=user.tenant_id, user_id=user.id,
                              secret_encrypted=_encrypt(secret)))
    else:
        row.secret_encrypted, row.last_used_step = _encrypt(secret), None
    await session.flush()
    return setup_for(secret, username=user.username,
                     company=await _company_code(session, user.tenant_id))


async def enrolment_in_progress(session: AsyncSession, actor: Actor) -> Setup | None:
    """The secret being set up (to draw its QR code again after a mistyped code)."""
    user = await _person(session, actor)
    row = await _row(session, user.tenant_id, user.id)
    if row is None or row.confirmed_at is not None:
        return None
    return setup_for(_decrypt(row.secret_encrypted), username=user.username,
                     company=await _company_code(session, user.tenant_id))


async def confirm_enrolment(session: AsyncSession, actor: Actor, code: str) -> list[str]:
    """Turn two-factor authentication on with a code the new app made; returns the recovery
    codes (shown once)."""
    user = await _person(session, actor)
    row = await _row(session, user.tenant_id, user.id, lock=True)
    if row is None or row.confirmed_at is not None:
        raise ValidationFailed("start setting up two-factor authentication first", field="code")
    now = _now()
    step = totp.matching_step(_decrypt(row.secret_encrypted), code, moment=now,
                              after_step=None)
    if step is None:
        raise ValidationFailed(WRONG_CODE, field="code", code="code_invalid")
    row.confirmed_at, row.last_used_step = now, step
    codes = await _new_recovery_codes(session, user, now)
    await audit.record(session, actor, "auth.2fa_enabled", target_type="user",
                       target_id=user.id)
    return codes


async def enrol_from_pending(session: AsyncSession, user: User, pending: PendingLogin,
                             code: str, now: datetime, *, actor: Actor) -> list[str] | None:
    """A login the company requires two-factor authentication for, set up now: the pending
    login's secret becomes the user's once ``code`` matches it. Returns the recovery codes, or
    None for a wrong code (the caller counts it)."""
    assert pending.purpose == "enrol" and pending.secret_encrypted
    secret = _decrypt(pending.secret_encrypted)
    step = totp.matching_step(secret, code, moment=now, after_step=None)
    if step is None:
        return None
    row = await _row(session, user.tenant_id, user.id, lock=True)
    if row is None:
        row = TwoFactor(tenant_id=user.tenant_id, user_id=user.id)
        session.add(row)
    row.secret_encrypted, row.confirmed_at, row.last_used_step = _encrypt(secret), now, step
    await session.flush()
    codes = await _new_recovery_codes(session, user, now)
    await audit.record(session, actor, "auth.2fa_enabled", target_type="user",
                       target_id=user.id, data={"at_login": True})
    return codes


async def check_code(session: AsyncSession, user: User, code: str, *, actor: Actor,
                     policy: lockout.LoginPolicy, now: datetime | None = None) -> CodeCheck:
    """``code`` from the user's authenticator, or one of their recovery codes (used up by
    this), throttled with their passwords. See the module's note on failures."""
    now = now or _now()
    locked_for = await lockout.remaining(session, user.tenant_id, user.username, now, policy)
    if locked_for is not None:
        await audit.record(session, actor, "auth.login_blocked",
                           data={"username": user.username, "step": "2fa"})
        return CodeCheck(None, locked_for=locked_for)
    kind = None
    row = await _row(session, user.tenant_id, user.id, lock=True)
    if row is not None and row.confirmed_at is not None:
        if totp.is_totp_code(code):
            step = totp.matching_step(_decrypt(row.secret_encrypted), code, moment=now,
                                      after_step=row.last_used_step)
            if step is not None:
                row.last_used_step, kind = step, "totp"
        elif await _use_recovery_code(session, user, code, now):
            kind = "recovery"
            await audit.record(session, actor, "auth.recovery_code_used", target_type="user",
                               target_id=user.id)
    if kind is not None:
        return CodeCheck(kind)
    await record_failure(session, user, actor=actor, policy=policy, now=now)
    return CodeCheck(None)


async def record_failure(session: AsyncSession, user: User, *, actor: Actor,
                         policy: lockout.LoginPolicy, now: datetime) -> None:
    """A wrong code: a failed attempt of the username, like a wrong password."""
    lockout.record(session, user.tenant_id, user.username, ip=actor.ip, succeeded=False,
                   now=now)
    await audit.record(session, actor, "auth.2fa_failed", target_type="user",
                       target_id=user.id, data={"username": user.username})
    if await lockout.remaining(session, user.tenant_id, user.username, now, policy):
        await audit.record(session, actor, "auth.locked_out", data={"username": user.username})


async def disable(session: AsyncSession, actor: Actor, code: str, *,
                  policy: lockout.LoginPolicy) -> CodeCheck:
    """Turn two-factor authentication off, with a current code (or a recovery code)."""
    user = await _person(session, actor)
    if not await is_enabled(session, user.tenant_id, user.id):
        raise ValidationFailed("two-factor authentication is not on", field="code")
    check = await check_code(session, user, code, actor=actor, policy=policy)
    if check.ok:
        await _remove(session, user)
        await audit.record(session, actor, "auth.2fa_disabled", target_type="user",
                           target_id=user.id)
    return check


async def regenerate_recovery_codes(session: AsyncSession, actor: Actor, code: str, *,
                                    policy: lockout.LoginPolicy
                                    ) -> tuple[CodeCheck, list[str] | None]:
    """New recovery codes for old (all of them void), with a current code."""
    user = await _person(session, actor)
    if not await is_enabled(session, user.tenant_id, user.id):
        raise ValidationFailed("two-factor authentication is not on", field="code")
    check = await check_code(session, user, code, actor=actor, policy=policy)
    if not check.ok:
        return check, None
    codes = await _new_recovery_codes(session, user, _now())
    await audit.record(session, actor, "auth.recovery_codes_regenerated", target_type="user",
                       target_id=user.id)
    return check, codes


async def reset_for_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> None:
    """An admin turns a user's two-factor authentication off (the phone and the recovery codes
    lost): they sign in with their password and set it up again."""
    actor.require(Permission.MANAGE_SECURITY)
    user = await users.get_user(session, actor, user_id)
    if not await is_enabled(session, user.tenant_id, user.id):
        raise ValidationFailed("two-factor authentication is not on for this user")
    await _remove(session, user)
    await audit.record(session, actor, "auth.2fa_reset", target_type="user", target_id=user.id)


async def _remove(session: AsyncSession, user: User) -> None:
    await session.execute(delete(TwoFactor).where(
        TwoFactor.tenant_id == user.tenant_id, TwoFactor.user_id == user.id))
    await session.execute(delete(RecoveryCode).where(
        RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id))


# ---- recovery codes ----------------------------------------------------------------------------

async def _new_recovery_codes(session: AsyncSession, user: User, now: datetime) -> list[str]:
    await session.execute(delete(RecoveryCode).where(
        RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    session.add_all(RecoveryCode(tenant_id=user.tenant_id, user_id=user.id,
                                 code_hash=totp.recovery_digest(code), created_at=now)
                    for code in codes)
    await session.flush()
    return codes


async def _use_recovery_code(session: AsyncSession, user: User, code: str,
                             now: datetime) -> bool:
    """One statement: of two requests with the same code, only one finds it unused."""
    used = await session.execute(update(RecoveryCode).where(
        RecoveryCode.tenant_id == user.tenant_id, RecoveryCode.user_id == user.id,
        RecoveryCode.code_hash == totp.recovery_digest(code),
        RecoveryCode.used_at.is_(None)).values(used_at=now).returning(RecoveryCode.id))
    return used.first() is not None


# ---- pending logins ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Pending:
    """A login waiting for its second step: the token to send with the code."""

    token: str  # "<tenant_id>.<secret>", like a session cookie
    purpose: str
    expires_at: datetime
    setup: Setup | None  # "enrol": the app to set up


async def begin_pending(session: AsyncSession, user: User, *, purpose: str, ip: str | None,
                        user_agent: str, now: datetime) -> Pending:
    secret = security.new_token()
    setup = None
    encrypted = None
    if purpose == "enrol":
        setup = setup_for(totp.new_secret(), username=user.username,
                          company=await _company_code(session, user.tenant_id))
        encrypted = _encrypt(setup.secret)
    pending = PendingLogin(tenant_id=user.tenant_id, user_id=user.id,
                           token_hash=security.token_digest(secret), purpose=purpose,
                           secret_encrypted=encrypted, created_at=now,
                           expires_at=now + PENDING_LIFETIME, ip=ip,
                           user_agent=user_agent[:400])
    session.add(pending)
    await session.flush()
    return Pending(token=f"{user.tenant_id}.{secret}", purpose=purpose,
                   expires_at=pending.expires_at, setup=setup)


async def find_pending(session: AsyncSession, tenant_id: uuid.UUID, secret: str, *,
                       lock: bool = False) -> PendingLogin | None:
    """The pending login of a token, unless it has expired."""
    query = select(PendingLogin).where(
        PendingLogin.tenant_id == tenant_id,
        PendingLogin.token_hash == security.token_digest(secret),
        PendingLogin.expires_at > _now())
    return await session.scalar(query.with_for_update() if lock else query)


async def pending_setup(session: AsyncSession, pending: PendingLogin, user: User
                        ) -> Setup | None:
    """The app a pending "enrol" login is setting up (to draw its QR code again)."""
    if pending.purpose != "enrol" or not pending.secret_encrypted:
        return None
    return setup_for(_decrypt(pending.secret_encrypted), username=user.username,
                     company=await _company_code(session, user.tenant_id))


async def prune_pending(session: AsyncSession) -> int:
    """Expired pending logins (system scope)."""
    result = await session.execute(delete(PendingLogin).where(PendingLogin.expires_at <= _now()))
    return result.rowcount

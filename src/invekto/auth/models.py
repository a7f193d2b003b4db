from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, one_of, tenant_fk

# What a password-checked login still owes before it becomes a session: a code from the
# user's authenticator ("verify"), or, when the company requires two-factor authentication and
# the user has none yet, setting one up ("enrol").
PENDING_PURPOSES = ("verify", "enrol")
# Who a company's single sign-on may create on first sign-in (never an admin).
SSO_DEFAULT_ROLES = ("agent", "supervisor")


class UserSession(IdMixin, TenantMixin, Base):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user", "tenant_id", "user_id"),
        tenant_fk("user_id", "users"),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[bytes] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str] = mapped_column(String(400), server_default="")


class ApiKey(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role_valid"),
        tenant_fk("created_by_id", "users", ondelete="SET NULL"),
    )

    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[bytes] = mapped_column(unique=True)
    # The first characters of the key, shown in lists so an admin can tell keys apart.
    display_prefix: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20), server_default="admin")
    created_by_id: Mapped[uuid.UUID | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Permission names narrowing the role (empty: all the role allows), and requests a minute.
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    rate_limit_per_minute: Mapped[int] = mapped_column(server_default="600")


class ApiRateCounter(Base):
    """Requests one API key made in one minute, shared by every server process
    (decisions/0024). UNLOGGED: a crash may forget a minute's counts, which costs nothing."""

    __tablename__ = "api_rate_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    api_key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int]


class LoginAttempt(IdMixin, TenantMixin, Base):
    """Every password check, kept to throttle guessing per username (known or not)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_lookup", "tenant_id", "username", "attempted_at"),)

    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(INET)
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime]


class TwoFactor(IdMixin, TenantMixin, TimestampMixin, Base):
    """A user's authenticator app (TOTP, RFC 6238). Without ``confirmed_at`` it is being set up:
    it counts only once the user has typed a code it made."""

    __tablename__ = "user_two_factor"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        tenant_fk("user_id", "users"),
    )

    user_id: Mapped[uuid.UUID]
    # The shared secret, encrypted (core.crypto); never logged, never shown after set-up.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    # The 30-second time step of the last code accepted: a code is good once, so one seen over
    # someone's shoulder cannot be used again within its window.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(IdMixin, TenantMixin, Base):
    """A single-use code for when the authenticator is lost. Only a keyed digest is stored."""

    __tablename__ = "user_recovery_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "code_hash"),
        tenant_fk("user_id", "users"),
    )

    user_id: Mapped[uuid.UUID]
    code_hash: Mapped[bytes]
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PendingLogin(IdMixin, TenantMixin, Base):
    """A password that was right, waiting for its second step (``PENDING_PURPOSES``): a
    short-lived token that opens nothing but that step. Deleted when used or locked out."""

    __tablename__ = "pending_logins"
    __table_args__ = (
        CheckConstraint(one_of("purpose", PENDING_PURPOSES), name="purpose_valid"),
        tenant_fk("user_id", "users"),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[bytes] = mapped_column(unique=True)
    purpose: Mapped[str] = mapped_column(String(10))
    # "enrol": the secret being set up, encrypted, until a code it made confirms it.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str] = mapped_column(String(400), server_default="")


class SecuritySettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """A company's security policy. No row: the defaults (``auth.policy``)."""

    __tablename__ = "security_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("session_idle_minutes BETWEEN 15 AND 43200", name="idle_range"),
        CheckConstraint("session_absolute_hours BETWEEN 1 AND 2160", name="absolute_range"),
        CheckConstraint("password_min_length BETWEEN 10 AND 128", name="min_length_range"),
    )

    require_two_factor: Mapped[bool]
    # A session ends after this long without a request, and this long after it began however
    # busy it is.
    session_idle_minutes: Mapped[int]
    session_absolute_hours: Mapped[int]
    password_min_length: Mapped[int] = mapped_column(SmallInteger)
    password_needs_letters_and_digits: Mapped[bool]


class SsoSettings(IdMixin, TenantMixin, TimestampMixin, Base):
    """A company's single sign-on through OpenID Connect (``auth.oidc``). No row: none."""

    __tablename__ = "sso_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(one_of("default_role", SSO_DEFAULT_ROLES), name="default_role_valid"),
    )

    enabled: Mapped[bool]
    # Shown on the login page's button: "Sign in with <display_name>".
    display_name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Encrypted (core.crypto); write-only: never sent back to a browser.
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # A verified e-mail matching no user creates one with ``default_role``.
    create_users: Mapped[bool]
    default_role: Mapped[str] = mapped_column(String(20))
    # Passwords are refused, except for those who manage security (a way in if the provider
    # fails).
    sso_only: Mapped[bool]


class SsoIdentity(IdMixin, TenantMixin, Base):
    """Which account at a company's identity provider is which user: the provider's issuer and
    its subject (``sub``), which stays when the e-mail address changes."""

    __tablename__ = "user_sso_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "subject"),
        Index("ix_user_sso_identities_user", "tenant_id", "user_id"),
        tenant_fk("user_id", "users"),
    )

    user_id: Mapped[uuid.UUID]
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime]

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    tenant_fk,
    tenant_unique_id,
)

ROLES = ("agent", "supervisor", "admin")


class User(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        tenant_unique_id("users"),
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role_valid"),
        CheckConstraint("username = lower(username)", name="username_lowercase"),
    )

    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), server_default="tr")
    is_active: Mapped[bool] = mapped_column(server_default="true")
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class AgentGroup(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "agent_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), tenant_unique_id("agent_groups"))

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), server_default="")


class GroupMembership(TenantMixin, Base):
    __tablename__ = "group_memberships"
    __table_args__ = (
        Index("ix_group_memberships_user", "tenant_id", "user_id"),
        tenant_fk("group_id", "agent_groups"),
        tenant_fk("user_id", "users"),
    )

    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


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


class LoginAttempt(IdMixin, TenantMixin, Base):
    """Every password check, kept to throttle guessing per username (known or not)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_lookup", "tenant_id", "username", "attempted_at"),)

    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(INET)
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime]

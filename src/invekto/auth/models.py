from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, tenant_fk


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

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
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
PRESENCES = ("online", "away", "offline")


class User(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        tenant_unique_id("users"),
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role_valid"),
        CheckConstraint("username = lower(username)", name="username_lowercase"),
        CheckConstraint("presence IN ('online', 'away', 'offline')", name="presence_valid"),
        tenant_fk("custom_role_id", "custom_roles", ondelete="RESTRICT"),
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
    # What the agent chose (online/away); "offline" once their last tab has been closed a while.
    presence: Mapped[str] = mapped_column(String(10), server_default="offline")
    presence_changed_at: Mapped[datetime | None]
    # Refreshed by the open tabs' heartbeats; the presence sweeper turns silent users offline.
    last_seen_at: Mapped[datetime | None]
    # Routing gives the agent no new conversation while this many open ones are theirs (none:
    # no limit).
    max_open_conversations: Mapped[int | None]
    # A role the company built from permissions; when set it decides what the user may do and
    # ``role`` is only the built-in role it started from (shown beside it).
    custom_role_id: Mapped[uuid.UUID | None]


class CustomRole(IdMixin, TenantMixin, TimestampMixin, Base):
    """A company's own role: a name and a set of named permissions (core.actor.Permission)."""

    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), tenant_unique_id("custom_roles"))

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(40)),
                                                   server_default=text("'{}'"))


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


class PresencePeriod(IdMixin, TenantMixin, Base):
    """A stretch of time an agent was online or away (offline is the absence of one): what the
    reports' online and away time add up. The open one has no ``ended_at``."""

    __tablename__ = "presence_periods"
    __table_args__ = (
        tenant_fk("user_id", "users"),
        CheckConstraint("presence IN ('online', 'away')", name="presence_valid"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index("ix_presence_periods_user", "tenant_id", "user_id", "started_at"),
        # At most one open period per person.
        Index("uq_presence_periods_open", "tenant_id", "user_id", unique=True,
              postgresql_where=text("ended_at IS NULL")),
    )

    user_id: Mapped[uuid.UUID]
    presence: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

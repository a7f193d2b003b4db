from __future__ import annotations

from sqlalchemy import CheckConstraint, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TimestampMixin


class Tenant(IdMixin, TimestampMixin, Base):
    """A customer company. Not tenant-owned itself: login looks a tenant up by its slug."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'", name="slug_format"),
        CheckConstraint("status IN ('active', 'suspended')", name="status_valid"),
    )

    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    default_language: Mapped[str] = mapped_column(String(5), server_default="tr")
    timezone: Mapped[str] = mapped_column(String(64), server_default="Europe/Istanbul")
    settings: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class PlatformOperator(IdMixin, TimestampMixin, Base):
    """Runs the platform (provisions tenants); belongs to no tenant and sees no tenant's inbox."""

    __tablename__ = "platform_operators"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))

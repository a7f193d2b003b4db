from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, tenant_fk

SHORTCUT_PATTERN = r"^[a-z0-9_-]{1,30}$"


class QuickReply(IdMixin, TenantMixin, TimestampMixin, Base):
    """A canned answer the composer offers after '/'."""

    __tablename__ = "quick_replies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "shortcut"),
        CheckConstraint(f"shortcut ~ '{SHORTCUT_PATTERN}'", name="shortcut_format"),
        tenant_fk("attachment_id", "attachments", ondelete="SET NULL"),
    )

    shortcut: Mapped[str] = mapped_column(String(30))
    body: Mapped[str]
    # A file sent with the text (a price list, the clinic's map...); each send gets a copy.
    attachment_id: Mapped[uuid.UUID | None]

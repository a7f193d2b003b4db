"""WhatsApp message templates a company manages from the product (one WhatsApp channel's each)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    one_of,
    tenant_fk,
    tenant_unique_id,
)

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
# Ours until it is submitted; every other status is Meta's word for it (PENDING, APPROVED,
# REJECTED, PAUSED, DISABLED, FLAGGED, PENDING_DELETION...). Meta adds statuses now and then,
# so the column takes any word rather than a list that would refuse the next one.
DRAFT = "DRAFT"


class MessageTemplate(IdMixin, TenantMixin, TimestampMixin, Base):
    """One translation of a template (Meta's unit: name + language) on one WhatsApp channel.
    ``components`` is kept in Meta's create format, exactly what is submitted; ``variables``
    maps each placeholder (``body.1``, ``header.1``, ``button.0``) to one of our variable
    expressions (``{{ contact.first_name }}``), rendered per recipient when it is sent."""

    __tablename__ = "message_templates"
    __table_args__ = (
        tenant_unique_id("message_templates"),
        UniqueConstraint("tenant_id", "channel_id", "name", "language"),
        tenant_fk("channel_id", "channels"),
        CheckConstraint(one_of("category", CATEGORIES), name="category_valid"),
        CheckConstraint(one_of("parameter_format", PARAMETER_FORMATS),
                        name="parameter_format_valid"),
    )

    channel_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    parameter_format: Mapped[str] = mapped_column(String(12), server_default="POSITIONAL")
    components: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    status: Mapped[str] = mapped_column(String(30), server_default=DRAFT)
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    provider_template_id: Mapped[str | None] = mapped_column(String(100))
    variables: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # When a sync last found it at the provider (None: never seen by a sync). A channel with any
    # synced template offers the table's approved ones in the composer instead of asking Meta.
    synced_at: Mapped[datetime | None]

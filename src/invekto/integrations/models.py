"""A company's connections to other systems, and what those systems posted to us.

``integrations``: one row per company and provider; the settings a company typed (shop address,
seller id...) in ``settings``, its keys and passwords encrypted in ``credentials_encrypted``,
and what the adapter keeps between calls (an OAuth access token) encrypted in
``state_encrypted``. ``status`` is what the last use said: a "test connection" or a real call.

``integration_events``: every event a provider posted (a Shopify order, a payment callback),
stored once per provider event id so a provider's retry is recognised and does nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
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

STATUSES = ("unchecked", "ok", "failing")


class Integration(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind"),
        tenant_unique_id("integrations"),
        CheckConstraint(one_of("status", STATUSES), name="status_valid"),
    )

    kind: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(server_default="true")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    state_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), server_default="unchecked")
    status_detail: Mapped[str] = mapped_column(String(500), server_default="")
    checked_at: Mapped[datetime | None]


class IntegrationEvent(IdMixin, TenantMixin, Base):
    __tablename__ = "integration_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "event_id"),
        Index("ix_integration_events_received", "tenant_id", "integration_id", "received_at"),
        tenant_fk("integration_id", "integrations"),
    )

    integration_id: Mapped[uuid.UUID]
    # The provider's id of this delivery (X-Shopify-Webhook-Id, PayTR's merchant_oid + status):
    # the same on every retry.
    event_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))

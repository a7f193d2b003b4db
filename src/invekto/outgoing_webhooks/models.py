"""Outgoing webhooks: a company's subscriptions (an HTTPS address, the events it wants, a
signing secret), one delivery per event and subscription, and every attempt to deliver it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY
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

DELIVERY_STATES = ("pending", "delivered", "failed")


class WebhookSubscription(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        tenant_unique_id("webhook_subscriptions"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
    )

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), server_default="")
    # Event types ("message.created"...), or ["*"] for every one.
    events: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    secret_encrypted: Mapped[str]
    enabled: Mapped[bool] = mapped_column(server_default="true")
    # Since when every attempt has failed (None: the last one succeeded); decides auto-disable.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None]


class WebhookDelivery(IdMixin, TenantMixin, Base):
    """One event for one subscription. ``body`` is the exact JSON sent on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        tenant_unique_id("webhook_deliveries"),
        tenant_fk("subscription_id", "webhook_subscriptions"),
        CheckConstraint(one_of("state", DELIVERY_STATES), name="state_valid"),
        UniqueConstraint("tenant_id", "subscription_id", "event_id"),
        Index("ix_webhook_deliveries_subscription", "tenant_id", "subscription_id",
              "created_at", "id"),
        Index("ix_webhook_deliveries_pending", "next_attempt_at",
              postgresql_where=text("state = 'pending'")),
    )

    subscription_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(60))
    body: Mapped[str]
    state: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookAttempt(IdMixin, TenantMixin, Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        tenant_fk("delivery_id", "webhook_deliveries"),
        Index("ix_webhook_attempts_delivery", "tenant_id", "delivery_id", "attempted_at"),
    )

    delivery_id: Mapped[uuid.UUID]
    attempted_at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    response_excerpt: Mapped[str] = mapped_column(String(500), server_default="")
    manual: Mapped[bool] = mapped_column(server_default="false")

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, tenant_fk, tenant_unique_id

CHANNEL_KINDS = (
    "whatsapp_cloud", "whatsapp_bsp", "instagram", "messenger", "telegram",
    "sms_twilio", "sms_netgsm", "voice", "voice_twilio", "webchat",
)


class Channel(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "channels"
    __table_args__ = (
        tenant_unique_id("channels"),
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in CHANNEL_KINDS) + ")", name="kind_valid"
        ),
    )

    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    # The provider's id for this account (a WhatsApp phone_number_id, a Page id, a bot id...).
    external_id: Mapped[str | None] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Fernet token of a JSON object (access tokens, app secrets); never returned by the API.
    credentials_encrypted: Mapped[str | None]
    is_active: Mapped[bool] = mapped_column(server_default="true")


class ChatLink(IdMixin, TenantMixin, TimestampMixin, Base):
    """A click-to-chat campaign: a wa.me link (and its QR code and website button) whose
    pre-filled message carries ``code``; a customer's first message with it is attributed."""

    __tablename__ = "chat_links"
    __table_args__ = (
        tenant_unique_id("chat_links"),
        UniqueConstraint("tenant_id", "code"),
        tenant_fk("channel_id", "channels"),
    )

    channel_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(12))
    phone: Mapped[str] = mapped_column(String(20))  # the WhatsApp number, E.164
    message: Mapped[str] = mapped_column(String(500))


class SendPacing(TenantMixin, Base):
    """When a channel may send its next message. Providers cap messages per second per number
    or Page; every worker's send takes the next free slot here, so together they keep under it."""

    __tablename__ = "send_pacing"
    __table_args__ = (tenant_fk("channel_id", "channels"),)

    channel_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    next_slot_at: Mapped[datetime]


class WebhookEvent(IdMixin, TenantMixin, Base):
    """A provider's webhook delivery, stored raw before anything is made of it: the ingest job
    parses it, and a retried delivery of the same body finds it here and adds nothing."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        tenant_fk("channel_id", "channels"),
        # The provider retries with the very same body: its SHA-256 identifies the delivery
        # (Meta batches many messages in one body and gives the body itself no id).
        UniqueConstraint("tenant_id", "channel_id", "event_key"),
        # The ingest job claims a channel's waiting deliveries, oldest first.
        Index("ix_webhook_events_unprocessed", "tenant_id", "channel_id", "received_at",
              postgresql_where=text("processed_at IS NULL")),
    )

    channel_id: Mapped[uuid.UUID]
    event_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Taken by an ingest job until then (it downloads media before storing); a job that died
    # leaves its deliveries to the next one once this has passed.
    claimed_until: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None]

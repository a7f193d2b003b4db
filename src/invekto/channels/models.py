from __future__ import annotations

from sqlalchemy import CheckConstraint, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, tenant_unique_id

CHANNEL_KINDS = (
    "whatsapp_cloud", "whatsapp_bsp", "instagram", "messenger", "telegram",
    "sms_twilio", "sms_netgsm", "voice", "webchat",
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

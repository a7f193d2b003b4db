"""Payment links sent in conversations (iyzico, PayTR): what was asked for, what the provider
gave back (its token and the customer's URL) and what its verified callback said.

``reference`` is ours: letters and digits only (PayTR's ``merchant_oid`` allows nothing else),
unique in the company, and what the provider's callback names the link by. ``idempotency_key``
is the creator's (the composer's form, an API client): a double click makes one link.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from invekto.db.base import Base, IdMixin, TenantMixin, TimestampMixin, one_of, tenant_fk

PAYMENT_STATUSES = ("created", "sent", "paid", "failed", "expired")


class PaymentLinkRecord(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "payment_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        tenant_fk("conversation_id", "conversations", ondelete="SET NULL"),
        tenant_fk("contact_id", "contacts", ondelete="SET NULL"),
        tenant_fk("integration_id", "integrations", ondelete="SET NULL"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status_valid"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payment_links_conversation", "tenant_id", "conversation_id", "created_at"),
        Index("ix_payment_links_token", "tenant_id", "provider", "provider_token"),
        Index("uq_payment_links_idempotency_key", "tenant_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
    )

    reference: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    integration_id: Mapped[uuid.UUID | None]
    provider: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), server_default="created")
    provider_token: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    paid_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    provider_payment_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    # The chat message that carried the link (no foreign key: messages have no (tenant_id, id)
    # key to point at).
    message_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class PaymentLinkIn(BaseModel):
    """A link to pay ``amount`` (at most two decimals) in ``currency``, made with ``provider``
    (the only connected one when left out). The same ``idempotency_key`` again (a double click,
    a client's retry) answers with the first link instead of making another."""

    amount: Decimal
    currency: str = Field(default="TRY", min_length=3, max_length=3)
    description: str = Field(max_length=500)
    provider: str | None = Field(default=None, max_length=30)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


class PaymentLinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference: str
    conversation_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    provider: str
    amount: Decimal
    currency: str
    description: str
    status: str  # created, sent, paid, failed, expired
    url: str | None
    paid_amount: Decimal | None
    provider_payment_id: str | None
    failure_reason: str | None
    message_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class SettingFieldOut(BaseModel):
    name: str
    label: str
    secret: bool
    required: bool
    kind: str
    choices: list[str]
    default: str
    # A secret's value is never sent back: only whether one is stored.
    value: str | None
    has_value: bool


class IntegrationOut(BaseModel):
    kind: str
    label: str
    capabilities: list[str]
    connected: bool
    enabled: bool
    status: str | None  # unchecked, ok, failing; None when not connected
    status_detail: str
    checked_at: datetime | None
    id: uuid.UUID | None
    fields: list[SettingFieldOut]


class IntegrationIn(BaseModel):
    """The settings by field name (``GET`` lists them); a secret left out keeps the stored one."""

    settings: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True


class CheckOut(BaseModel):
    ok: bool
    detail: str


class OrderItemOut(BaseModel):
    name: str
    quantity: int
    price: Decimal | None
    sku: str | None


class ShipmentOut(BaseModel):
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    status: str | None


class OrderOut(BaseModel):
    source: str
    number: str
    state: str
    provider_status: str
    created_at: datetime | None
    total: Decimal | None
    currency: str | None
    items: list[OrderItemOut]
    shipments: list[ShipmentOut]
    customer_name: str | None
    url: str | None


class SourceErrorOut(BaseModel):
    source: str
    message: str


class OrdersOut(BaseModel):
    """What every connected shop answered; one that failed is named in ``errors`` and does not
    hide the others' orders."""

    orders: list[OrderOut]
    errors: list[SourceErrorOut]

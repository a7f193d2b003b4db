"""What every integration adapter is, and the shapes of what it gives the rest of the product.

An adapter is stateless: each call gets a ``Connection`` (one company's settings and decrypted
credentials for that provider). What it can do is declared in ``capabilities``; the product asks
``registry.adapters_with(capability)`` and calls the matching method. Provider failures are
raised as ``IntegrationError`` subclasses, so callers can tell "try later" from "fix the
settings" without knowing the provider.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from invekto.core.i18n import N_


class Capability(StrEnum):
    ORDER_LOOKUP = "order_lookup"  # a customer's orders; an order by its number
    CONTACT_LOOKUP = "contact_lookup"  # the record of a contact in the other system
    CONTACT_SYNC = "contact_sync"  # contacts kept the same in both systems
    PAYMENT_LINK = "payment_link"  # a link the customer pays through; its result comes back
    EVENT_SINK = "event_sink"  # the provider posts its events to us (verified webhooks)


@dataclass(frozen=True)
class SettingField:
    """One setting a company fills in to connect. ``secret`` ones are stored encrypted, never
    shown again, and kept as they are when a later save leaves them empty."""

    name: str
    label: str  # an English catalogue entry (N_), shown translated
    secret: bool = False
    required: bool = True
    kind: str = "text"  # text, url, password, select, number
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for select
    default: str = ""
    help: str = ""  # an English catalogue entry
    max_length: int = 500


# The setting every adapter has: where its API is (a regional host, a sandbox, a test stub).
BASE_URL = "base_url"


@dataclass(frozen=True)
class Connection:
    """One company's connection to one provider, as an adapter sees it."""

    integration_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    settings: dict[str, Any]
    credentials: dict[str, str]
    # What the adapter keeps between calls (an OAuth access token and its expiry); changes it
    # makes to ``state`` are saved by the service after the call.
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return str(self.settings.get(BASE_URL) or "").rstrip("/")

    def setting(self, name: str, default: str = "") -> str:
        return str(self.settings.get(name) or default)

    def secret(self, name: str) -> str:
        return self.credentials.get(name, "")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str  # what was reached ("Mağaza: Örnek Butik") or why not


# ---- errors ------------------------------------------------------------------------------------

class IntegrationError(Exception):
    """The provider did not do what was asked. ``temporary``: worth trying again later."""

    temporary = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class IntegrationRefused(IntegrationError):
    """Refused as asked (a field, an unknown number): asking again changes nothing."""


class IntegrationAuthFailed(IntegrationError):
    """The credentials were refused: nothing works until the settings are fixed."""


class IntegrationUnavailable(IntegrationError):
    """No answer, a server error: try again later."""

    temporary = True


class WebhookRefused(IntegrationError):
    """A provider webhook that is not what it claims (a bad signature, a stale timestamp): the
    receiver answers 401 and keeps nothing."""


class IntegrationRateLimited(IntegrationUnavailable):
    """The provider's rate limit; ``retry_after`` seconds when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = 429, code: str | None = None):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


# ---- orders ------------------------------------------------------------------------------------

# Where an order is, in the same words for every shop: what the card's badge and a chatbot's
# answer say. Adapters map their own statuses onto these and keep theirs in ``provider_status``.
ORDER_STATES = {
    "pending": N_("Awaiting payment"),
    "paid": N_("Paid"),
    "preparing": N_("Being prepared"),
    "shipped": N_("Shipped"),
    "delivered": N_("Delivered to the address"),  # not a message's "Delivered"
    "cancelled": N_("Cancelled"),
    "returned": N_("Returned"),
    "refunded": N_("Refunded"),
    "undelivered": N_("Could not be delivered"),
}


@dataclass(frozen=True)
class OrderItem:
    name: str
    quantity: int
    price: Decimal | None = None  # per unit
    sku: str | None = None


@dataclass(frozen=True)
class Shipment:
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    status: str | None = None


@dataclass(frozen=True)
class Order:
    """An order as the contact card, the composer and a chatbot show it. Amounts are decimals in
    ``currency`` (never floats)."""

    source: str  # the integration kind ("shopify", "trendyol"...)
    number: str  # what the customer quotes ("#1045", "10654321987")
    state: str  # one of ORDER_STATES
    provider_status: str  # the provider's own word for it
    created_at: datetime | None
    total: Decimal | None
    currency: str | None
    items: tuple[OrderItem, ...] = ()
    shipments: tuple[Shipment, ...] = ()
    customer_name: str | None = None
    url: str | None = None  # the order in the provider's panel, or its status page
    provider_id: str | None = None

    def __post_init__(self) -> None:
        assert self.state in ORDER_STATES, self.state


# ---- payments ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentRequest:
    """A payment link to make: ``reference`` is ours (unique per link, letters and digits) and
    comes back with the provider's callback."""

    reference: str
    amount: Decimal
    currency: str  # ISO 4217: TRY, USD, EUR
    description: str
    customer_name: str | None
    customer_phone: str | None
    customer_email: str | None
    callback_url: str  # where the provider posts the result
    return_url: str | None = None  # where the customer's browser goes afterwards
    customer_ip: str | None = None
    language: str = "tr"
    expires_minutes: int = 60 * 24


@dataclass(frozen=True)
class PaymentLink:
    url: str  # what the customer opens
    provider_reference: str  # the provider's token for this link
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PaymentResult:
    """What a verified callback (or a status query) says of one link."""

    reference: str  # ours
    paid: bool
    amount: Decimal | None
    currency: str | None
    provider_payment_id: str | None
    failure_reason: str | None = None


# ---- provider webhooks -------------------------------------------------------------------------

@dataclass(frozen=True)
class IncomingWebhook:
    """A request a provider (or a customer's browser, for a payment return) made to
    ``/hooks/integrations/{kind}/{integration id}[/{topic}]``."""

    topic: str  # the path's last part, "" when none
    body: bytes
    headers: dict[str, str]  # lower-case names
    url: str
    form: dict[str, str]  # a form-encoded body's fields, else empty
    client_ip: str | None


@dataclass(frozen=True)
class WebhookReply:
    status: int = 200
    body: str = ""
    media_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)


# ---- adapters ----------------------------------------------------------------------------------

class IntegrationAdapter:
    """Subclasses set the class attributes and implement the methods of their capabilities:

    * ORDER_LOOKUP: ``orders_for_customer(conn, phone=, email=, limit=)`` and
      ``order_by_number(conn, number)``;
    * CONTACT_SYNC / CONTACT_LOOKUP: see ``invekto.integrations.contacts``;
    * PAYMENT_LINK: ``create_payment_link(conn, request)`` and the callback verification of
      ``invekto.integrations.payments``.
    """

    kind: ClassVar[str]
    label: ClassVar[str]  # the provider's name, not translated
    description: ClassVar[str]  # an English catalogue entry
    capabilities: ClassVar[frozenset[Capability]]
    fields: ClassVar[tuple[SettingField, ...]]
    default_base_url: ClassVar[str]

    async def check(self, conn: Connection) -> CheckResult:
        """Make one harmless authenticated call; say what answered. Raises IntegrationError."""
        raise NotImplementedError

    async def orders_for_customer(self, conn: Connection, *, phone: str | None,
                                  email: str | None, limit: int = 5) -> list[Order]:
        raise NotImplementedError

    async def order_by_number(self, conn: Connection, number: str) -> Order | None:
        raise NotImplementedError

    async def create_payment_link(self, conn: Connection, request: PaymentRequest
                                  ) -> PaymentLink:
        raise NotImplementedError

    async def receive_webhook(self, db: Any, conn: Connection, hook: IncomingWebhook
                              ) -> WebhookReply:
        """EVENT_SINK: verify ``hook`` (raise WebhookRefused), keep it once with
        ``service.record_event`` and act on it in the company's tenant (``db.tenant_session``).
        Answer fast: providers retry slow answers."""
        raise NotImplementedError

    def clean_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The settings (secrets not included) as kept, after the form's own checks: a
        provider's normalising (a shop's address) or ValidationFailed naming the field."""
        return settings

    def setting_fields(self) -> tuple[SettingField, ...]:
        """The form: the adapter's own fields and the API address."""
        return (*self.fields, SettingField(
            BASE_URL, N_("API address"), required=False, kind="url",
            default=self.default_base_url,
            help=N_("Leave as it is unless the provider gave you another address "
                    "(a sandbox).")))

"""The automation events integrations raise (``automation.service.emit``), registered when the
app starts so rules can listen for them. ``data`` carries the order or payment as the rule's
actions and conditions see it (documented in docs/integrations.md)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from invekto.automation.events import EventKind, register
from invekto.core.i18n import N_, text
from invekto.integrations.base import ORDER_STATES


def _money(amount: Any, currency: str | None, language: str) -> str:
    from invekto.integrations.orders import money  # orders imports the contacts domain

    try:
        return money(Decimal(str(amount)), currency, language) if amount is not None else ""
    except InvalidOperation:
        return str(amount)


# What a rule's message may say of an order (``{{ order.number }}``) and of a payment.
ORDER_TEXT_FIELDS = {"order": ("number", "status", "total", "items", "carrier",
                               "tracking_number", "tracking_url", "url")}
PAYMENT_TEXT_FIELDS = {"payment": ("amount", "description", "provider", "reference")}


def order_texts(data: dict, language: str) -> dict[str, dict[str, Any]]:
    state = data.get("state")
    return {"order": {
        "number": data.get("number") or "",
        "status": text(language, ORDER_STATES[state]) if state in ORDER_STATES else "",
        "total": _money(data.get("total"), data.get("currency"), language),
        **{key: data.get(key) or "" for key in ("items", "carrier", "tracking_number",
                                                "tracking_url", "url")}}}


def payment_texts(data: dict, language: str) -> dict[str, dict[str, Any]]:
    return {"payment": {
        "amount": _money(data.get("amount"), data.get("currency"), language),
        **{key: data.get(key) or "" for key in ("description", "provider", "reference")}}}


def _order_kind(kind: str, label: str, options: tuple[str, ...]) -> str:
    return register(EventKind(kind, label, options=options, text_fields=ORDER_TEXT_FIELDS,
                              text_values=order_texts)).kind


def _payment_kind(kind: str, label: str) -> str:
    return register(EventKind(kind, label, options=("provider",),
                              text_fields=PAYMENT_TEXT_FIELDS, text_values=payment_texts)).kind


# A shop told us of an order (Shopify's webhooks): about the contact whose phone or e-mail it
# carries, and that contact's latest conversation when there is one, so that a rule can send
# the order's confirmation there (with none, such an action fails and the run says so).
ORDER_CREATED = _order_kind("order_created", N_("Order placed"), ("source",))
ORDER_UPDATED = _order_kind("order_updated", N_("Order status changed"), ("source", "state"))
ORDER_SHIPPED = _order_kind("order_shipped", N_("Order shipped"), ("source",))
# A payment link sent in a conversation was paid, or its payment failed.
PAYMENT_RECEIVED = _payment_kind("payment_received", N_("Payment received"))
PAYMENT_FAILED = _payment_kind("payment_failed", N_("Payment failed"))

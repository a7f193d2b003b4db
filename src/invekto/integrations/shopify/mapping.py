"""Shopify's orders in our shape (``base.Order``), from either of the two forms Shopify gives
them: a GraphQL Admin API node (look-ups) or the REST-shaped JSON of an order webhook.

Where an order is (``ORDER_STATES``), decided in this order of precedence:

==========================================================  ===============
Shopify says                                                 our state
==========================================================  ===============
``cancelledAt`` set, or financial ``VOIDED``                 ``cancelled``
financial ``REFUNDED``                                       ``refunded``
fulfilment ``RESTOCKED``                                     ``returned``
every fulfilment's ``displayStatus`` ``DELIVERED``           ``delivered``
a fulfilment's ``displayStatus`` ``FAILURE``                 ``undelivered``
fulfilment ``FULFILLED`` / ``PARTIALLY_FULFILLED``           ``shipped``
financial ``PENDING`` / ``PARTIALLY_PAID`` / ``EXPIRED``     ``pending``
fulfilment ``IN_PROGRESS``                                   ``preparing``
anything else (``PAID``, ``AUTHORIZED``, unfulfilled)        ``paid``
==========================================================  ===============

Webhook payloads say the same in lower case (``financial_status: "paid"``,
``fulfillment_status: null | "fulfilled" | "partial" | "restocked"``, a fulfilment's
``shipment_status: "delivered" | "failure"``): they are read onto the GraphQL words first.
Amounts stay the strings Shopify sends, made ``Decimal`` (never floats).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from invekto.integrations.base import Order, OrderItem, Shipment

KIND = "shopify"

_PENDING = {"PENDING", "PARTIALLY_PAID", "EXPIRED"}
_SHIPPED = {"FULFILLED", "PARTIALLY_FULFILLED"}
# The webhook (REST) words for an order's fulfilment, as the GraphQL enum says them.
_REST_FULFILMENT = {None: "UNFULFILLED", "": "UNFULFILLED", "fulfilled": "FULFILLED",
                    "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED"}


def order_state(financial: str | None, fulfilment: str | None, *, cancelled: bool,
                shipment_statuses: Iterable[str | None] = ()) -> str:
    """One of ``ORDER_STATES`` for Shopify's statuses (the table above)."""
    financial = (financial or "").upper()
    fulfilment = (fulfilment or "").upper()
    shipments = [(s or "").upper() for s in shipment_statuses]
    if cancelled or financial == "VOIDED":
        return "cancelled"
    if financial == "REFUNDED":
        return "refunded"
    if fulfilment == "RESTOCKED":
        return "returned"
    if shipments and all(s == "DELIVERED" for s in shipments):
        return "delivered"
    if "FAILURE" in shipments:
        return "undelivered"
    if fulfilment in _SHIPPED:
        return "shipped"
    if financial in _PENDING:
        return "pending"
    if fulfilment == "IN_PROGRESS":
        return "preparing"
    return "paid"


def decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _nodes(connection: Any) -> list[dict]:
    """A GraphQL connection's nodes (``edges[].node`` or ``nodes``); a list as it is."""
    if isinstance(connection, list):
        return [n for n in connection if isinstance(n, dict)]
    if not isinstance(connection, dict):
        return []
    if "nodes" in connection:
        return [n for n in connection["nodes"] or [] if isinstance(n, dict)]
    return [e["node"] for e in connection.get("edges") or [] if isinstance(e, dict)
            and isinstance(e.get("node"), dict)]


def numeric_id(gid: str | int | None) -> str | None:
    """``gid://shopify/Order/5800000000001`` (GraphQL) and ``5800000000001`` (webhooks) alike."""
    if gid in (None, ""):
        return None
    return str(gid).rsplit("/", 1)[-1]


def admin_url(shop_domain: str, order_id: str | None) -> str | None:
    if not shop_domain or not order_id:
        return None
    return f"https://{shop_domain}/admin/orders/{order_id}"


def from_graphql(node: dict, shop_domain: str) -> Order:
    """An order node of our look-up queries (``ORDER_FIELDS`` in the adapter)."""
    money = ((node.get("totalPriceSet") or {}).get("shopMoney") or {})
    fulfilments = node.get("fulfillments") or []
    shipments = tuple(
        Shipment(carrier=info.get("company"), tracking_number=info.get("number"),
                 tracking_url=info.get("url"), status=fulfilment.get("displayStatus")
                 or fulfilment.get("status"))
        for fulfilment in fulfilments for info in (fulfilment.get("trackingInfo") or []))
    items = []
    for item in _nodes(node.get("lineItems")):
        price = ((item.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount")
        items.append(OrderItem(name=item.get("name") or item.get("title") or "",
                               quantity=int(item.get("quantity") or 0), price=decimal(price),
                               sku=item.get("sku") or None))
    financial = node.get("displayFinancialStatus")
    fulfilment = node.get("displayFulfillmentStatus")
    order_id = numeric_id(node.get("id"))
    return Order(
        source=KIND, number=node.get("name") or "", provider_status=_provider_status(
            financial, fulfilment, node.get("cancelledAt")),
        state=order_state(financial, fulfilment, cancelled=bool(node.get("cancelledAt")),
                          shipment_statuses=[f.get("displayStatus") for f in fulfilments
                                             if f.get("displayStatus")]),
        created_at=_when(node.get("createdAt")), total=decimal(money.get("amount")),
        currency=money.get("currencyCode"), items=tuple(items), shipments=shipments,
        customer_name=(node.get("customer") or {}).get("displayName"),
        url=node.get("statusPageUrl") or admin_url(shop_domain, order_id),
        provider_id=order_id)


def from_webhook(payload: dict, shop_domain: str) -> Order:
    """The REST-shaped order of an ``orders/*`` webhook."""
    fulfilment = _REST_FULFILMENT.get(payload.get("fulfillment_status"),
                                      str(payload.get("fulfillment_status")).upper())
    financial = str(payload.get("financial_status") or "").upper()
    fulfilments = [f for f in payload.get("fulfillments") or [] if isinstance(f, dict)]
    shipments = []
    for f in fulfilments:
        numbers = f.get("tracking_numbers") or ([f["tracking_number"]]
                                                if f.get("tracking_number") else [])
        urls = f.get("tracking_urls") or ([f["tracking_url"]] if f.get("tracking_url") else [])
        for n in range(max(len(numbers), len(urls))):
            shipments.append(Shipment(
                carrier=f.get("tracking_company"),
                tracking_number=numbers[n] if n < len(numbers) else None,
                tracking_url=urls[n] if n < len(urls) else None,
                status=(f.get("shipment_status") or f.get("status") or None)))
    customer = payload.get("customer") or {}
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p)
    order_id = numeric_id(payload.get("id"))
    return Order(
        source=KIND, number=payload.get("name") or f"#{payload.get('order_number', '')}",
        state=order_state(financial, fulfilment, cancelled=bool(payload.get("cancelled_at")),
                          shipment_statuses=[f.get("shipment_status") for f in fulfilments
                                             if f.get("shipment_status")]),
        provider_status=_provider_status(financial, fulfilment, payload.get("cancelled_at")),
        created_at=_when(payload.get("created_at")), total=decimal(payload.get("total_price")),
        currency=payload.get("currency"),
        items=tuple(OrderItem(name=i.get("title") or i.get("name") or "",
                              quantity=int(i.get("quantity") or 0),
                              price=decimal(i.get("price")), sku=i.get("sku") or None)
                    for i in payload.get("line_items") or [] if isinstance(i, dict)),
        shipments=tuple(shipments), customer_name=name or None,
        url=payload.get("order_status_url") or admin_url(shop_domain, order_id),
        provider_id=order_id)


def _provider_status(financial: str | None, fulfilment: str | None, cancelled: Any) -> str:
    words = [w for w in ((financial or "").upper(), (fulfilment or "").upper()) if w]
    if cancelled:
        words.append("CANCELLED")
    return " / ".join(words)


def webhook_contacts(payload: dict) -> tuple[list[str], list[str]]:
    """The phone numbers (as given) and e-mail addresses an order webhook carries: the order's,
    its customer's, and its shipping and billing addresses' (a guest may have only those)."""
    customer = payload.get("customer") or {}
    phones = [payload.get("phone"), customer.get("phone"),
              (payload.get("shipping_address") or {}).get("phone"),
              (payload.get("billing_address") or {}).get("phone")]
    emails = [payload.get("email"), payload.get("contact_email"), customer.get("email")]
    return ([p for p in dict.fromkeys(phones) if p],
            [e.strip().lower() for e in dict.fromkeys(emails) if e and e.strip()])

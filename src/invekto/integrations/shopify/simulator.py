"""A Shopify Admin API simulator: one shop, its customers and orders, kept in memory.

Provider side (what ``ShopifyAdapter`` calls):

* ``POST /admin/oauth/access_token`` (the client credentials grant, form or JSON): a token for
  ``CLIENT_ID`` and the client secret, valid ``token_lifetime`` seconds; ``revoke_tokens()``
  makes the issued ones fail (401) as an app reinstalled would.
* ``POST /admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token`` (the fixed
  ``access_token`` or an issued one; anything else is Shopify's 401 and its body). Queries are
  matched by their operation name and read their variables (no general GraphQL parser):

* ``Shop``; ``Orders`` (``$q``: ``email:…``, ``name:…``, ``phone:…``, the value quoted or not;
  ``$first``, ``$after``); ``CustomerOrders`` (customers by ``phone:…`` and their orders);
  ``CustomerOrdersPage``; ``OrderById``; ``WebhookSubscriptionCreate`` (kept in
  ``subscriptions``; the same topic and address twice is Shopify's "taken" user error).
* Every answer carries ``extensions.cost``. The bucket (``available`` of ``maximum``, restoring
  ``restore_rate`` points a second) does not refill by itself, so tests decide when it is
  empty: a query whose requested cost exceeds ``available`` is answered ``THROTTLED`` (HTTP
  200) like Shopify.
* Connections are paged by cursor (``pageInfo { hasNextPage endCursor }``).
* ``fail_next(status, body, headers)``: the next request's answer instead (a 500, a REST-style
  429 with ``Retry-After``...). ``requests`` records each GraphQL request (operation, variables,
  headers).

Shop side: ``add_customer`` and ``add_order`` (items, payment and fulfilment status, fulfilments
with tracking), ``order_payload`` (an order as its webhook JSON), and ``send_webhook`` which
posts a signed delivery (``X-Shopify-Topic``, ``-Hmac-Sha256`` in base64, ``-Shop-Domain``,
``-Webhook-Id``, ``-Event-Id``...) to a URL.

In-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator))``. As a server:
``python -m invekto.integrations.shopify.simulator --port 8031``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

SHOP_DOMAIN = "ornek-butik.myshopify.com"
SHOP_NAME = "Örnek Butik"
ACCESS_TOKEN = "shpat_simulator_token_0123456789abcdef"
CLIENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
CLIENT_SECRET = "shpss_simulator_client_secret"
API_VERSION = "2026-07"
INVALID_TOKEN = {"errors": "[API] Invalid API key or access token "
                           "(unrecognized login or wrong password)"}
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")
_TERM = re.compile(r"^(\w+):(?:'((?:[^'\\]|\\.)*)'|\"([^\"]*)\"|(\S+))$")


@dataclass
class Tracking:
    company: str | None
    number: str | None
    url: str | None


@dataclass
class Fulfilment:
    status: str = "SUCCESS"  # FulfillmentStatus
    display_status: str = "FULFILLED"  # FulfillmentDisplayStatus (DELIVERED, IN_TRANSIT...)
    tracking: list[Tracking] = field(default_factory=list)


@dataclass
class Item:
    title: str
    quantity: int
    price: str
    sku: str | None = None


@dataclass
class Customer:
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class ShopOrder:
    id: int
    number: int
    created_at: datetime
    customer: Customer | None
    email: str | None
    phone: str | None
    shipping_phone: str | None
    items: list[Item]
    currency: str
    financial: str  # OrderDisplayFinancialStatus
    fulfilment: str  # OrderDisplayFulfillmentStatus
    fulfilments: list[Fulfilment]
    cancelled_at: datetime | None = None

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def total(self) -> str:
        return str(sum((Decimal(i.price) * i.quantity for i in self.items), Decimal("0.00")))


@dataclass
class GraphQLRequest:
    operation: str
    variables: dict[str, Any]
    headers: dict[str, str]
    version: str


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ShopifySimulator:
    """An ASGI app speaking the GraphQL Admin API for one shop."""

    def __init__(self, shop_domain: str = SHOP_DOMAIN, *, shop_name: str = SHOP_NAME,
                 access_token: str = ACCESS_TOKEN, client_secret: str = CLIENT_SECRET) -> None:
        self.shop_domain, self.shop_name = shop_domain, shop_name
        self.access_token, self.client_secret = access_token, client_secret
        self.client_id, self.token_lifetime = CLIENT_ID, 86399
        self.issued: list[str] = []  # tokens of the client credentials grant, still valid
        self.token_requests: list[dict[str, str]] = []
        self.customers: list[Customer] = []
        self.orders: list[ShopOrder] = []
        self.subscriptions: list[dict[str, str]] = []
        self.requests: list[GraphQLRequest] = []
        self.failures: deque[Answer] = deque()
        self.maximum, self.available, self.restore_rate = 2000.0, 2000.0, 100.0
        self._ids = itertools.count(5800000000001)
        self._numbers = itertools.count(1001)
        self._clock = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        self._app = Starlette(routes=[
            Route("/admin/oauth/access_token", self._token, methods=["POST"]),
            Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- the shop ----------------------------------------------------------------------------

    def add_customer(self, first_name: str = "Ayşe", last_name: str = "Yılmaz", *,
                     email: str | None = "ayse@example.com",
                     phone: str | None = "+905321234567") -> Customer:
        customer = Customer(next(self._ids), first_name, last_name, email, phone)
        self.customers.append(customer)
        return customer

    def add_order(self, customer: Customer | None = None, *,
                  items: list[tuple[str, int, str]] | list[Item] | None = None,
                  financial: str = "PAID", fulfilment: str = "UNFULFILLED",
                  tracking: list[tuple[str, str, str]] = (), delivered: bool = False,
                  email: str | None = None, phone: str | None = None,
                  shipping_phone: str | None = None, currency: str = "TRY",
                  cancelled: bool = False, created_at: datetime | None = None) -> ShopOrder:
        """An order, numbered #1001, #1002...; each newer than the last unless ``created_at``.
        ``tracking`` ((company, number, url), ...) makes it fulfilled with that parcel."""
        self._clock += timedelta(hours=1)
        given = items or [("Kışlık Mont", 1, "1249.90", "MONT-M-SIYAH")]
        fulfilments = [Fulfilment(display_status="DELIVERED" if delivered else "IN_TRANSIT",
                                  tracking=[Tracking(*t) for t in tracking])] if tracking else []
        order = ShopOrder(
            id=next(self._ids), number=next(self._numbers),
            created_at=created_at or self._clock, customer=customer,
            email=email if email is not None else (customer.email if customer else None),
            phone=phone if phone is not None else (customer.phone if customer else None),
            shipping_phone=shipping_phone, currency=currency, financial=financial,
            fulfilment="FULFILLED" if tracking and fulfilment == "UNFULFILLED" else fulfilment,
            items=[i if isinstance(i, Item) else Item(*i) for i in given],
            fulfilments=fulfilments,
            cancelled_at=(created_at or self._clock) + timedelta(hours=1) if cancelled else None)
        self.orders.append(order)
        return order

    def revoke_tokens(self) -> None:
        self.issued.clear()

    def fail_next(self, status: int = 500, body: Any = None, headers: dict[str, str] | None = None,
                  *, count: int = 1) -> None:
        for _ in range(count):
            self.failures.append(Answer(status, body if body is not None else {
                "errors": "Internal Server Error"}, headers or {}))

    # ---- webhooks ----------------------------------------------------------------------------

    def order_payload(self, order: ShopOrder) -> dict[str, Any]:
        """The order as an ``orders/*`` webhook's JSON (the REST resource's shape)."""
        customer = order.customer
        fulfilment = {"UNFULFILLED": None, "FULFILLED": "fulfilled",
                      "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"}.get(
            order.fulfilment, order.fulfilment.lower())
        return {
            "id": order.id, "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
            "name": order.name, "order_number": order.number, "email": order.email,
            "phone": order.phone, "created_at": order.created_at.isoformat(),
            "updated_at": order.created_at.isoformat(), "currency": order.currency,
            "total_price": order.total, "subtotal_price": order.total,
            "financial_status": order.financial.lower(), "fulfillment_status": fulfilment,
            "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
            "order_status_url": self._status_url(order),
            "customer": None if customer is None else {
                "id": customer.id, "email": customer.email, "phone": customer.phone,
                "first_name": customer.first_name, "last_name": customer.last_name},
            "shipping_address": {"phone": order.shipping_phone} if order.shipping_phone
            else None,
            "line_items": [{"id": next(self._ids), "title": i.title, "quantity": i.quantity,
                            "price": i.price, "sku": i.sku} for i in order.items],
            "fulfillments": [{
                "id": next(self._ids), "order_id": order.id, "status": "success",
                "shipment_status": f.display_status.lower(),
                "tracking_company": f.tracking[0].company if f.tracking else None,
                "tracking_number": f.tracking[0].number if f.tracking else None,
                "tracking_numbers": [t.number for t in f.tracking if t.number],
                "tracking_url": f.tracking[0].url if f.tracking else None,
                "tracking_urls": [t.url for t in f.tracking if t.url]}
                for f in order.fulfilments],
        }

    def webhook_headers(self, topic: str, body: bytes, *, webhook_id: str | None = None,
                        event_id: str | None = None, secret: str | None = None
                        ) -> dict[str, str]:
        digest = hmac.new((secret or self.client_secret).encode(), body, hashlib.sha256)
        return {
            "Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest.digest()).decode(),
            "X-Shopify-Shop-Domain": self.shop_domain, "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }

    async def send_webhook(self, url: str, topic: str, payload: dict[str, Any] | ShopOrder, *,
                           webhook_id: str | None = None, event_id: str | None = None,
                           secret: str | None = None, headers: dict[str, str] | None = None,
                           client: httpx.AsyncClient | None = None) -> httpx.Response:
        """Post one signed delivery to ``url`` (through ``client``, e.g. one bound to our app
        in-process); ``secret`` signs with another key, ``headers`` override any header. A
        retry is the same call with the same ``webhook_id`` and ``event_id``."""
        if isinstance(payload, ShopOrder):
            payload = self.order_payload(payload)
        body = json.dumps(payload, ensure_ascii=False).encode()
        sent = {**self.webhook_headers(topic, body, webhook_id=webhook_id, event_id=event_id,
                                       secret=secret), **(headers or {})}
        if client is not None:
            return await client.post(url, content=body, headers=sent)
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(url, content=body, headers=sent)

    # ---- the API -----------------------------------------------------------------------------

    async def _token(self, request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").startswith("application/json"):
            given = {k: str(v) for k, v in (json.loads(await request.body()) or {}).items()}
        else:
            given = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(given)
        if given.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if given.get("client_id") != self.client_id or given.get(
                "client_secret") != self.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description":
                                 "Client authentication failed"}, status_code=400)
        token = "shpat_" + secrets.token_hex(16)
        self.issued.append(token)
        return JSONResponse({"access_token": token, "scope": "read_orders,read_customers",
                             "expires_in": self.token_lifetime})

    async def _graphql(self, request: Request) -> JSONResponse:
        token = request.headers.get("x-shopify-access-token")
        if token != self.access_token and token not in self.issued:
            return JSONResponse(INVALID_TOKEN, status_code=401,
                                headers={"WWW-Authenticate": 'Basic Realm="Shopify API '
                                                             'Authentication"'})
        try:
            sent = json.loads(await request.body())
            query, variables = sent["query"], sent.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": [{"message": "Parse error"}]}, status_code=400)
        match = _OPERATION.match(query)
        operation = match.group(1) if match else ""
        self.requests.append(GraphQLRequest(operation, variables, dict(request.headers),
                                            request.path_params["version"]))
        if self.failures:
            failure = self.failures.popleft()
            return JSONResponse(failure.body, status_code=failure.status,
                                headers=failure.headers)
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return JSONResponse({"errors": [{
                "message": f"Unknown operation {operation or '(anonymous)'}",
                "extensions": {"code": "undefinedField"}}]})
        requested = self._requested_cost(variables)
        if requested > self.available:
            return JSONResponse({"errors": [{
                "message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/limits"}}],
                "extensions": {"cost": self._cost(requested, None)}})
        data, returned = handler(variables)
        actual = min(requested, 1 + returned * 5)
        self.available -= actual
        return JSONResponse({"data": data, "extensions": {"cost": self._cost(requested,
                                                                             actual)}})

    def _requested_cost(self, variables: dict[str, Any]) -> int:
        # Shopify counts a connection's ``first`` times the cost of what each node asks.
        return 2 + int(variables.get("first") or 1) * 6

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.maximum,
                                   "currentlyAvailable": self.available,
                                   "restoreRate": self.restore_rate}}

    def _op_Shop(self, variables: dict) -> tuple[dict, int]:
        return {"shop": {"name": self.shop_name, "myshopifyDomain": self.shop_domain}}, 1

    def _op_Orders(self, variables: dict) -> tuple[dict, int]:
        found = [o for o in self._newest_first(self.orders) if _matches(o, variables.get("q"))]
        page = self._page(found, variables)
        return {"orders": page}, len(page["nodes"])

    def _op_CustomerOrders(self, variables: dict) -> tuple[dict, int]:
        term = _term(variables.get("q"))
        customers = [c for c in self.customers if term and term[0] == "phone"
                     and _same_phone(c.phone, term[1])][:2]
        nodes = [{"id": f"gid://shopify/Customer/{c.id}", "displayName": c.display_name,
                  "orders": self._page(self._orders_of(c), {"first": variables.get("first")})}
                 for c in customers]
        return {"customers": {"nodes": nodes}}, sum(len(n["orders"]["nodes"]) for n in nodes)

    def _op_CustomerOrdersPage(self, variables: dict) -> tuple[dict, int]:
        wanted = str(variables.get("id", "")).rsplit("/", 1)[-1]
        customer = next((c for c in self.customers if str(c.id) == wanted), None)
        if customer is None:
            return {"customer": None}, 0
        page = self._page(self._orders_of(customer), variables)
        return {"customer": {"orders": page}}, len(page["nodes"])

    def _op_OrderById(self, variables: dict) -> tuple[dict, int]:
        wanted = str(variables.get("id", "")).rsplit("/", 1)[-1]
        order = next((o for o in self.orders if str(o.id) == wanted), None)
        return {"order": self._node(order) if order else None}, 1

    def _op_WebhookSubscriptionCreate(self, variables: dict) -> tuple[dict, int]:
        topic = variables.get("topic")
        uri = (variables.get("webhookSubscription") or {}).get("uri")
        if not uri or not str(uri).startswith(("https://", "http://")):
            return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}]}}, 1
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", "uri"],
                 "message": "Address for this topic has already been taken"}]}}, 1
        subscription = {"id": f"gid://shopify/WebhookSubscription/{next(self._ids)}",
                        "topic": topic, "uri": uri}
        self.subscriptions.append(subscription)
        return {"webhookSubscriptionCreate": {"webhookSubscription": subscription,
                                              "userErrors": []}}, 1

    # ---- shaping -----------------------------------------------------------------------------

    def _orders_of(self, customer: Customer) -> list[ShopOrder]:
        return self._newest_first([o for o in self.orders if o.customer is customer])

    @staticmethod
    def _newest_first(orders: list[ShopOrder]) -> list[ShopOrder]:
        return sorted(orders, key=lambda o: (o.created_at, o.id), reverse=True)

    def _page(self, orders: list[ShopOrder], variables: dict) -> dict[str, Any]:
        first = max(1, min(int(variables.get("first") or 10), 250))
        start = _cursor_index(variables.get("after"))
        chosen = orders[start:start + first]
        end = start + len(chosen)
        return {"nodes": [self._node(o) for o in chosen],
                "pageInfo": {"hasNextPage": end < len(orders),
                             "endCursor": _cursor(end) if chosen else None}}

    def _status_url(self, order: ShopOrder) -> str:
        return f"https://{self.shop_domain}/73000000001/orders/{order.id:x}/authenticate?key=sim"

    def _node(self, order: ShopOrder) -> dict[str, Any]:
        money = {"shopMoney": {"amount": order.total, "currencyCode": order.currency}}
        return {
            "id": f"gid://shopify/Order/{order.id}", "name": order.name, "email": order.email,
            "phone": order.phone, "createdAt": order.created_at.isoformat().replace(
                "+00:00", "Z"),
            "cancelledAt": order.cancelled_at.isoformat().replace("+00:00", "Z")
            if order.cancelled_at else None,
            "statusPageUrl": self._status_url(order),
            "displayFinancialStatus": order.financial,
            "displayFulfillmentStatus": order.fulfilment, "totalPriceSet": money,
            "customer": None if order.customer is None else {
                "id": f"gid://shopify/Customer/{order.customer.id}",
                "displayName": order.customer.display_name},
            "lineItems": {"nodes": [{
                "name": i.title, "quantity": i.quantity, "sku": i.sku,
                "originalUnitPriceSet": {"shopMoney": {"amount": i.price,
                                                       "currencyCode": order.currency}}}
                for i in order.items]},
            "fulfillments": [{"status": f.status, "displayStatus": f.display_status,
                              "trackingInfo": [{"company": t.company, "number": t.number,
                                                "url": t.url} for t in f.tracking]}
                             for f in order.fulfilments],
        }


def _cursor(index: int) -> str:
    return base64.b64encode(json.dumps({"last_index": index}).encode()).decode()


def _cursor_index(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["last_index"])
    except (ValueError, KeyError, TypeError):
        return 0


def _term(query: str | None) -> tuple[str, str] | None:
    """``field:value`` of a one-term search, the value unquoted."""
    match = _TERM.match((query or "").strip())
    if not match:
        return None
    value = next(v for v in match.groups()[1:] if v is not None)
    return match.group(1), value.replace("\\'", "'").replace("\\\\", "\\")


def _same_phone(a: str | None, b: str) -> bool:
    digits = re.sub(r"\D", "", b)
    return bool(a) and re.sub(r"\D", "", a) == digits


def _matches(order: ShopOrder, query: str | None) -> bool:
    term = _term(query)
    if term is None:
        return not (query or "").strip()
    name, value = term
    if name == "email":
        return (order.email or "").lower() == value.lower()
    if name == "name":
        # Shopify's search matches the start of a word: name:#100 finds #1001 too.
        return order.name.startswith(value if value.startswith("#") else "#" + value)
    if name == "phone":  # not a filter Shopify's orders search has; the simulator says so
        return False
    return False


def create_simulator(**options: Any) -> ShopifySimulator:
    return ShopifySimulator(**options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Shopify Admin API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    args = parser.parse_args()
    simulator = create_simulator()
    customer = simulator.add_customer()
    simulator.add_order(customer)
    simulator.add_order(customer, tracking=[("Yurtiçi Kargo", "YK123456789",
                                             "https://www.yurticikargo.com/tr/online-servisler/"
                                             "gonderi-sorgula?code=YK123456789")])
    uvicorn.run(simulator, host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

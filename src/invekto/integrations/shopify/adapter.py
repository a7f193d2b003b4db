"""Shopify: a store's orders for the contact card, the composer and chatbots (GraphQL Admin
API), and its order webhooks as automation events (``hooks``).

A company connects with its app's client secret (what Shopify signs webhooks with) and either
an Admin API access token (a custom app made in the Shopify admin before 2026) or the client ID
of an app made in Shopify's Dev Dashboard, whose access token is fetched with the client
credentials grant and renewed when it expires (24 hours; kept encrypted in the connection's
state). Every call sends ``X-Shopify-Access-Token`` and is
``POST {https://shop.myshopify.com}/admin/api/{version}/graphql.json``; the API address setting
is left empty in production (the shop's own address is used) and points at the simulator in
tests. See docs/integrations.md, "Shopify".
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any

import httpx
import structlog

from invekto import runtime
from invekto.core import outbound
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.phone import to_e164
from invekto.integrations import registry, service
from invekto.integrations.base import (
    BASE_URL,
    Capability,
    CheckResult,
    Connection,
    IncomingWebhook,
    IntegrationAdapter,
    IntegrationAuthFailed,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
    Order,
    SettingField,
    WebhookReply,
)
from invekto.integrations.shopify import mapping

log = structlog.get_logger()

SHOP_DOMAIN = "shop_domain"
ACCESS_TOKEN = "access_token"
CLIENT_ID = "client_id"
CLIENT_SECRET = "client_secret"
API_VERSION = "api_version"
# A stable quarterly version; Shopify supports each for about twelve months.
DEFAULT_API_VERSION = "2026-07"
TIMEOUT = 10.0
# Orders asked for per request; a look-up that wants more follows the cursor. Shopify charges a
# query's requested cost up front (here about 50 points an order, items and parcels included;
# at most 1000 a query, a Standard shop restoring 100 a second) and refunds what it did not use.
PAGE_SIZE = 10
# Pages one look-up may read: a search that keeps matching other orders stops there.
MAX_PAGES = 5
# A fetched access token is renewed this long before Shopify said it expires.
TOKEN_MARGIN = 300
# What our webhook subscriptions listen to (GraphQL topic names).
WEBHOOK_TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_FULFILLED")

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$")
_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")

ORDER_FIELDS = """
fragment OrderFields on Order {
  id name email phone createdAt cancelledAt statusPageUrl
  displayFinancialStatus displayFulfillmentStatus
  totalPriceSet { shopMoney { amount currencyCode } }
  customer { id displayName }
  lineItems(first: 10) { nodes { name quantity sku
    originalUnitPriceSet { shopMoney { amount currencyCode } } } }
  fulfillments(first: 3) { status displayStatus trackingInfo(first: 3) { company number url } }
}"""

SHOP_QUERY = "query Shop { shop { name myshopifyDomain } }"

ORDERS_QUERY = """
query Orders($q: String!, $first: Int!, $after: String) {
  orders(first: $first, after: $after, query: $q, sortKey: CREATED_AT, reverse: true) {
    nodes { ...OrderFields }
    pageInfo { hasNextPage endCursor }
  }
}""" + ORDER_FIELDS

# Orders cannot be searched by phone: the customers with that phone, then their orders.
CUSTOMER_ORDERS_QUERY = """
query CustomerOrders($q: String!, $first: Int!) {
  customers(first: 2, query: $q) {
    nodes {
      id displayName
      orders(first: $first, sortKey: CREATED_AT, reverse: true) {
        nodes { ...OrderFields }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}""" + ORDER_FIELDS

CUSTOMER_ORDERS_PAGE_QUERY = """
query CustomerOrdersPage($id: ID!, $first: Int!, $after: String) {
  customer(id: $id) {
    orders(first: $first, after: $after, sortKey: CREATED_AT, reverse: true) {
      nodes { ...OrderFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}""" + ORDER_FIELDS

WEBHOOK_CREATE_MUTATION = """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!,
                                   $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""


def normalise_shop(value: str) -> str:
    """``ornek-butik``, ``ornek-butik.myshopify.com`` or its https:// address as
    ``ornek-butik.myshopify.com``; ValidationFailed on the field otherwise."""
    shop = value.strip().lower().removeprefix("https://").removeprefix("http://")
    shop = shop.split("/", 1)[0]
    if shop and "." not in shop:
        shop += ".myshopify.com"
    if not _SHOP.fullmatch(shop):
        raise ValidationFailed("give the shop's address as your-shop.myshopify.com",
                               field=SHOP_DOMAIN)
    return shop


def search_value(value: str) -> str:
    """A value in Shopify's search syntax: quoted, since ``+``, ``@`` and ``#`` are special."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ShopifyAdapter(IntegrationAdapter):
    kind = mapping.KIND
    label = "Shopify"
    description = N_("Your store's orders in the contact card, order look-up by number, and "
                     "order webhooks that can start automations.")
    capabilities = frozenset({Capability.ORDER_LOOKUP, Capability.EVENT_SINK})
    fields = (
        SettingField(SHOP_DOMAIN, N_("Shop address"), help=N_(
            "your-shop.myshopify.com (the store's own address, not its custom domain)."),
            max_length=100),
        SettingField(ACCESS_TOKEN, N_("Admin API access token"), secret=True, required=False,
                     kind="password", help=N_(
                         "A custom app made in the Shopify admin (shpat_…), with the "
                         "read_orders and read_customers permissions. Leave empty for an app "
                         "made in the Dev Dashboard: its client ID is used instead.")),
        SettingField(CLIENT_ID, N_("App client ID"), required=False, max_length=100, help=N_(
            "An app made in Shopify's Dev Dashboard: its access token is fetched and renewed "
            "with the client ID and secret.")),
        SettingField(CLIENT_SECRET, N_("App client secret"), secret=True, kind="password",
                     help=N_("The app's client secret (API secret key): Shopify signs its "
                             "webhooks with it.")),
        SettingField(API_VERSION, N_("API version"), required=False,
                     default=DEFAULT_API_VERSION, max_length=20),
    )
    # Empty: the shop's own address (https://{shop}); set only for a test server.
    default_base_url = ""

    def setting_fields(self) -> tuple[SettingField, ...]:
        return (*self.fields, SettingField(
            BASE_URL, N_("API address"), required=False, kind="url", default="",
            help=N_("Leave empty: the shop's own address is used.")))

    def clean_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        version = settings.get(API_VERSION) or DEFAULT_API_VERSION
        if not _VERSION.fullmatch(version):
            raise ValidationFailed("an API version is written like 2026-07",
                                   field=API_VERSION)
        return {**settings, SHOP_DOMAIN: normalise_shop(settings.get(SHOP_DOMAIN, "")),
                API_VERSION: version}

    # ---- calls -------------------------------------------------------------------------------

    def shop_url(self, conn: Connection) -> str:
        return conn.base_url or f"https://{conn.setting(SHOP_DOMAIN)}"

    def endpoint(self, conn: Connection) -> str:
        version = conn.setting(API_VERSION, DEFAULT_API_VERSION)
        return f"{self.shop_url(conn)}/admin/api/{version}/graphql.json"

    async def graphql(self, conn: Connection, query: str, variables: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
        """``data`` of one GraphQL request, or the IntegrationError its answer means."""
        payload = {"query": query, "variables": variables or {}}
        response = await self._post(conn, payload, await self.access_token(conn))
        if response.status_code == 401 and not conn.secret(ACCESS_TOKEN):
            # A fetched token Shopify no longer takes (revoked, the app reinstalled): one more.
            response = await self._post(conn, payload,
                                        await self.access_token(conn, renew=True))
        _raise_for_status(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise IntegrationUnavailable("Shopify's answer was not JSON",
                                         status=response.status_code) from exc
        if body.get("errors"):
            raise _graphql_error(body)
        return body.get("data") or {}

    async def _post(self, conn: Connection, payload: dict[str, Any], token: str
                    ) -> httpx.Response:
        try:
            async with outbound.client(timeout=TIMEOUT) as http:
                return await http.post(self.endpoint(conn), json=payload, headers={
                    "X-Shopify-Access-Token": token, "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(f"Shopify did not answer ({type(exc).__name__})"
                                         ) from exc

    async def access_token(self, conn: Connection, *, renew: bool = False) -> str:
        """The token typed in, else the one fetched with the client credentials grant
        (kept in ``conn.state`` until shortly before it expires)."""
        if token := conn.secret(ACCESS_TOKEN):
            return token
        client_id = conn.setting(CLIENT_ID)
        if not client_id:
            raise IntegrationAuthFailed("give the Admin API access token, or the app's client ID")
        kept = conn.state.get("access_token")
        if kept and not renew and float(conn.state.get("expires_at") or 0) > time.time():
            return str(kept)
        try:
            async with outbound.client(timeout=TIMEOUT) as http:
                response = await http.post(
                    f"{self.shop_url(conn)}/admin/oauth/access_token",
                    data={"grant_type": "client_credentials", "client_id": client_id,
                          "client_secret": conn.secret(CLIENT_SECRET)},
                    headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(f"Shopify did not answer ({type(exc).__name__})"
                                         ) from exc
        if response.status_code in (400, 401, 403):
            raise IntegrationAuthFailed(
                f"Shopify refused the client ID and secret: {_said(response) or 'no reason'}"
                [:300], status=response.status_code)
        _raise_for_status(response)
        try:
            body = response.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 86399)
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrationUnavailable("Shopify's token answer could not be read") from exc
        conn.state.update(access_token=token,
                          expires_at=time.time() + max(lifetime - TOKEN_MARGIN, 0))
        return token

    async def check(self, conn: Connection) -> CheckResult:
        data = await self.graphql(conn, SHOP_QUERY)
        name = (data.get("shop") or {}).get("name") or conn.setting(SHOP_DOMAIN)
        detail = f"Shop: {name}"
        public_url = _public_url()
        if public_url:
            # Subscribing again is harmless (Shopify says the address is taken): every test
            # of the connection makes sure the order webhooks come to this connection.
            try:
                topics = await self.register_webhooks(conn, public_url)
                detail += f"; webhooks: {len(topics)}"
            except (IntegrationRefused, IntegrationUnavailable) as exc:
                detail += f"; webhooks not registered: {exc.message}"
        return CheckResult(True, detail)

    async def register_webhooks(self, conn: Connection, public_url: str) -> list[str]:
        """Subscribe the order topics to this connection's webhook URL; the topics now
        subscribed (those Shopify had already are counted)."""
        url = service.webhook_url(public_url, conn)
        done = []
        for topic in WEBHOOK_TOPICS:
            data = await self.graphql(conn, WEBHOOK_CREATE_MUTATION, {
                "topic": topic, "webhookSubscription": {"uri": url, "format": "JSON"}})
            errors = (data.get("webhookSubscriptionCreate") or {}).get("userErrors") or []
            if errors and not all("taken" in str(e.get("message", "")) for e in errors):
                raise IntegrationRefused(f"{topic}: {errors[0].get('message', '')}"[:300],
                                         code="userErrors")
            done.append(topic)
        return done

    # ---- orders ------------------------------------------------------------------------------

    async def orders_for_customer(self, conn: Connection, *, phone: str | None,
                                  email: str | None, limit: int = 5) -> list[Order]:
        lookups = []
        if email and email.strip():
            address = email.strip().lower()
            lookups.append(self._orders(
                conn, f"email:{search_value(address)}", limit,
                lambda node: (node.get("email") or "").lower() == address))
        if phone and phone.strip():
            lookups.append(self._customer_orders(conn, phone.strip(), limit))
        found: dict[str, Order] = {}
        for orders in await asyncio.gather(*lookups):
            for order in orders:
                found.setdefault(order.provider_id or order.number, order)
        ordered = sorted(found.values(), key=lambda o: o.created_at.timestamp()
                         if o.created_at else 0, reverse=True)
        return ordered[:limit]

    async def order_by_number(self, conn: Connection, number: str) -> Order | None:
        name = "#" + number.strip().lstrip("#").strip()
        if name == "#":
            return None
        found = await self._orders(conn, f"name:{search_value(name)}", 1,
                                   lambda node: node.get("name") == name)
        return found[0] if found else None

    async def _orders(self, conn: Connection, query: str, limit: int, matches) -> list[Order]:
        """Orders the search ``query`` finds that ``matches`` (search is by words, so
        ``name:#104`` may find #1045 too), newest first, following cursors up to ``limit``."""
        orders: list[Order] = []
        after = None
        for _ in range(MAX_PAGES):
            data = await self.graphql(conn, ORDERS_QUERY, {
                "q": query, "first": min(PAGE_SIZE, max(limit - len(orders), 1)),
                "after": after})
            page = data.get("orders") or {}
            orders += [mapping.from_graphql(node, conn.setting(SHOP_DOMAIN))
                       for node in page.get("nodes") or [] if matches(node)]
            info = page.get("pageInfo") or {}
            if len(orders) >= limit or not info.get("hasNextPage"):
                break
            after = info.get("endCursor")
        return orders[:limit]

    async def _customer_orders(self, conn: Connection, phone: str, limit: int) -> list[Order]:
        try:
            e164 = to_e164(phone)
        except ValidationFailed:
            return []
        shop = conn.setting(SHOP_DOMAIN)
        first = min(PAGE_SIZE, limit)
        data = await self.graphql(conn, CUSTOMER_ORDERS_QUERY,
                                  {"q": f"phone:{search_value(e164)}", "first": first})
        orders: list[Order] = []
        for customer in (data.get("customers") or {}).get("nodes") or []:
            page = customer.get("orders") or {}
            mine = [mapping.from_graphql(node, shop) for node in page.get("nodes") or []]
            info = page.get("pageInfo") or {}
            for _ in range(MAX_PAGES - 1):
                if len(mine) >= limit or not info.get("hasNextPage"):
                    break
                more = await self.graphql(conn, CUSTOMER_ORDERS_PAGE_QUERY, {
                    "id": customer.get("id"), "first": min(PAGE_SIZE, limit - len(mine)),
                    "after": info.get("endCursor")})
                page = (more.get("customer") or {}).get("orders") or {}
                mine += [mapping.from_graphql(node, shop) for node in page.get("nodes") or []]
                info = page.get("pageInfo") or {}
            orders += mine
        return orders

    # ---- webhooks ----------------------------------------------------------------------------

    async def receive_webhook(self, db: Any, conn: Connection, hook: IncomingWebhook
                              ) -> WebhookReply:
        from invekto.integrations.shopify import hooks  # local: hooks import automation

        return await hooks.receive(db, conn, hook)


def _public_url() -> str | None:
    try:
        return runtime.current().settings.public_url
    except RuntimeError:
        return None


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    said = _said(response)
    if status in (401, 403):
        raise IntegrationAuthFailed(
            "Shopify refused the access token" if status == 401
            else f"Shopify refused access: {said or 'a permission (scope) is missing'}",
            status=status)
    if status == 429:
        raise IntegrationRateLimited("Shopify's rate limit was reached",
                                     retry_after=_seconds(response.headers.get("retry-after")),
                                     status=429)
    if status >= 500:
        raise IntegrationUnavailable(f"Shopify answered {status}", status=status)
    raise IntegrationRefused(f"Shopify refused the request ({status}): {said}"[:300],
                             status=status)


def _said(response: httpx.Response) -> str:
    try:
        body = response.json()
        errors = body.get("errors") or body.get("error_description") or body.get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                         for e in errors)[:200]
    return str(errors or "")[:200]


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _graphql_error(body: dict) -> Exception:
    errors = body["errors"]
    if not isinstance(errors, list):  # the REST form: {"errors": "..."}
        return IntegrationRefused(f"Shopify: {errors}"[:300], status=200)
    codes = {str((e.get("extensions") or {}).get("code") or "") for e in errors
             if isinstance(e, dict)}
    message = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))[:300]
    if "THROTTLED" in codes:
        return IntegrationRateLimited("Shopify's query cost limit was reached",
                                      retry_after=throttle_wait(body), status=200,
                                      code="THROTTLED")
    if "ACCESS_DENIED" in codes:
        # A permission the app was not given: the settings (the app's scopes) need fixing.
        return IntegrationAuthFailed(f"Shopify refused access: {message}", status=200,
                                     code="ACCESS_DENIED")
    if "INTERNAL_SERVER_ERROR" in codes:
        return IntegrationUnavailable(f"Shopify: {message}", status=200,
                                      code="INTERNAL_SERVER_ERROR")
    return IntegrationRefused(f"Shopify: {message}", status=200,
                              code=next(iter(sorted(codes - {""})), None))


def throttle_wait(body: dict) -> float | None:
    """Seconds until the bucket holds the query's cost: (cost − available) / restore rate."""
    cost = ((body.get("extensions") or {}).get("cost") or {})
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    if rate <= 0:
        return None
    return math.ceil(max(needed, 0.0) / rate * 100) / 100


registry.register(ShopifyAdapter())

"""Trendyol Marketplace seller API: a marketplace order and its cargo, by the order number the
customer quotes (docs/integrations.md, "Trendyol").

One Trendyol order can be split into several shipment packages, each with its own status,
cargo provider and tracking number; ``getShipmentPackages`` lists packages, so the packages of
one ``orderNumber`` are merged here into one ``Order`` with one ``Shipment`` per package.

Trendyol does not give buyers' phone numbers, and its e-mail addresses are relay addresses
(``...@trendyolmail.com``): a contact is matched only by such an e-mail, among the packages
changed in the last ``CUSTOMER_DAYS`` days (at most ``CUSTOMER_PAGES`` pages), never by phone.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from invekto.core.i18n import N_
from invekto.integrations import carriers, registry
from invekto.integrations.base import (
    Capability,
    CheckResult,
    Connection,
    IntegrationAdapter,
    IntegrationRefused,
    Order,
    OrderItem,
    SettingField,
    Shipment,
)
from invekto.integrations.marketplaces import (
    RequestBudget,
    basic_auth,
    decimal,
    get_json,
    merged_state,
    tracking_number,
)

PROD_BASE_URL = "https://apigw.trendyol.com"
STAGE_BASE_URL = "https://stageapigw.trendyol.com"
ORDERS_PATH = "/integration/order/sellers/{seller_id}/orders"
DEFAULT_INTEGRATOR = "SelfIntegration"
MAX_PAGE_SIZE = 200  # documented maximum
MAX_ORDER_PAGES = 5  # an order's packages: more than 1,000 would be a broken answer
CUSTOMER_DAYS = 14
CUSTOMER_PAGES = 2
RATE_PER_MINUTE = 1000  # documented

# Trendyol's package statuses on ours (docs/integrations.md has the table).
STATES = {
    "Awaiting": "pending",  # stock reserved, payment not yet confirmed
    "Created": "paid",
    "Picking": "preparing",
    "Invoiced": "preparing",
    "Repack": "preparing",
    "UnPacked": "preparing",
    "Shipped": "shipped",
    "AtCollectionPoint": "shipped",
    "Delivered": "delivered",
    "UnDelivered": "undelivered",
    "Cancelled": "cancelled",
    "UnSupplied": "cancelled",
    "Returned": "returned",
}
UNKNOWN_STATE = "preparing"


def state_of(status: str | None) -> str:
    return STATES.get(status or "", UNKNOWN_STATE)


def _ms(value: Any) -> datetime | None:
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _integrator(name: str) -> str:
    """Trendyol wants the integrator name alphanumeric, at most 30 characters."""
    cleaned = re.sub(r"[^0-9A-Za-z]", "", name)[:30]
    return cleaned or DEFAULT_INTEGRATOR


class TrendyolAdapter(IntegrationAdapter):
    kind = "trendyol"
    label = "Trendyol"
    description = N_("Trendyol marketplace orders and their cargo tracking, by order number.")
    capabilities = frozenset({Capability.ORDER_LOOKUP})
    default_base_url = PROD_BASE_URL
    fields = (
        SettingField("seller_id", N_("Seller ID"), max_length=20,
                     help=N_("Seller panel: Account information, Integration information.")),
        SettingField("api_key", N_("API key"), secret=True, kind="password", max_length=200),
        SettingField("api_secret", N_("API secret"), secret=True, kind="password",
                     max_length=200),
        SettingField("integrator", N_("Integrator name"), required=False,
                     default=DEFAULT_INTEGRATOR, max_length=30,
                     help=N_("Sent in the User-Agent header: SelfIntegration when you built "
                             "the integration yourselves, else your integrator's name.")),
    )

    def __init__(self, *, requests_per_minute: int = RATE_PER_MINUTE) -> None:
        self.budget = RequestBudget(requests_per_minute, 60.0)

    # ---- requests ------------------------------------------------------------------------------

    def _seller_id(self, conn: Connection) -> str:
        seller_id = conn.setting("seller_id").strip()
        if not seller_id.isdigit():
            raise IntegrationRefused("Trendyol: the seller id must be digits", code="seller_id")
        return seller_id

    def headers(self, conn: Connection) -> dict[str, str]:
        seller_id = self._seller_id(conn)
        return {
            "Authorization": basic_auth(conn.secret("api_key"), conn.secret("api_secret")),
            "User-Agent": f"{seller_id} - {_integrator(conn.setting('integrator'))}",
            "Accept": "application/json",
        }

    async def _page(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        seller_id = self._seller_id(conn)
        self.budget.take(seller_id, self.label)
        url = (conn.base_url or PROD_BASE_URL) + ORDERS_PATH.format(seller_id=seller_id)
        found = await get_json(url, params=params, headers=self.headers(conn), label=self.label)
        assert found is not None
        body = found[0]
        return body if isinstance(body, dict) else {}

    async def packages(self, conn: Connection, params: dict[str, Any], *, max_pages: int
                       ) -> list[dict[str, Any]]:
        """Packages matching ``params``, page by page (0-based, ``totalPages``), at most
        ``max_pages`` pages of ``MAX_PAGE_SIZE``."""
        found: list[dict[str, Any]] = []
        page = 0
        while page < max_pages:
            body = await self._page(conn, {**params, "page": page, "size": MAX_PAGE_SIZE})
            content = body.get("content") or []
            found.extend(p for p in content if isinstance(p, dict))
            total_pages = int(body.get("totalPages") or 0)
            page += 1
            if not content or page >= total_pages:
                break
        return found

    # ---- capabilities --------------------------------------------------------------------------

    async def check(self, conn: Connection) -> CheckResult:
        seller_id = self._seller_id(conn)
        await self._page(conn, {"page": 0, "size": 1})
        return CheckResult(True, f"Seller {seller_id}: reachable")

    async def order_by_number(self, conn: Connection, number: str) -> Order | None:
        number = number.strip()
        if not number.isdigit():
            return None  # Trendyol order numbers are digits; do not spend a request
        packages = await self.packages(conn, {"orderNumber": number}, max_pages=MAX_ORDER_PAGES)
        packages = [p for p in packages if str(p.get("orderNumber")) == number]
        return to_order(packages) if packages else None

    async def orders_for_customer(self, conn: Connection, *, phone: str | None,
                                  email: str | None, limit: int = 5) -> list[Order]:
        if not email or "@" not in email:
            return []  # buyers' phone numbers are not in Trendyol's answers
        now_ms = int(time.time() * 1000)
        packages = await self.packages(conn, {
            "startDate": now_ms - CUSTOMER_DAYS * 86_400_000, "endDate": now_ms,
            "orderByField": "PackageLastModifiedDate", "orderByDirection": "DESC",
        }, max_pages=CUSTOMER_PAGES)
        wanted = email.strip().lower()
        by_number: dict[str, list[dict[str, Any]]] = {}
        for package in packages:
            if str(package.get("customerEmail") or "").strip().lower() == wanted:
                by_number.setdefault(str(package.get("orderNumber")), []).append(package)
        orders = [to_order(group) for group in by_number.values()]
        orders.sort(key=lambda o: o.created_at or datetime.min.replace(tzinfo=UTC),
                    reverse=True)
        return orders[:limit]


def to_order(packages: list[dict[str, Any]]) -> Order:
    """The packages of one order number as one Order, its packages in the order they were
    made (Trendyol lists them by their last change)."""
    packages = sorted(packages, key=lambda p: int(p.get("id") or p.get("shipmentPackageId")
                                                  or 0))
    first = packages[0]
    states = [state_of(p.get("shipmentPackageStatus") or p.get("status")) for p in packages]
    statuses = list(dict.fromkeys(
        str(p.get("shipmentPackageStatus") or p.get("status") or "") for p in packages))
    live = [p for p, s in zip(packages, states, strict=True) if s != "cancelled"] or packages
    totals = [decimal(p.get("totalPrice")) for p in live]
    items: list[OrderItem] = []
    shipments: list[Shipment] = []
    for package, state in zip(packages, states, strict=True):
        for line in package.get("lines") or []:
            items.append(OrderItem(
                name=str(line.get("productName") or line.get("merchantSku") or "-"),
                quantity=int(line.get("quantity") or 1),
                price=decimal(line.get("price")),
                sku=str(line.get("merchantSku") or line.get("stockCode")
                        or line.get("barcode") or "") or None))
        carrier_name = package.get("cargoProviderName")
        number = tracking_number(package.get("cargoTrackingNumber"))
        if carrier_name or number:
            shipments.append(Shipment(
                carrier=carriers.display_name(carrier_name),
                tracking_number=number,
                tracking_url=(str(package.get("cargoTrackingLink") or "") or None)
                or carriers.tracking_url(carrier_name, number),
                status=state))
    name = " ".join(str(first.get(k) or "").strip()
                    for k in ("customerFirstName", "customerLastName")).strip()
    dates = [d for d in (_ms(p.get("orderDate")) for p in packages) if d]
    return Order(
        source="trendyol",
        number=str(first.get("orderNumber")),
        state=merged_state(states),
        provider_status=", ".join(s for s in statuses if s),
        created_at=min(dates) if dates else None,
        total=sum((t for t in totals if t is not None), Decimal(0))
        if any(t is not None for t in totals) else None,
        currency=str(first.get("currencyCode") or "TRY"),
        items=tuple(items),
        shipments=tuple(shipments),
        customer_name=name or None,
        provider_id=",".join(str(p.get("id") or p.get("shipmentPackageId")) for p in packages),
    )


registry.register(TrendyolAdapter())

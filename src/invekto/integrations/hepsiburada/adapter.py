"""Hepsiburada Marketplace OMS API: an order and its cargo, by the order number the customer
quotes (docs/integrations.md, "Hepsiburada").

Authentication is Basic with the merchant id (or a separate integration user name) and the
service key from the merchant panel, plus the ``User-Agent`` Hepsiburada registered for the
integrator; without it Hepsiburada answers 403 before it looks at the credentials.

Hepsiburada's response bodies are not in the reference we had: the order-detail shape read here
(``items[]`` with ``status``, ``cargoCompanyModel``/``cargoCompany``, ``trackingInfoCode``,
``trackingInfoUrl``, ``unitPrice``/``totalPrice`` ``{amount, currency}``) is an assumption,
read tolerantly (camelCase or PascalCase), and documented as such.

A contact is matched (by e-mail or phone) only among the packages of the last 24 hours
(``/packages``, ``limit`` 10, at most ``CUSTOMER_PAGES`` pages): listing more would be an
unbounded scan for every contact card.
"""

from __future__ import annotations

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

PROD_BASE_URL = "https://oms-external.hepsiburada.com"
SIT_BASE_URL = "https://oms-external-sit.hepsiburada.com"
ORDERS_PATH = "/orders/merchantid/{merchant_id}"
ORDER_PATH = "/orders/merchantid/{merchant_id}/ordernumber/{number}"
PACKAGES_PATH = "/packages/merchantid/{merchant_id}"
PACKAGES_LIMIT = 10  # documented maximum
CUSTOMER_PAGES = 3
CUSTOMER_HOURS = 24  # the documented longest date window
RATE_PER_SECOND = 1000  # documented

# Hepsiburada's line statuses on ours, by lower-cased name (docs/integrations.md).
STATES = {
    "open": "paid",  # paid, awaiting packaging ("Paketlenecek")
    "unpacked": "paid",
    "packaged": "preparing",
    "readytoship": "preparing",
    "intransit": "shipped",
    "shipped": "shipped",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "cancelled": "cancelled",
    "cancelledbymerchant": "cancelled",
    "cancelledbycustomer": "cancelled",
    "cancelledbysap": "cancelled",
    "returned": "returned",
    "claimcreated": "returned",
    "refunded": "refunded",
}
UNKNOWN_STATE = "preparing"


def state_of(status: str | None) -> str:
    return STATES.get((status or "").replace("_", "").replace(" ", "").lower(), UNKNOWN_STATE)


def pick(data: Any, *names: str) -> Any:
    """The first of ``names`` present in ``data`` (as written, or PascalCase)."""
    if not isinstance(data, dict):
        return None
    for name in names:
        for key in (name, name[:1].upper() + name[1:]):
            if data.get(key) not in (None, ""):
                return data[key]
    return None


def _amount(data: Any) -> tuple[Decimal | None, str | None]:
    if isinstance(data, dict):
        return decimal(pick(data, "amount")), pick(data, "currency")
    return decimal(data), None


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    # Hepsiburada writes Turkish local time without an offset (assumed); kept as UTC+3.
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Istanbul"))
    return parsed.astimezone(UTC)


class HepsiburadaAdapter(IntegrationAdapter):
    kind = "hepsiburada"
    label = "Hepsiburada"
    description = N_("Hepsiburada marketplace orders and their cargo tracking, by order number.")
    capabilities = frozenset({Capability.ORDER_LOOKUP})
    default_base_url = PROD_BASE_URL
    fields = (
        SettingField("merchant_id", N_("Merchant ID"), max_length=64),
        SettingField("username", N_("Integration user name"), secret=True, required=False,
                     max_length=200,
                     help=N_("Leave empty to use the merchant ID, as Hepsiburada's service "
                             "keys expect.")),
        SettingField("password", N_("Service key"), secret=True, kind="password",
                     max_length=200),
        SettingField("user_agent", N_("User-Agent name"), max_length=100,
                     help=N_("The integrator name Hepsiburada registered for you "
                             "(for example company_dev).")),
    )

    def __init__(self, *, requests_per_second: int = RATE_PER_SECOND) -> None:
        self.budget = RequestBudget(requests_per_second, 1.0)

    # ---- requests ------------------------------------------------------------------------------

    def _merchant_id(self, conn: Connection) -> str:
        merchant_id = conn.setting("merchant_id").strip()
        if not merchant_id or "/" in merchant_id:
            raise IntegrationRefused("Hepsiburada: the merchant id is missing or invalid",
                                     code="merchant_id")
        return merchant_id

    def headers(self, conn: Connection) -> dict[str, str]:
        merchant_id = self._merchant_id(conn)
        return {
            "Authorization": basic_auth(conn.secret("username") or merchant_id,
                                        conn.secret("password")),
            "User-Agent": conn.setting("user_agent").strip(),
            "Accept": "application/json",
        }

    async def _get(self, conn: Connection, path: str, params: dict[str, Any], *,
                   not_found_is_none: bool = False):
        merchant_id = self._merchant_id(conn)
        self.budget.take(merchant_id, self.label)
        return await get_json((conn.base_url or PROD_BASE_URL) + path, params=params,
                              headers=self.headers(conn), label=self.label,
                              not_found_is_none=not_found_is_none)

    # ---- capabilities --------------------------------------------------------------------------

    async def check(self, conn: Connection) -> CheckResult:
        merchant_id = self._merchant_id(conn)
        await self._get(conn, ORDERS_PATH.format(merchant_id=merchant_id),
                        {"offset": 0, "limit": 1})
        return CheckResult(True, f"Merchant {merchant_id}: reachable")

    async def order_by_number(self, conn: Connection, number: str) -> Order | None:
        number = number.strip()
        if not number.isalnum():
            return None
        found = await self._get(conn, ORDER_PATH.format(
            merchant_id=self._merchant_id(conn), number=number), {}, not_found_is_none=True)
        if found is None:
            return None
        body = found[0]
        if isinstance(body, list):  # some answers wrap the order in a list
            body = body[0] if body else None
        if not isinstance(body, dict) or not (pick(body, "items", "orderLines") or []):
            return None
        return to_order(body, number)

    async def orders_for_customer(self, conn: Connection, *, phone: str | None,
                                  email: str | None, limit: int = 5) -> list[Order]:
        wanted_email = (email or "").strip().lower()
        wanted_phone = _phone_key(phone)
        if not wanted_email and not wanted_phone:
            return []
        merchant_id = self._merchant_id(conn)
        numbers: list[str] = []
        for page in range(CUSTOMER_PAGES):
            found = await self._get(conn, PACKAGES_PATH.format(merchant_id=merchant_id), {
                "timespan": CUSTOMER_HOURS, "offset": page * PACKAGES_LIMIT,
                "limit": PACKAGES_LIMIT})
            assert found is not None
            packages, headers = found
            packages = packages if isinstance(packages, list) else pick(packages, "items") or []
            for package in packages:
                if _is_customer(package, wanted_email, wanted_phone):
                    for number in _order_numbers(package):
                        if number not in numbers:
                            numbers.append(number)
            page_count = int(headers.get("pagecount") or 0)
            if len(packages) < PACKAGES_LIMIT or page + 1 >= page_count:
                break
        orders = [order for number in numbers[:limit]
                  if (order := await self.order_by_number(conn, number)) is not None]
        orders.sort(key=lambda o: o.created_at or datetime.min.replace(tzinfo=UTC),
                    reverse=True)
        return orders


def _phone_key(phone: str | None) -> str:
    """The last ten digits: Hepsiburada writes numbers as 05xx..., 5xx... or +905xx...."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else ""


def _is_customer(package: dict[str, Any], email: str, phone: str) -> bool:
    places = [package, pick(package, "shippingAddress", "deliveryAddress") or {},
              pick(package, "customer") or {}]
    for place in places:
        found_email = str(pick(place, "email") or "").strip().lower()
        if email and found_email == email:
            return True
        if phone and _phone_key(str(pick(place, "phoneNumber", "phone") or "")) == phone:
            return True
    return False


def _order_numbers(package: dict[str, Any]) -> list[str]:
    numbers = [str(n) for n in [pick(package, "orderNumber")] if n]
    for item in pick(package, "items", "lines") or []:
        number = pick(item, "orderNumber")
        if number and str(number) not in numbers:
            numbers.append(str(number))
    return numbers


def to_order(body: dict[str, Any], number: str) -> Order:
    lines = [line for line in pick(body, "items", "orderLines") or [] if isinstance(line, dict)]
    states = [state_of(pick(line, "status")) for line in lines]
    statuses = list(dict.fromkeys(str(pick(line, "status") or "") for line in lines))
    items: list[OrderItem] = []
    shipments: dict[tuple, Shipment] = {}
    total = Decimal(0)
    has_total = False
    currency = None
    for line, state in zip(lines, states, strict=True):
        unit, unit_currency = _amount(pick(line, "unitPrice", "price"))
        line_total, total_currency = _amount(pick(line, "totalPrice"))
        currency = currency or total_currency or unit_currency
        quantity = int(pick(line, "quantity") or 1)
        if line_total is None and unit is not None:
            line_total = unit * quantity
        if line_total is not None and state != "cancelled":
            total += line_total
            has_total = True
        items.append(OrderItem(
            name=str(pick(line, "productName", "name") or pick(line, "merchantSku") or "-"),
            quantity=quantity, price=unit,
            sku=str(pick(line, "merchantSku", "merchantSKU", "sku") or "") or None))
        cargo = pick(line, "cargoCompanyModel")
        carrier_name = pick(cargo, "name") if isinstance(cargo, dict) else None
        carrier_name = carrier_name or pick(line, "cargoCompany")
        code = tracking_number(pick(line, "trackingInfoCode", "trackingNumber"))
        if not carrier_name and not code:
            continue
        key = (pick(line, "packageNumber") or code, carrier_name)
        shipments.setdefault(key, Shipment(
            carrier=carriers.display_name(carrier_name),
            tracking_number=code,
            tracking_url=pick(line, "trackingInfoUrl", "trackingUrl")
            or carriers.tracking_url(carrier_name, code),
            status=state))
    customer = pick(body, "customer")
    name = (pick(customer, "name") if isinstance(customer, dict) else None) or pick(
        body, "customerName") or pick(pick(body, "deliveryAddress", "shippingAddress") or {},
                                      "name")
    order_date = _date(pick(body, "orderDate")) or min(
        (d for d in (_date(pick(line, "orderDate")) for line in lines) if d), default=None)
    return Order(
        source="hepsiburada",
        number=str(pick(body, "orderNumber") or number),
        state=merged_state(states) if states else "paid",
        provider_status=", ".join(s for s in statuses if s),
        created_at=order_date,
        total=total if has_total else None,
        currency=currency or "TRY",
        items=tuple(items),
        shipments=tuple(shipments.values()),
        customer_name=str(name) if name else None,
        provider_id=str(pick(body, "orderId", "id") or "") or None,
    )


registry.register(HepsiburadaAdapter())

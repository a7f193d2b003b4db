"""A Hepsiburada OMS (order) API simulator: one merchant's orders and packages, in memory.

Provider side (what ``HepsiburadaAdapter`` calls), each checked in this order: the registered
``User-Agent`` (else 403), Basic auth ``<merchantId or user>:<service key>`` (else 401), the
merchant id of those credentials (else 403), then:

* ``GET /orders/merchantid/{merchantId}?offset=&limit=[&begindate=&enddate=]``: lines paid and
  awaiting packaging (status ``Open``); ``limit`` and ``offset`` mandatory (else 400 "Bad
  Request limit and offset parameters are required"), ``limit`` ≤ 100; answers
  ``{totalCount, offset, limit, pageCount, items[]}``;
* ``GET /packages/merchantid/{merchantId}?offset=&limit=&timespan=`` (or ``begindate``/
  ``enddate``, ``yyyy-MM-dd HH:mm``, a window over 24 h cut to 24 h): packages, ``limit`` ≤ 10,
  the list as the body and the page count in a ``pagecount`` header;
* ``GET /orders/merchantid/{merchantId}/ordernumber/{orderNumber}``: the order, or 404.

Seeding (from any test)::

    sim = HepsiburadaSimulator()                   # MERCHANT_ID, SERVICE_KEY, USER_AGENT
    sim.add_order("4100000009", "InTransit", cargo_company="Aras Kargo",
                  tracking_number="3513773163316", lines=[("Kupa", 4, "25.00")],
                  email="ayse@example.com", phone="05321234567")
    async with serving(sim) as url: ...            # tests/processes.py; url is the base URL

``add_order`` returns the order (a dict; change it freely): ``items[]`` carry ``status``,
``packageNumber``, ``cargoCompanyModel.name``, ``cargoCompany``, ``trackingInfoCode`` and
``trackingInfoUrl`` (pass ``tracking_url``; omitted otherwise). ``add_line`` adds a line (another
package) to a seeded order. Controls: ``rate_limit(count, reset=)`` answers the next ``count``
requests 429 with ``X-RateLimit-Limit/Remaining/Reset``; ``fail_next(status, body)`` any other
answer; ``state.requests`` records every request.

As a server: ``python -m invekto.integrations.hepsiburada.simulator --port 8032`` (seeds one
order in transit, 4100000009).
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from invekto.integrations.trendyol.simulator import Answer, Recorded

MERCHANT_ID = "5a1d3201-7d71-4e82-b812-3dd41b73bf55"
SERVICE_KEY = "HbSimKey1234"
USER_AGENT = "invekto_dev"
MISSING_PAGING = "Bad Request limit and offset parameters are required"
ORDERS_MAX = 100
PACKAGES_MAX = 10
_PACKED = {"packaged", "readytoship", "intransit", "shipped", "delivered", "undelivered"}


@dataclass
class SimulatorState:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)


def hb_error(status: int, message: str) -> dict[str, Any]:
    """An error body (Hepsiburada's shape is not documented; see docs/integrations.md)."""
    return {"status": status, "message": message}


class HepsiburadaSimulator:
    def __init__(self, merchant_id: str = MERCHANT_ID, service_key: str = SERVICE_KEY,
                 user_agent: str = USER_AGENT, username: str | None = None) -> None:
        self.merchant_id = merchant_id
        self.service_key = service_key
        self.user_agent = user_agent
        self.username = username or merchant_id
        self.state = SimulatorState()
        self._lines = itertools.count(1)
        self._packages = itertools.count(9100001)
        self.now = datetime(2026, 11, 27, 12, 0)  # the simulator's clock (Turkish time)
        self._app = Starlette(routes=[
            Route("/orders/merchantid/{merchant_id}/ordernumber/{number}", self._order),
            Route("/orders/merchantid/{merchant_id}", self._orders),
            Route("/packages/merchantid/{merchant_id}", self._package_list),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- seeding and controls ------------------------------------------------------------------

    def add_order(self, order_number: str, status: str = "Open", *,
                  cargo_company: str | None = None, tracking_number: str | None = None,
                  tracking_url: str | None = None,
                  lines: list[tuple[str, int, str]] | None = None,
                  customer_name: str = "Ayşe Yılmaz", email: str | None = None,
                  phone: str | None = None, order_date: datetime | None = None,
                  currency: str = "TRY") -> dict[str, Any]:
        """An order whose lines (name, quantity, unit price as a decimal string) are in one
        package with ``status``, ``cargo_company`` and ``tracking_number``."""
        order_date = order_date or self.now - timedelta(hours=2)
        order = {
            "orderId": str(uuid.uuid4()), "orderNumber": str(order_number),
            "orderDate": order_date.strftime("%Y-%m-%dT%H:%M:%S"),
            "customer": {"customerId": str(uuid.uuid4()), "name": customer_name},
            "deliveryAddress": {"name": customer_name, "email": email, "phoneNumber": phone,
                                "city": "İstanbul", "town": "Kadıköy", "district": "Moda",
                                "address": "Örnek Mah. 1. Sok. No:3"},
            "items": [],
        }
        self.state.orders[str(order_number)] = order
        for name, quantity, price in lines or [("Porselen Kupa", 1, "149.90")]:
            self.add_line(order_number, name, quantity, price, status=status,
                          cargo_company=cargo_company, tracking_number=tracking_number,
                          tracking_url=tracking_url, currency=currency, new_package=False)
        return order

    def add_line(self, order_number: str, name: str, quantity: int, price: str, *,
                 status: str = "Open", cargo_company: str | None = None,
                 tracking_number: str | None = None, tracking_url: str | None = None,
                 currency: str = "TRY", new_package: bool = True) -> dict[str, Any]:
        """A line of a seeded order; ``new_package``: in a package of its own."""
        order = self.state.orders[str(order_number)]
        items = order["items"]
        if new_package or not items:
            package_number = str(next(self._packages))
        else:
            package_number = items[-1]["packageNumber"]
        unit = Decimal(price)
        line = {
            "lineItemId": f"L-{next(self._lines)}", "orderNumber": str(order_number),
            "orderDate": order["orderDate"], "status": status,
            "sku": f"HBV0000{len(items) + 1:05d}", "merchantSku": f"SKU-{len(items) + 1}",
            "productName": name, "quantity": quantity,
            "unitPrice": {"amount": float(unit), "currency": currency},
            "totalPrice": {"amount": float(unit * quantity), "currency": currency},
            "packageNumber": package_number,
            "cargoCompany": cargo_company,
            "cargoCompanyModel": {"name": cargo_company} if cargo_company else None,
            "trackingInfoCode": tracking_number,
            "lastStatusUpdateDate": order["orderDate"],
        }
        if tracking_url is not None:
            line["trackingInfoUrl"] = tracking_url
        items.append(line)
        return line

    def rate_limit(self, count: int = 1, *, reset: int = 1) -> None:
        for _ in range(count):
            self.state.answers.append(Answer(
                429, hb_error(429, "Too Many Requests"),
                {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0",
                 "X-RateLimit-Reset": str(reset)}))

    def fail_next(self, status: int = 500, body: Any = None, count: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        for _ in range(count):
            self.state.answers.append(Answer(
                status, body if body is not None else hb_error(status, "Internal Server Error"),
                headers or {}))

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the API -------------------------------------------------------------------------------

    def _refusal(self, request: Request) -> JSONResponse | None:
        self.state.requests.append(Recorded(request.method, request.url.path,
                                            dict(request.query_params), dict(request.headers)))
        if request.headers.get("user-agent") != self.user_agent:
            return JSONResponse(hb_error(403, "Forbidden"), status_code=403)
        header = request.headers.get("authorization", "")
        try:
            decoded = base64.b64decode(header[6:]).decode() if header.startswith(
                "Basic ") else ""
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if decoded != f"{self.username}:{self.service_key}":
            return JSONResponse(hb_error(401, "Unauthorized"), status_code=401)
        if request.path_params["merchant_id"] != self.merchant_id:
            return JSONResponse(hb_error(403, "Forbidden"), status_code=403)
        if self.state.answers:
            answer = self.state.answers.popleft()
            return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
        return None

    @staticmethod
    def _paging(request: Request, maximum: int) -> tuple[int, int] | JSONResponse:
        query = request.query_params
        if "limit" not in query or "offset" not in query:
            return JSONResponse(hb_error(400, MISSING_PAGING), status_code=400)
        try:
            limit, offset = int(query["limit"]), int(query["offset"])
        except ValueError:
            return JSONResponse(hb_error(400, "limit and offset must be numbers"), 400)
        if not 1 <= limit <= maximum or offset < 0:
            return JSONResponse(hb_error(400, f"limit must be between 1 and {maximum}"), 400)
        return limit, offset

    def _window(self, request: Request) -> tuple[datetime, datetime] | JSONResponse | None:
        query = request.query_params
        if "begindate" not in query:
            return None
        try:
            begin = datetime.strptime(query["begindate"], "%Y-%m-%d %H:%M")
            end = datetime.strptime(query["enddate"], "%Y-%m-%d %H:%M") if (
                "enddate" in query) else begin + timedelta(hours=24)
        except ValueError:
            return JSONResponse(hb_error(400, "dates are yyyy-MM-dd HH:mm"), 400)
        # Documented: a longer range is cut to begindate + 24 h.
        return begin, min(end, begin + timedelta(hours=24))

    async def _order(self, request: Request) -> JSONResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        order = self.state.orders.get(request.path_params["number"])
        if order is None:
            return JSONResponse(hb_error(404, "Order not found"), status_code=404)
        return JSONResponse(order)

    async def _orders(self, request: Request) -> JSONResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        paging = self._paging(request, ORDERS_MAX)
        if isinstance(paging, JSONResponse):
            return paging
        window = self._window(request)
        if isinstance(window, JSONResponse):
            return window
        limit, offset = paging
        lines = [line for order in self.state.orders.values() for line in order["items"]
                 if line["status"].lower() == "open" and self._within(line, window)]
        return JSONResponse({"totalCount": len(lines), "offset": offset, "limit": limit,
                             "pageCount": (len(lines) + limit - 1) // limit,
                             "items": lines[offset:offset + limit]})

    async def _package_list(self, request: Request) -> JSONResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        paging = self._paging(request, PACKAGES_MAX)
        if isinstance(paging, JSONResponse):
            return paging
        window = self._window(request)
        if isinstance(window, JSONResponse):
            return window
        if window is None:
            try:
                hours = int(request.query_params.get("timespan", 24))
            except ValueError:
                return JSONResponse(hb_error(400, "timespan must be hours"), 400)
            window = (self.now - timedelta(hours=hours), self.now)
        limit, offset = paging
        packages: dict[str, dict[str, Any]] = {}
        for order in self.state.orders.values():
            for line in order["items"]:
                if line["status"].lower() not in _PACKED or not self._within(line, window):
                    continue
                package = packages.setdefault(line["packageNumber"], {
                    "packageNumber": line["packageNumber"], "status": line["status"],
                    "orderNumber": order["orderNumber"],
                    "customerName": order["customer"]["name"],
                    "email": order["deliveryAddress"]["email"],
                    "phoneNumber": order["deliveryAddress"]["phoneNumber"],
                    "cargoCompany": line["cargoCompany"],
                    "trackingInfoCode": line["trackingInfoCode"], "items": []})
                package["items"].append(line)
        found = list(packages.values())
        page_count = (len(found) + limit - 1) // limit
        return JSONResponse(found[offset:offset + limit], headers={"pagecount": str(page_count)})

    @staticmethod
    def _within(line: dict[str, Any], window: tuple[datetime, datetime] | None) -> bool:
        if window is None:
            return True
        changed = datetime.strptime(line["lastStatusUpdateDate"], "%Y-%m-%dT%H:%M:%S")
        return window[0] <= changed <= window[1]


def create_simulator(**options: Any) -> HepsiburadaSimulator:
    return HepsiburadaSimulator(**options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Hepsiburada OMS API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8032)
    args = parser.parse_args()
    simulator = create_simulator()
    simulator.add_order("4100000009", "InTransit", cargo_company="Aras Kargo",
                        tracking_number="3513773163316")
    uvicorn.run(simulator, host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

"""A Trendyol Marketplace seller-API simulator: shipment packages of one seller, kept in memory.

Provider side (what ``TrendyolAdapter`` calls): ``GET /integration/order/sellers/{sellerId}/orders``
with Trendyol's checks, in this order: a ``User-Agent`` of ``"<sellerId> - <name>"`` (else 403),
Basic auth with the API key and secret (else 401 with ``"exception":
"ClientApiAuthenticationException"``), the seller id of those credentials (else 403), ``size``
≤ 200 and ``page`` ≥ 0 (else 400 with ``errors[]``). Filters: ``orderNumber``, ``status``,
``shipmentPackageIds``, ``startDate``/``endDate`` (epoch ms, on the package's last change);
``orderByDirection`` ASC/DESC on ``lastModifiedDate``; the page as Trendyol's
``{totalElements, totalPages, page, size, content[]}``.

Seeding (from any test)::

    sim = TrendyolSimulator()                      # SELLER_ID, API_KEY, API_SECRET
    sim.add_package("10345678901", "Shipped", cargo_provider="Yurtiçi Kargo Marketplace",
                    tracking_number=7330001234567, lines=[("Mont", 1, "1249.90")])
    sim.add_package("10345678901", "Created")      # a second package of the same order
    async with serving(sim) as url: ...            # tests/processes.py; url is the base URL

``add_package`` returns the package (a dict shaped like trendyol.shipment_packages.response.json;
change it freely). Controls: ``rate_limit(count, retry_after=)`` answers the next ``count``
requests 429 with ``Retry-After``/``X-RateLimit-*`` headers; ``fail_next(status, body)`` any
other answer (a 500, a 503); ``state.requests`` records every request (path, query, headers).

As a server: ``python -m invekto.integrations.trendyol.simulator --port 8031`` (seeds one
shipped order, 10345678901).
"""

from __future__ import annotations

import base64
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

SELLER_ID = "123456"
API_KEY = "TySimApiKey0123456789"
API_SECRET = "TySimApiSecret0123456789abcdef"
MAX_SIZE = 200


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class SimulatorState:
    packages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)


def trendyol_error(status: int, exception: str, message: str) -> dict[str, Any]:
    """Trendyol's error body (shape as commonly returned; see docs/integrations.md)."""
    return {"timestamp": int(time.time() * 1000), "exception": exception,
            "errors": [{"key": exception, "message": message, "errorCode": status}]}


class TrendyolSimulator:
    def __init__(self, seller_id: str = SELLER_ID, api_key: str = API_KEY,
                 api_secret: str = API_SECRET) -> None:
        self.seller_id = seller_id
        self.api_key = api_key
        self.api_secret = api_secret
        self.state = SimulatorState()
        self._ids = itertools.count(3301234567)
        self._clock = itertools.count(1767250000000, 60_000)
        self._app = Starlette(routes=[Route(
            "/integration/order/sellers/{seller_id}/orders", self._orders, methods=["GET"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # ---- seeding and controls ------------------------------------------------------------------

    def add_package(self, order_number: str, status: str = "Created", *,
                    cargo_provider: str | None = "Trendyol Express Marketplace",
                    tracking_number: int | str | None = None,
                    tracking_link: str | None = None,
                    lines: list[tuple[str, int, str]] | None = None,
                    customer: tuple[str, str] = ("Ayşe", "Yılmaz"),
                    email: str | None = "pf+ayse@trendyolmail.com",
                    currency: str = "TRY", order_date: int | None = None,
                    last_modified: int | None = None) -> dict[str, Any]:
        """One shipment package of ``order_number``; ``lines`` are (name, quantity, unit price
        as a decimal string). Order dates and last changes increase a minute per package
        unless given (epoch ms)."""
        package_id = next(self._ids)
        stamp = next(self._clock)
        lines = lines or [("Kışlık Mont Siyah M", 1, "1249.90")]
        package = {
            "id": package_id, "shipmentPackageId": package_id, "orderNumber": str(order_number),
            "orderDate": order_date or stamp, "agreedDeliveryDate": (order_date or stamp)
            + 2 * 86_400_000,
            "status": status, "shipmentPackageStatus": status,
            "customerFirstName": customer[0], "customerLastName": customer[1],
            "customerEmail": email, "customerId": 99887766,
            "cargoProviderName": cargo_provider,
            "cargoTrackingNumber": tracking_number,
            "shipmentAddress": {"firstName": customer[0], "lastName": customer[1],
                                "city": "İstanbul", "district": "Kadıköy",
                                "fullAddress": "Örnek Mah. 1. Sok. No:3"},
            "lines": [{"productName": name, "barcode": f"86900000{index:05d}",
                       "merchantSku": f"SKU-{index}", "quantity": quantity,
                       "price": float(price), "currencyCode": currency,
                       "orderLineItemStatusName": status}
                      for index, (name, quantity, price) in enumerate(lines, 1)],
            "packageHistories": [{"createdDate": stamp, "status": "Created"}]
            + ([] if status == "Created" else [{"createdDate": stamp + 1, "status": status}]),
            "totalPrice": float(sum(q * float(p) for _, q, p in lines)),
            "currencyCode": currency,
            "lastModifiedDate": last_modified or stamp,
        }
        if tracking_link is not None:
            package["cargoTrackingLink"] = tracking_link
        self.state.packages.append(package)
        return package

    def rate_limit(self, count: int = 1, *, retry_after: int = 7) -> None:
        """The next ``count`` requests answer 429 Too Many Requests."""
        for _ in range(count):
            self.state.answers.append(Answer(
                429, trendyol_error(429, "TooManyRequestException", "too.many.requests"),
                {"Retry-After": str(retry_after), "X-RateLimit-Limit": "1000",
                 "X-RateLimit-Remaining": "0"}))

    def fail_next(self, status: int = 500, body: Any = None, count: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        for _ in range(count):
            self.state.answers.append(Answer(
                status, body if body is not None else trendyol_error(
                    status, "InternalServerErrorException", "Internal Server Error"),
                headers or {}))

    def reset(self) -> None:
        self.state = SimulatorState()

    # ---- the API -------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return decoded == f"{self.api_key}:{self.api_secret}"

    async def _orders(self, request: Request) -> JSONResponse:
        query = dict(request.query_params)
        self.state.requests.append(Recorded(request.method, request.url.path, query,
                                            dict(request.headers)))
        seller_id = request.path_params["seller_id"]
        agent = request.headers.get("user-agent", "")
        if not agent.startswith(f"{seller_id} - ") or len(agent) <= len(f"{seller_id} - "):
            return JSONResponse({"timestamp": int(time.time() * 1000), "status": 403,
                                 "error": "Forbidden", "path": request.url.path},
                                status_code=403)
        if not self._authorised(request):
            return JSONResponse(trendyol_error(
                401, "ClientApiAuthenticationException", "Unauthorized"), status_code=401)
        if seller_id != self.seller_id:
            return JSONResponse(trendyol_error(
                403, "ClientApiForbiddenException", "Forbidden"), status_code=403)
        if self.state.answers:
            answer = self.state.answers.popleft()
            return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
        try:
            page = int(query.get("page", 0))
            size = int(query.get("size", 50))
        except ValueError:
            return JSONResponse(trendyol_error(400, "ClientApiValidationException",
                                               "page and size must be numbers"), 400)
        if page < 0 or not 1 <= size <= MAX_SIZE:
            return JSONResponse(trendyol_error(
                400, "ClientApiValidationException",
                f"size must be between 1 and {MAX_SIZE}, page 0 or more"), 400)
        found = [p for p in self.state.packages if self._matches(p, query)]
        found.sort(key=lambda p: p["lastModifiedDate"],
                   reverse=query.get("orderByDirection", "DESC").upper() != "ASC")
        total_pages = (len(found) + size - 1) // size
        return JSONResponse({"totalElements": len(found), "totalPages": total_pages,
                             "page": page, "size": size,
                             "content": found[page * size:(page + 1) * size]})

    @staticmethod
    def _matches(package: dict[str, Any], query: dict[str, str]) -> bool:
        if "orderNumber" in query and package["orderNumber"] != query["orderNumber"]:
            return False
        if "status" in query and package["status"] != query["status"]:
            return False
        if "shipmentPackageIds" in query and str(package["id"]) not in query[
                "shipmentPackageIds"].split(","):
            return False
        changed = package["lastModifiedDate"]
        if "startDate" in query and changed < int(query["startDate"]):
            return False
        return not ("endDate" in query and changed > int(query["endDate"]))


def create_simulator(**options: Any) -> TrendyolSimulator:
    return TrendyolSimulator(**options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Trendyol seller API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    args = parser.parse_args()
    simulator = create_simulator()
    simulator.add_package("10345678901", "Shipped", tracking_number=7330001234567,
                          tracking_link="https://kargotakip.trendyol.com/?token=example")
    uvicorn.run(simulator, host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

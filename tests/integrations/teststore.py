"""A small shop for testing the integrations framework itself: its adapter (``TestStoreAdapter``,
kind "teststore") and its server (``create_shop``), speaking a made-up JSON API with a bearer
token. The real providers have their own simulators; this one lets the framework's tests
(settings, secrets, look-ups across shops, the chatbot step) stand on their own."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.core import outbound
from invekto.core.i18n import N_
from invekto.integrations.base import (
    Capability,
    CheckResult,
    Connection,
    IntegrationAdapter,
    IntegrationAuthFailed,
    IntegrationUnavailable,
    Order,
    SettingField,
    Shipment,
)

TOKEN = "shop-token-123"


def create_shop(orders: list[dict], *, name: str = "Örnek Butik", broken: bool = False
                ) -> Starlette:
    """``orders``: ``{"number", "phone", "status", "total", "carrier", "tracking"}`` each."""
    seen: list[dict] = []

    def authorised(request: Request) -> JSONResponse | None:
        seen.append({"path": request.url.path, "query": dict(request.query_params)})
        if broken:
            return JSONResponse({"error": "down"}, status_code=503)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "bad token"}, status_code=401)
        return None

    async def me(request: Request):
        return authorised(request) or JSONResponse({"name": name})

    async def find(request: Request):
        refused = authorised(request)
        if refused:
            return refused
        number, phone = request.query_params.get("number"), request.query_params.get("phone")
        return JSONResponse([o for o in orders
                             if (number and o["number"] == number)
                             or (phone and o.get("phone") == phone)])

    app = Starlette(routes=[Route("/me", me), Route("/orders", find)])
    app.state.seen = seen
    return app


class TestStoreAdapter(IntegrationAdapter):
    kind = "teststore"
    label = "Test Store"
    description = N_("A shop for tests.")
    capabilities = frozenset({Capability.ORDER_LOOKUP})
    fields = (SettingField("store_name", N_("Store name")),
              SettingField("token", N_("Access token"), secret=True))
    default_base_url = "https://teststore.invalid"

    async def _get(self, conn: Connection, path: str, **params) -> httpx.Response:
        async with outbound.client(timeout=5) as client:
            response = await client.get(conn.base_url + path, params=params, headers={
                "Authorization": f"Bearer {conn.secret('token')}"})
        if response.status_code == 401:
            raise IntegrationAuthFailed("the access token was refused", status=401)
        if response.status_code >= 500:
            raise IntegrationUnavailable(f"HTTP {response.status_code}",
                                         status=response.status_code)
        return response

    async def check(self, conn: Connection) -> CheckResult:
        return CheckResult(True, f"Store: {(await self._get(conn, '/me')).json()['name']}")

    async def orders_for_customer(self, conn, *, phone, email, limit=5):
        return [self._order(o) for o in (await self._get(conn, "/orders", phone=phone)).json()]

    async def order_by_number(self, conn, number):
        found = (await self._get(conn, "/orders", number=number)).json()
        return self._order(found[0]) if found else None

    def _order(self, raw: dict) -> Order:
        return Order(
            source=self.kind, number=raw["number"], state=raw["status"],
            provider_status=raw["status"].upper(),
            created_at=datetime.fromisoformat(raw.get("created_at", "2026-11-20T10:00:00+03:00")),
            total=Decimal(raw["total"]), currency="TRY",
            shipments=(Shipment(raw.get("carrier"), raw.get("tracking"),
                                f"https://kargo.example/{raw['tracking']}"
                                if raw.get("tracking") else None),),
            customer_name="Ayşe Yılmaz")


class OtherStoreAdapter(TestStoreAdapter):
    """A second shop, to show that one failing does not hide the other's orders."""

    kind = "otherstore"
    label = "Other Store"

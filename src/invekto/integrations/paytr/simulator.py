"""A PayTR simulator: the iFrame API for one merchant, in memory.

Provider side: ``POST /odeme/api/get-token`` (form-encoded; a wrong or missing ``paytr_token``
or unknown merchant gets PayTR's ``{"status": "failed", "reason": ...}``) and the payment page
``GET /odeme/guvenli/{token}``.

Customer side: ``pay(merchant_oid, succeed=, total_amount=)`` posts the signed notification to
the Bildirim URL (``notification_url``) as PayTR's server does, and records what we answered:
PayTR only counts a plain ``OK``.

As a server: ``python -m invekto.integrations.paytr.simulator --port 8032``.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from html import escape

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from invekto.integrations.paytr import signing

MERCHANT_ID = "100000"
MERCHANT_KEY = "TESTKEY123"
MERCHANT_SALT = "TESTSALT456"
REQUIRED = ("merchant_id", "user_ip", "merchant_oid", "email", "payment_amount", "paytr_token",
            "user_basket", "no_installment", "max_installment", "user_name", "user_address",
            "user_phone", "merchant_ok_url", "merchant_fail_url", "currency", "test_mode")


@dataclass
class Order:
    token: str
    fields: dict[str, str]


@dataclass
class Notification:
    fields: dict[str, str]
    status: int
    body: str
    content_type: str

    @property
    def acknowledged(self) -> bool:
        """What PayTR requires to finish the payment: exactly ``OK`` as plain text."""
        return (self.status == 200 and self.body == "OK"
                and self.content_type.startswith("text/plain"))


@dataclass
class SimulatorState:
    orders: dict[str, Order] = field(default_factory=dict)  # by merchant_oid
    refused: list[str] = field(default_factory=list)  # reasons given
    notifications: list[Notification] = field(default_factory=list)


def failed(reason: str) -> JSONResponse:
    return JSONResponse({"status": "failed", "reason": reason})


class PaytrSimulator:
    def __init__(self, merchant_id: str = MERCHANT_ID, merchant_key: str = MERCHANT_KEY,
                 merchant_salt: str = MERCHANT_SALT, notification_url: str | None = None
                 ) -> None:
        self.merchant_id = merchant_id
        self.merchant_key = merchant_key
        self.merchant_salt = merchant_salt
        self.notification_url = notification_url
        self.state = SimulatorState()
        self._app = Starlette(routes=[
            Route("/odeme/api/get-token", self._get_token, methods=["POST"]),
            Route("/odeme/guvenli/{token}", self._page, methods=["GET"]),
        ])

    async def __call__(self, scope, receive, send) -> None:
        await self._app(scope, receive, send)

    async def _get_token(self, request: Request):
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("merchant_id") != self.merchant_id:
            self.state.refused.append("merchant_id")
            return failed("merchant_id gecersiz")
        expected = signing.paytr_token(form, self.merchant_key, self.merchant_salt)
        if not signing.matches(expected, form.get("paytr_token")):
            self.state.refused.append("paytr_token")
            return failed("paytr_token gonderilmedi veya gecersiz")
        missing = [name for name in REQUIRED if not form.get(name)]
        if missing:
            return failed(f"{missing[0]} gonderilmedi")
        oid = form["merchant_oid"]
        if not oid.isalnum():
            return failed("merchant_oid sadece harf ve rakam icermelidir")
        if oid in self.state.orders:
            return failed("merchant_oid daha once kullanilmis")
        if not form["payment_amount"].isdigit():
            return failed("payment_amount gecersiz")
        token = secrets.token_hex(16)
        self.state.orders[oid] = Order(token, form)
        return JSONResponse({"status": "success", "token": token})

    async def _page(self, request: Request):
        token = request.path_params["token"]
        order = next((o for o in self.state.orders.values() if o.token == token), None)
        if order is None:
            return HTMLResponse("<h1>Gecersiz token</h1>", status_code=404)
        items = json.loads(base64.b64decode(order.fields["user_basket"]))
        amount = int(order.fields["payment_amount"]) / 100
        return HTMLResponse(
            "<!doctype html><title>PayTR Güvenli Ödeme</title><h1>PayTR Güvenli Ödeme</h1>"
            f"<p class='item'>{escape(items[0][0])}</p>"
            f"<p class='amount'>{amount:.2f} {escape(order.fields['currency'])}</p>")

    def notification(self, merchant_oid: str, *, succeed: bool = True,
                     total_amount: str | None = None) -> dict[str, str]:
        order = self.state.orders[merchant_oid]
        status = "success" if succeed else "failed"
        total = (total_amount if total_amount is not None
                 else order.fields["payment_amount"] if succeed else "0")
        return {"merchant_oid": merchant_oid, "status": status, "total_amount": total,
                "hash": signing.callback_hash(self.merchant_key, self.merchant_salt,
                                              merchant_oid, status, total),
                "failed_reason_code": "" if succeed else "2",
                "failed_reason_msg": "" if succeed else "Kart limiti yetersiz",
                "test_mode": order.fields["test_mode"], "payment_type": "card",
                "currency": order.fields["currency"],
                "payment_amount": order.fields["payment_amount"], "installment_count": "1"}

    async def deliver(self, fields: dict[str, str], url: str | None = None) -> Notification:
        async with httpx.AsyncClient(timeout=20) as client:
            response = await client.post(url or self.notification_url or "", data=fields)
        notification = Notification(fields, response.status_code, response.text,
                                    response.headers.get("content-type", ""))
        self.state.notifications.append(notification)
        return notification

    async def pay(self, merchant_oid: str, *, succeed: bool = True,
                  total_amount: str | None = None, url: str | None = None) -> Notification:
        return await self.deliver(self.notification(merchant_oid, succeed=succeed,
                                                    total_amount=total_amount), url)


def create_simulator(notification_url: str | None = None, **options: str) -> PaytrSimulator:
    return PaytrSimulator(notification_url=notification_url, **options)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="PayTR iFrame API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8032)
    parser.add_argument("--notification-url", default=None)
    args = parser.parse_args()
    uvicorn.run(create_simulator(args.notification_url), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()

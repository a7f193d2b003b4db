"""An iyzico simulator: the Checkout Form calls Invekto makes, for one merchant, in memory.

Provider side: ``POST /payment/iyzipos/checkoutform/initialize/ecom`` and
``/payment/iyzipos/checkoutform/auth/ecom/detail`` and ``/payment/bin/check``, each refusing a
wrong IYZWSv2 header with iyzico's failure body (HTTP 200, ``status: failure``, errorCode 1000
"Geçersiz imza"); answers are signed like iyzico's. ``GET /checkout?token=`` is the hosted page.

A person can pay there (the demo): its "Pay" and "Fail" buttons post to ``POST /checkout``,
which settles the checkout (``pay``), posts the signed merchant notification to
``notification_url`` when one is set, and answers with a page whose button posts the token to
the checkout's ``callbackUrl``, as iyzico's page sends the browser back to the merchant. No
script: in the demo our app serves these pages, under its Content-Security-Policy.

Customer side: ``pay(token, succeed=, paid_price=)`` settles a checkout (as the customer paying
on the page), then ``browser_callback(token)`` posts the token to its ``callbackUrl`` as the
browser does, and ``merchant_webhook(token, url)`` posts the X-IYZ-SIGNATURE-V3-signed
notification (HPP format) to the merchant notification URL.

As a server: ``python -m invekto.integrations.iyzico.simulator --port 8031``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from invekto.integrations.iyzico import signing

API_KEY = "sandbox-api-key"
SECRET_KEY = "sandbox-secret-key"
MERCHANT_ID = 3382172
REQUIRED = ("locale", "conversationId", "price", "paidPrice", "currency", "basketId",
            "paymentGroup", "callbackUrl", "buyer", "basketItems")
BUYER_REQUIRED = ("id", "name", "surname", "email", "identityNumber", "registrationAddress",
                  "ip", "city", "country")

log = structlog.get_logger()


@dataclass
class Checkout:
    token: str
    request: dict[str, Any]
    payment_status: str = "INIT"
    payment_id: str | None = None
    paid_price: Decimal | None = None
    error_message: str | None = None


@dataclass
class Delivery:
    url: str
    status: int
    body: str


@dataclass
class SimulatorState:
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # paths whose signature was refused
    deliveries: list[Delivery] = field(default_factory=list)


def failure(code: str, message: str, conversation_id: str | None = None) -> dict[str, Any]:
    return {"status": "failure", "errorCode": code, "errorMessage": message, "errorGroup": "",
            "locale": "tr", "systemTime": int(time.time() * 1000),
            "conversationId": conversation_id}


class IyzicoSimulator:
    def __init__(self, api_key: str = API_KEY, secret_key: str = SECRET_KEY, *,
                 notification_url: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.state = SimulatorState()
        # The merchant's notification URL (iyzico's merchant panel setting): where a payment
        # made on the hosted page is notified. None: nobody is notified.
        self.notification_url = notification_url
        # How the simulator's own posts travel (tests: in-process); None: over the network.
        self.transport = transport
        # Answers signed with another key (a tampered or misrouted answer), when set.
        self.answer_secret: str | None = None
        self._payment_id = 22483977
        self._app = Starlette(routes=[
            Route("/payment/iyzipos/checkoutform/initialize/ecom", self._initialize,
                  methods=["POST"]),
            Route("/payment/iyzipos/checkoutform/auth/ecom/detail", self._retrieve,
                  methods=["POST"]),
            Route("/payment/bin/check", self._bin_check, methods=["POST"]),
            Route("/checkout", self._page, methods=["GET"]),
            Route("/checkout", self._paid_on_page, methods=["POST"]),
        ])

    async def __call__(self, scope, receive, send) -> None:
        await self._app(scope, receive, send)

    # ---- provider side -------------------------------------------------------------------------

    async def _authenticated(self, request: Request) -> tuple[dict[str, Any] | None, Any]:
        raw = (await request.body()).decode("utf-8")
        parts = signing.parse_authorization(request.headers.get("authorization", ""))
        random_key = request.headers.get("x-iyzi-rnd", "")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        conversation_id = body.get("conversationId") if isinstance(body, dict) else None
        # The path as the client signs it: after the API's base (where this app is mounted).
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        expected = signing.request_signature(self.secret_key, random_key, path, raw)
        if (parts is None or parts["apiKey"] != self.api_key or parts["randomKey"] != random_key
                or parts["signature"] != expected):
            self.state.refused.append(path)
            return None, JSONResponse(failure("1000", "Geçersiz imza", conversation_id))
        return body, None

    async def _initialize(self, request: Request):
        body, refused = await self._authenticated(request)
        if refused:
            return refused
        assert body is not None
        missing = [name for name in REQUIRED if not body.get(name)]
        missing += [f"buyer.{n}" for n in BUYER_REQUIRED if not (body.get("buyer") or {}).get(n)]
        if missing:
            return JSONResponse(failure("11", f"Geçersiz istek: {missing[0]}",
                                        body.get("conversationId")))
        total = sum(Decimal(item["price"]) for item in body["basketItems"])
        if total != Decimal(body["price"]):
            return JSONResponse(failure("5", "Sepet tutarı fiyata eşit olmalıdır",
                                        body["conversationId"]))
        token = str(uuid.uuid4())
        self.state.checkouts[token] = Checkout(token, body)
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "status": "success", "locale": body["locale"], "systemTime": int(time.time() * 1000),
            "conversationId": body["conversationId"], "token": token,
            "checkoutFormContent": "<script>/* iyzico checkout form */</script>",
            "tokenExpireTime": 1800,
            "paymentPageUrl": f"{base}/checkout?token={token}&lang={body['locale']}",
            "signature": signing.initialize_signature(self.answer_secret or self.secret_key,
                                                      body["conversationId"], token)})

    def retrieved(self, checkout: Checkout) -> dict[str, Any]:
        request = checkout.request
        price = Decimal(request["price"])
        paid_price = checkout.paid_price if checkout.paid_price is not None else price
        body: dict[str, Any] = {
            "status": "success", "locale": request["locale"],
            "systemTime": int(time.time() * 1000),
            "conversationId": request["conversationId"],
            "price": float(price if checkout.paid_price is None else paid_price),
            "paidPrice": float(paid_price), "installment": 1,
            "paymentId": checkout.payment_id, "fraudStatus": 1,
            "currency": request["currency"], "basketId": request["basketId"],
            "paymentStatus": checkout.payment_status, "token": checkout.token,
            "callbackUrl": request["callbackUrl"]}
        if checkout.error_message:
            body["errorMessage"] = checkout.error_message
        body["signature"] = signing.retrieve_signature(self.answer_secret or self.secret_key,
                                                       body)
        return body

    async def _retrieve(self, request: Request):
        body, refused = await self._authenticated(request)
        if refused:
            return refused
        assert body is not None
        checkout = self.state.checkouts.get(str(body.get("token")))
        if checkout is None:
            return JSONResponse(failure("5146", "Token bulunamadı", body.get("conversationId")))
        return JSONResponse(self.retrieved(checkout))

    async def _bin_check(self, request: Request):
        body, refused = await self._authenticated(request)
        if refused:
            return refused
        return JSONResponse({"status": "success", "locale": "tr",
                             "conversationId": (body or {}).get("conversationId"),
                             "binNumber": "552879", "cardType": "CREDIT_CARD"})

    async def _page(self, request: Request):
        checkout = self.state.checkouts.get(request.query_params.get("token", ""))
        if checkout is None:
            return _html("<h1>Geçersiz ödeme</h1>", status_code=404)
        if checkout.payment_status == "SUCCESS":
            return _result_page(checkout)
        item = checkout.request["basketItems"][0]
        # "checkout": this same address (relative to .../checkout), wherever it is mounted.
        return _html(
            f"<h1>iyzico ile Öde</h1>"
            f"<p class='item'>{escape(item['name'])}</p>"
            f"<p class='amount'>{escape(checkout.request['paidPrice'])} "
            f"{escape(checkout.request['currency'])}</p>"
            f"<p>Bu bir simülatördür: kart bilgisi istenmez, para çekilmez.</p>"
            f"<form method='post' action='checkout'>"
            f"<input type='hidden' name='token' value='{escape(checkout.token)}'>"
            f"<button type='submit' name='outcome' value='success' id='iyzico-pay'>Öde</button> "
            f"<button type='submit' name='outcome' value='failure' id='iyzico-fail'>"
            f"Ödeme başarısız olsun</button></form>")

    async def _paid_on_page(self, request: Request):
        """The person on the hosted page paid (or their card was refused)."""
        form = await request.form()
        token = str(form.get("token", ""))
        checkout = self.state.checkouts.get(token)
        if checkout is None:
            return _html("<h1>Geçersiz ödeme</h1>", status_code=404)
        if checkout.payment_status != "SUCCESS":  # paid once; a failed one may be tried again
            self.pay(token, succeed=form.get("outcome") != "failure")
            if self.notification_url:
                try:
                    await self.merchant_webhook(token, self.notification_url)
                except httpx.HTTPError as exc:  # iyzico would retry; the callback still tells
                    log.warning("iyzico_simulator.notification_failed", error=str(exc))
        return _result_page(checkout)

    # ---- customer side -------------------------------------------------------------------------

    def pay(self, token: str, *, succeed: bool = True, paid_price: Decimal | None = None
            ) -> Checkout:
        checkout = self.state.checkouts[token]
        self._payment_id += 1
        checkout.payment_id = str(self._payment_id)
        checkout.payment_status = "SUCCESS" if succeed else "FAILURE"
        checkout.error_message = None if succeed else "Kart limiti yetersiz"
        checkout.paid_price = paid_price
        return checkout

    async def _post(self, url: str, **kwargs: Any) -> Delivery:
        async with httpx.AsyncClient(timeout=20, transport=self.transport) as client:
            response = await client.post(url, **kwargs)
        delivery = Delivery(url, response.status_code, response.text)
        self.state.deliveries.append(delivery)
        return delivery

    async def browser_callback(self, token: str) -> Delivery:
        checkout = self.state.checkouts[token]
        return await self._post(checkout.request["callbackUrl"], data={"token": token})

    def webhook_body(self, token: str) -> dict[str, Any]:
        checkout = self.state.checkouts[token]
        return {"paymentConversationId": checkout.request["conversationId"],
                "merchantId": MERCHANT_ID, "token": token, "status": checkout.payment_status,
                "iyziReferenceCode": str(uuid.uuid4()), "iyziEventType": "CHECKOUT_FORM_AUTH",
                "iyziEventTime": int(time.time() * 1000),
                "iyziPaymentId": int(checkout.payment_id or 0)}

    async def merchant_webhook(self, token: str, url: str, *, body: dict | None = None,
                               signature: str | None = None) -> Delivery:
        payload = body or self.webhook_body(token)
        header = signature or signing.webhook_signature(self.secret_key, payload)
        return await self._post(url, content=json.dumps(payload),
                                headers={"Content-Type": "application/json",
                                         "X-IYZ-SIGNATURE-V3": header})


def _html(body: str, *, status_code: int = 200, form_action: str = "") -> HTMLResponse:
    # Its own policy: no script, and forms only to itself and to the merchant's callback (which
    # may be another origin than the page's: the merchant's own address).
    policy = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
              f"frame-ancestors 'none'; form-action 'self' {form_action}").strip()
    return HTMLResponse(f"<!doctype html><html lang='tr'><head><meta charset='utf-8'>"
                        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                        f"<title>iyzico ile Öde</title></head><body>{body}</body></html>",
                        status_code=status_code, headers={"Content-Security-Policy": policy})


def _result_page(checkout: Checkout) -> HTMLResponse:
    """What iyzico's page does after the payment: send the browser to the merchant's
    ``callbackUrl`` with the token (there by a script; here the person presses the button)."""
    callback = checkout.request["callbackUrl"]
    parts = urlsplit(callback)
    paid = checkout.payment_status == "SUCCESS"
    heading = "Ödeme başarılı" if paid else f"Ödeme başarısız: {checkout.error_message or ''}"
    return _html(
        f"<h1 class='result' data-status='{escape(checkout.payment_status)}'>"
        f"{escape(heading)}</h1>"
        f"<form method='post' action='{escape(callback)}'>"
        f"<input type='hidden' name='token' value='{escape(checkout.token)}'>"
        f"<button type='submit' id='iyzico-return'>Mağazaya dön</button></form>",
        # Only a plain host[:port] goes into the header (a callbackUrl is the merchant's text).
        form_action=f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and re.fullmatch(r"[\w.\-:\[\]]+", parts.netloc)
        else "")


def create_simulator(api_key: str = API_KEY, secret_key: str = SECRET_KEY, *,
                     notification_url: str | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> IyzicoSimulator:
    return IyzicoSimulator(api_key, secret_key, notification_url=notification_url,
                           transport=transport)


def main() -> None:  # pragma: no cover - manual use
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="iyzico Checkout Form simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8031)
    args = parser.parse_args()
    uvicorn.run(create_simulator(), host=args.host, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()




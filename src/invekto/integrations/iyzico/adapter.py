"""iyzico: payment links through the hosted Checkout Form (docs.iyzico.com "Ödeme Formu").

* A link: ``POST /payment/iyzipos/checkoutform/initialize/ecom`` (IYZWSv2-signed); its
  ``paymentPageUrl`` is what the customer opens. The answer's ``signature`` is checked.
* The result comes two ways, both to ``/hooks/integrations/iyzico/{id}[/topic]``:
  - ``/callback``: the customer's browser posts the ``token`` after 3-D Secure. Not
    authenticated, so it only tells us to ask: ``checkoutform/auth/ecom/detail`` is retrieved,
    its signature checked and its amount and basket compared with the link's;
  - no topic (the address the settings page shows) or ``/webhook``: iyzico's server-to-server
    merchant notification, signed with ``X-IYZ-SIGNATURE-V3``; it carries no amount, so it
    leads to the same retrieve.
* Payment links take one installment only: the customer pays exactly the link's amount.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import structlog

from invekto.core import outbound
from invekto.core.i18n import N_
from invekto.integrations import registry, service
from invekto.integrations.base import (
    BASE_URL,
    Capability,
    CheckResult,
    Connection,
    IncomingWebhook,
    IntegrationAdapter,
    IntegrationAuthFailed,
    IntegrationError,
    IntegrationRateLimited,
    IntegrationRefused,
    IntegrationUnavailable,
    PaymentLink,
    PaymentRequest,
    PaymentResult,
    SettingField,
    WebhookRefused,
    WebhookReply,
)
from invekto.integrations.iyzico import signing
from invekto.integrations.payments import service as payments

log = structlog.get_logger()

LIVE_URL = "https://api.iyzipay.com"
SANDBOX_URL = "https://sandbox-api.iyzipay.com"
INITIALIZE_PATH = "/payment/iyzipos/checkoutform/initialize/ecom"
RETRIEVE_PATH = "/payment/iyzipos/checkoutform/auth/ecom/detail"
BIN_CHECK_PATH = "/payment/bin/check"
TIMEOUT = 15.0
# iyzico's codes for a request it could not authenticate (1000 "Geçersiz imza", 1001 "Api
# bilgileri bulunamadı"): the settings, not the request, are wrong.
AUTH_ERROR_CODES = {"1000", "1001"}
# What the Checkout Form requires of a buyer that a chat does not tell us. iyzico's own samples
# use these placeholders; the customer types their card details on iyzico's page.
UNKNOWN_IDENTITY_NUMBER = "11111111111"
UNKNOWN_IP = "85.34.78.112"
UNKNOWN_CITY = "Istanbul"
UNKNOWN_COUNTRY = "Turkey"
UNKNOWN_ADDRESS = "Adres belirtilmedi"
# Results that are not final yet (3-D Secure under way): nothing to record.
PENDING_STATUSES = {"INIT", "INIT_THREEDS", "CALLBACK_THREEDS", "INIT_APM", "INIT_BANK_TRANSFER",
                    "INIT_CONTACTLESS", "BKM_POS_SELECTED"}


def _now() -> datetime:
    return datetime.now(UTC)


def _price(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _name_parts(name: str | None) -> tuple[str, str]:
    words = (name or "").split()
    if not words:
        return "Müşteri", "-"
    if len(words) == 1:
        return words[0], "-"
    return " ".join(words[:-1]), words[-1]


class IyzicoAdapter(IntegrationAdapter):
    kind = "iyzico"
    label = "iyzico"
    description = N_("Payment links through iyzico's secure payment page.")
    capabilities = frozenset({Capability.PAYMENT_LINK, Capability.EVENT_SINK})
    currencies = ("TRY", "USD", "EUR", "GBP")
    default_base_url = LIVE_URL
    fields = (
        SettingField("api_key", N_("API key"), secret=True, kind="password"),
        SettingField("secret_key", N_("Secret key"), secret=True, kind="password"),
    )

    def setting_fields(self) -> tuple[SettingField, ...]:
        return (*self.fields, SettingField(
            BASE_URL, N_("API address"), required=False, kind="url", default=LIVE_URL,
            help=N_("https://api.iyzipay.com for live payments, "
                    "https://sandbox-api.iyzipay.com for the sandbox.")))

    # ---- calls ---------------------------------------------------------------------------------

    async def _post(self, conn: Connection, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        random_key = secrets.token_hex(8)
        headers = {
            "Content-Type": "application/json", "Accept": "application/json",
            "x-iyzi-rnd": random_key,
            "Authorization": signing.authorization(conn.secret("api_key"),
                                                   conn.secret("secret_key"), random_key,
                                                   path, payload)}
        try:
            async with outbound.client(timeout=TIMEOUT) as client:
                response = await client.post(conn.base_url + path,
                                             content=payload.encode("utf-8"), headers=headers)
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(f"iyzico could not be reached: {exc}") from exc
        if response.status_code == 429:
            raise IntegrationRateLimited("iyzico: too many requests")
        if response.status_code >= 500:
            raise IntegrationUnavailable(f"iyzico answered {response.status_code}",
                                         status=response.status_code)
        try:
            # Prices as decimals: the response signature is made over their exact digits.
            answer = json.loads(response.text, parse_float=Decimal)
        except ValueError as exc:
            raise IntegrationUnavailable("iyzico's answer was not JSON",
                                         status=response.status_code) from exc
        if not isinstance(answer, dict):
            raise IntegrationUnavailable("iyzico's answer was not an object")
        # iyzico answers most failures with HTTP 200 and status "failure".
        if answer.get("status") != "success":
            code = str(answer.get("errorCode") or "")
            message = f"iyzico: {answer.get('errorMessage') or 'request refused'} ({code})"
            if code in AUTH_ERROR_CODES or response.status_code in (401, 403):
                raise IntegrationAuthFailed(message, status=response.status_code, code=code)
            raise IntegrationRefused(message, status=response.status_code, code=code)
        return answer

    async def check(self, conn: Connection) -> CheckResult:
        await self._post(conn, BIN_CHECK_PATH, {"locale": "tr", "conversationId": "check",
                                                "binNumber": "552879"})
        return CheckResult(True, "iyzico: " + ("sandbox" if "sandbox" in conn.base_url
                                               else "live"))

    async def create_payment_link(self, conn: Connection, request: PaymentRequest
                                  ) -> PaymentLink:
        name, surname = _name_parts(request.customer_name)
        full_name = f"{name} {surname}".strip(" -")
        address = {"contactName": full_name, "city": UNKNOWN_CITY, "country": UNKNOWN_COUNTRY,
                   "address": UNKNOWN_ADDRESS}
        buyer: dict[str, Any] = {
            "id": request.reference, "name": name, "surname": surname,
            "email": request.customer_email or f"{request.reference.lower()}@example.com",
            "identityNumber": UNKNOWN_IDENTITY_NUMBER,
            "registrationAddress": UNKNOWN_ADDRESS, "ip": request.customer_ip or UNKNOWN_IP,
            "city": UNKNOWN_CITY, "country": UNKNOWN_COUNTRY}
        if request.customer_phone:
            buyer["gsmNumber"] = request.customer_phone
        price = _price(request.amount)
        body = {
            "locale": "en" if request.language == "en" else "tr",
            "conversationId": request.reference, "price": price, "paidPrice": price,
            "currency": request.currency, "basketId": request.reference,
            "paymentGroup": "PRODUCT", "callbackUrl": request.callback_url,
            "enabledInstallments": [1], "buyer": buyer, "billingAddress": address,
            "basketItems": [{"id": request.reference, "name": request.description[:100],
                             "category1": "Ödeme", "itemType": "VIRTUAL", "price": price}]}
        answer = await self._post(conn, INITIALIZE_PATH, body)
        token = str(answer.get("token") or "")
        page_url = str(answer.get("paymentPageUrl") or "")
        expected = signing.initialize_signature(conn.secret("secret_key"),
                                                str(answer.get("conversationId") or ""), token)
        if not signing.matches(expected, answer.get("signature")):
            raise IntegrationRefused("iyzico's answer did not carry a valid signature",
                                     code="signature")
        if answer.get("conversationId") != request.reference or not token or not page_url:
            raise IntegrationRefused("iyzico's answer was not for this payment")
        lifetime = int(answer.get("tokenExpireTime") or 1800)
        return PaymentLink(url=page_url, provider_reference=token,
                           expires_at=_now() + timedelta(seconds=lifetime))

    async def retrieve(self, conn: Connection, reference: str, token: str
                       ) -> PaymentResult | None:
        """The checked result of the payment made with ``token``; None while not final."""
        answer = await self._post(conn, RETRIEVE_PATH, {"locale": "tr",
                                                        "conversationId": reference,
                                                        "token": token})
        expected = signing.retrieve_signature(conn.secret("secret_key"), answer)
        if not signing.matches(expected, answer.get("signature")):
            raise IntegrationRefused("iyzico's answer did not carry a valid signature",
                                     code="signature")
        if (answer.get("token") != token or answer.get("conversationId") != reference
                or answer.get("basketId") != reference):
            raise IntegrationRefused("iyzico's answer was not for this payment")
        status = str(answer.get("paymentStatus") or "")
        if status in PENDING_STATUSES or (status == "SUCCESS" and answer.get("fraudStatus") == 0):
            return None  # 3-D Secure under way, or held for iyzico's fraud review
        price = Decimal(str(answer.get("price") or 0))
        paid_price = Decimal(str(answer.get("paidPrice") or 0))
        paid = status == "SUCCESS" and answer.get("fraudStatus") in (1, None)
        reason = None if paid else (answer.get("errorMessage") or
                                    f"iyzico payment status {status or 'unknown'}")
        return PaymentResult(reference=reference, paid=paid,
                             amount=price if price == paid_price else paid_price,
                             currency=str(answer.get("currency") or "") or None,
                             provider_payment_id=str(answer.get("paymentId") or "") or None,
                             failure_reason=reason)

    # ---- what comes back -----------------------------------------------------------------------

    async def receive_webhook(self, db: Any, conn: Connection, hook: IncomingWebhook
                              ) -> WebhookReply:
        if hook.topic == "callback":
            return await self._browser_callback(db, conn, hook)
        # The merchant notification URL is the address the settings page shows (no topic).
        if hook.topic in ("", "webhook"):
            return await self._merchant_webhook(db, conn, hook)
        if hook.topic == "return":
            return payments.customer_page(payments.RETURN_TITLE, payments.RETURN_TEXT)
        return WebhookReply(status=404, body="no such webhook")

    async def _browser_callback(self, db: Any, conn: Connection, hook: IncomingWebhook
                                ) -> WebhookReply:
        token = hook.form.get("token", "").strip()
        if not token:
            return payments.customer_page(payments.UNKNOWN_TITLE, payments.UNKNOWN_TEXT,
                                          status=400)
        try:
            async with db.tenant_session(conn.tenant_id) as session:
                link = await payments.link_by_token(session, conn, token)
                if link is None:
                    return payments.customer_page(payments.UNKNOWN_TITLE,
                                                  payments.UNKNOWN_TEXT, status=404)
                settled = await self._settle(session, conn, link.reference, token,
                                             topic="callback", payload={"token": token})
        except IntegrationError as exc:
            log.warning("iyzico.callback_failed", error=exc.message)
            return payments.customer_page(payments.RETURN_TITLE, payments.RETURN_TEXT,
                                          status=502)
        if settled is not None and settled.paid:
            return payments.customer_page(payments.PAID_TITLE, payments.PAID_TEXT)
        if settled is None:
            return payments.customer_page(payments.RETURN_TITLE, payments.RETURN_TEXT)
        return payments.customer_page(payments.FAILED_TITLE, payments.FAILED_TEXT)

    async def _merchant_webhook(self, db: Any, conn: Connection, hook: IncomingWebhook
                                ) -> WebhookReply:
        try:
            body = json.loads(hook.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise WebhookRefused("not an iyzico notification")
        expected = signing.webhook_signature(conn.secret("secret_key"), body)
        if not signing.matches(expected, hook.headers.get("x-iyz-signature-v3")):
            raise WebhookRefused("X-IYZ-SIGNATURE-V3 does not match")
        try:
            async with db.tenant_session(conn.tenant_id) as session:
                token = str(body.get("token") or "")
                link = (await payments.link_by_token(session, conn, token) if token else
                        await payments.link_by_reference(
                            session, conn, str(body.get("paymentConversationId") or "")))
                event_id = str(body.get("iyziReferenceCode") or
                               f"{token or body.get('paymentId')}:{body.get('status')}")
                if link is None or not link.provider_token:
                    await service.record_event(session, conn, event_id=event_id,
                                               topic="webhook", payload=body)
                    return WebhookReply(body="OK")
                # The notification has no amount: the retrieved result, checked, decides.
                await self._settle(session, conn, link.reference, link.provider_token,
                                   topic="webhook", payload=body, event_id=event_id)
        except IntegrationError as exc:
            # Not kept (the transaction rolled back): iyzico's retry will try again.
            log.warning("iyzico.webhook_failed", error=exc.message)
            return WebhookReply(status=503, body="try again")
        return WebhookReply(body="OK")

    async def _settle(self, session: Any, conn: Connection, reference: str, token: str, *,
                      topic: str, payload: dict[str, Any], event_id: str | None = None
                      ) -> PaymentResult | None:
        result = await self.retrieve(conn, reference, token)
        if result is None:
            return None
        event = await service.record_event(
            session, conn, event_id=event_id or f"{topic}:{token}:{result.paid}",
            topic=topic, payload={**payload, "paid": result.paid,
                                  "amount": str(result.amount)})
        if event is not None:
            settled = await payments.apply_result(session, conn, result)
            await service.mark_processed(session, event, None if settled.link else
                                         "unknown payment link")
        return result


registry.register(IyzicoAdapter())

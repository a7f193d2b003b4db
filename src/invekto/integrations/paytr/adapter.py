"""PayTR: payment links through the iFrame API (dev.paytr.com "iFrame API" steps 1 and 2).

* A link: ``POST /odeme/api/get-token`` (form-encoded, ``paytr_token`` HMAC); the customer opens
  ``{base}/odeme/guvenli/{token}``, valid for ``timeout_limit`` minutes.
* The result: PayTR's server posts the notification ("Bildirim URL", set in the merchant panel
  to the address the settings page shows, ``/hooks/integrations/paytr/{id}``). Its ``hash`` is
  checked; the answer is the plain text ``OK``, also to a repeat, or PayTR keeps the payment
  unfinished and repeats it.
* Links take a single payment (``no_installment=1``): the signed ``total_amount`` must then be
  exactly the link's amount.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import structlog

from invekto.core import outbound
from invekto.core.i18n import N_
from invekto.integrations import registry, service
from invekto.integrations.base import (
    Capability,
    CheckResult,
    Connection,
    IncomingWebhook,
    IntegrationAdapter,
    IntegrationAuthFailed,
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
from invekto.integrations.payments import service as payments
from invekto.integrations.paytr import signing

log = structlog.get_logger()

LIVE_URL = "https://www.paytr.com"
TOKEN_PATH = "/odeme/api/get-token"
PAGE_PATH = "/odeme/guvenli/"
TIMEOUT = 15.0
# PayTR writes Turkish lira as TL.
CURRENCY_CODES = {"TRY": "TL", "USD": "USD", "EUR": "EUR", "GBP": "GBP"}
# What get-token requires that a chat does not tell us (the customer's card and identity are
# typed on PayTR's page). PayTR wants the buyer's IP; a link is made before the buyer opens it.
UNKNOWN_IP = "85.34.78.112"
UNKNOWN_ADDRESS = "Türkiye"
UNKNOWN_PHONE = "05000000000"


def _now() -> datetime:
    return datetime.now(UTC)


def basket(description: str, amount: Decimal) -> str:
    """``user_basket``: base64 of a JSON list of [name, unit price, quantity], as PayTR's PHP
    sample makes it (compact, non-ASCII escaped)."""
    items = [[description[:100], f"{amount:.2f}", 1]]
    return base64.b64encode(json.dumps(items, separators=(",", ":")).encode()).decode()


class PaytrAdapter(IntegrationAdapter):
    kind = "paytr"
    label = "PayTR"
    description = N_("Payment links through PayTR's secure payment page.")
    capabilities = frozenset({Capability.PAYMENT_LINK, Capability.EVENT_SINK})
    currencies = tuple(CURRENCY_CODES)
    default_base_url = LIVE_URL
    fields = (
        SettingField("merchant_id", N_("Merchant ID"), max_length=20),
        SettingField("merchant_key", N_("Merchant key"), secret=True, kind="password"),
        SettingField("merchant_salt", N_("Merchant salt"), secret=True, kind="password"),
        SettingField("test_mode", N_("Test mode"), kind="select", default="0",
                     choices=(("0", N_("Off: real payments")), ("1", N_("On: test cards only"))),
                     help=N_("In test mode PayTR takes its test cards and moves no money.")),
    )

    def token_fields(self, conn: Connection, request: PaymentRequest) -> dict[str, str]:
        fields = {
            "merchant_id": conn.setting("merchant_id"),
            "user_ip": request.customer_ip or UNKNOWN_IP,
            "merchant_oid": request.reference,
            "email": request.customer_email or f"{request.reference.lower()}@example.com",
            "payment_amount": str(int((request.amount * 100).to_integral_value())),
            "user_basket": basket(request.description, request.amount),
            "no_installment": "1", "max_installment": "0",
            "currency": CURRENCY_CODES[request.currency],
            "test_mode": conn.setting("test_mode", "0"),
        }
        fields["paytr_token"] = signing.paytr_token(fields, conn.secret("merchant_key"),
                                                    conn.secret("merchant_salt"))
        return_url = request.return_url or request.callback_url
        fields.update({
            "debug_on": "0", "user_name": request.customer_name or "Müşteri",
            "user_address": UNKNOWN_ADDRESS,
            "user_phone": request.customer_phone or UNKNOWN_PHONE,
            "merchant_ok_url": return_url, "merchant_fail_url": return_url,
            "timeout_limit": str(request.expires_minutes),
            "lang": "en" if request.language == "en" else "tr"})
        return fields

    async def _get_token(self, conn: Connection, fields: dict[str, str]) -> str:
        try:
            async with outbound.client(timeout=TIMEOUT) as client:
                response = await client.post(conn.base_url + TOKEN_PATH, data=fields)
        except httpx.HTTPError as exc:
            raise IntegrationUnavailable(f"PayTR could not be reached: {exc}") from exc
        if response.status_code == 429:
            raise IntegrationRateLimited("PayTR: too many requests")
        if response.status_code >= 500:
            raise IntegrationUnavailable(f"PayTR answered {response.status_code}",
                                         status=response.status_code)
        try:
            answer = response.json()
        except ValueError as exc:
            raise IntegrationUnavailable("PayTR's answer was not JSON") from exc
        if answer.get("status") != "success" or not answer.get("token"):
            reason = str(answer.get("reason") or "request refused")
            lowered = reason.lower()
            # The reasons that blame the credentials (the hash, the merchant), not the order.
            if any(word in lowered for word in ("paytr_token", "merchant_id", "magaza")):
                raise IntegrationAuthFailed(f"PayTR: {reason}", status=response.status_code)
            raise IntegrationRefused(f"PayTR: {reason}", status=response.status_code)
        return str(answer["token"])

    async def check(self, conn: Connection) -> CheckResult:
        """A token for a 1 TL test payment nobody will open: the credentials are right if PayTR
        makes it."""
        request = PaymentRequest(
            reference="CHECK" + _now().strftime("%Y%m%d%H%M%S"), amount=Decimal("1.00"),
            currency="TRY", description="Bağlantı testi", customer_name=None,
            customer_phone=None, customer_email=None, callback_url=LIVE_URL,
            expires_minutes=5)
        fields = self.token_fields(conn, request)
        fields["test_mode"] = "1"
        fields["paytr_token"] = signing.paytr_token(fields, conn.secret("merchant_key"),
                                                    conn.secret("merchant_salt"))
        await self._get_token(conn, fields)
        return CheckResult(True, f"PayTR: {conn.setting('merchant_id')}")

    async def create_payment_link(self, conn: Connection, request: PaymentRequest
                                  ) -> PaymentLink:
        token = await self._get_token(conn, self.token_fields(conn, request))
        return PaymentLink(url=conn.base_url + PAGE_PATH + token, provider_reference=token,
                           expires_at=_now() + timedelta(minutes=request.expires_minutes))

    async def receive_webhook(self, db: Any, conn: Connection, hook: IncomingWebhook
                              ) -> WebhookReply:
        if hook.topic == "return":
            return payments.customer_page(payments.RETURN_TITLE, payments.RETURN_TEXT)
        # The Bildirim URL is the address the settings page shows (no topic); "callback" too.
        if hook.topic not in ("", "callback"):
            return WebhookReply(status=404, body="no such webhook")
        form = hook.form
        merchant_oid = form.get("merchant_oid", "")
        status = form.get("status", "")
        total_amount = form.get("total_amount", "")
        expected = signing.callback_hash(conn.secret("merchant_key"),
                                         conn.secret("merchant_salt"), merchant_oid, status,
                                         total_amount)
        if not merchant_oid or not signing.matches(expected, form.get("hash")):
            raise WebhookRefused("PAYTR notification failed: bad hash")
        try:
            amount = Decimal(total_amount) / 100
        except InvalidOperation:
            raise WebhookRefused("PAYTR notification failed: bad total_amount") from None
        currency = {"TL": "TRY"}.get(form.get("currency", ""), form.get("currency") or None)
        async with db.tenant_session(conn.tenant_id) as session:
            event = await service.record_event(
                session, conn, event_id=f"{merchant_oid}:{status}", topic="callback",
                payload={k: v for k, v in form.items() if k != "hash"})
            if event is not None:  # a repeat was handled the first time: just "OK" again
                reason = None
                if status != "success":
                    reason = (f"PayTR {form.get('failed_reason_code', '')}: "
                              f"{form.get('failed_reason_msg', '')}").strip(": ")
                settled = await payments.apply_result(session, conn, PaymentResult(
                    reference=merchant_oid, paid=status == "success",
                    amount=amount if status == "success" else None, currency=currency,
                    provider_payment_id=merchant_oid, failure_reason=reason))
                await service.mark_processed(session, event, None if settled.link else
                                             "unknown payment link")
        return WebhookReply(body="OK", media_type="text/plain")


registry.register(PaytrAdapter())

"""The composer's payment links (``integrations/_payment_links.html``, loaded under the
composer): the form that makes and sends one, and the conversation's links with their status."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from invekto.core.errors import AppError, ValidationFailed
from invekto.integrations import service
from invekto.integrations.orders import money
from invekto.integrations.payments import service as payments
from invekto.integrations.payments.api import public_url
from invekto.integrations.payments.schemas import PaymentLinkIn
from invekto.web.rendering import WebPage, error_message, parse_form, render_page

router = APIRouter(include_in_schema=False)


def typed_amount(value: str) -> str:
    """An amount as people type it: "150", "150.5", "150,50", "1.250,50"."""
    value = value.strip().replace(" ", "").replace("₺", "")
    if "," in value:
        value = value.replace(".", "").replace(",", ".")
    if not value:
        raise ValidationFailed("enter the amount", field="amount")
    try:
        Decimal(value)
    except InvalidOperation:
        raise ValidationFailed("the amount must be a number", field="amount") from None
    return value


async def _part(request: Request, page: WebPage, conversation_id: uuid.UUID, *,
                error: str | None = None, values: dict[str, Any] | None = None,
                only_list: bool = False) -> Response:
    session, actor = page.ctx.session, page.ctx.actor
    links = await payments.list_links(session, actor, conversation_id)
    providers = [service.adapter(c.kind)
                 for c in await payments.payment_connections(session, actor.tenant_id)]
    currencies = [c for c in payments.CURRENCIES
                  if any(c in getattr(p, "currencies", payments.CURRENCIES) for p in providers)]
    return render_page(request, page, "integrations/_payment_links.html",
                       conversation_id=conversation_id, links=links, providers=providers,
                       currencies=currencies, error=error, values=values or {},
                       idempotency_key=uuid.uuid4().hex,
                       money=money, only_list=only_list)


@router.get("/inbox/c/{conversation_id}/payment-links")
async def payment_links(request: Request, conversation_id: uuid.UUID, page: WebPage,
                        part: str = "") -> Response:
    """The part under the composer; ``part=list``: only its list of links (refreshed while one
    awaits payment)."""
    return await _part(request, page, conversation_id, only_list=part == "list")


@router.post("/inbox/c/{conversation_id}/payment-links")
async def create_payment_link(request: Request, conversation_id: uuid.UUID, page: WebPage,
                              amount: str = Form(""), currency: str = Form("TRY"),
                              description: str = Form(""), provider: str = Form(""),
                              idempotency_key: str = Form("")) -> Response:
    """Make the link and send it in the conversation; a refusal is shown in the form, which
    keeps what was typed."""
    values = {"amount": amount, "currency": currency, "description": description,
              "provider": provider}
    session = page.ctx.session
    try:
        # A refused link leaves nothing behind (its row was written before the provider said no).
        async with session.begin_nested():
            data = parse_form(PaymentLinkIn, {
                "amount": typed_amount(amount), "currency": currency or "TRY",
                "description": description, "provider": provider or None,
                "idempotency_key": idempotency_key or None})
            await payments.create_link(session, page.ctx.actor, conversation_id, data,
                                       public_url=public_url(request))
    except AppError as exc:
        return await _part(request, page, conversation_id,
                           error=error_message(exc, page.lang), values=values)
    return await _part(request, page, conversation_id)

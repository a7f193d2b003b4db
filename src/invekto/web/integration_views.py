"""Pages of the integrations: Settings → Integrations (connect, test, remove each provider, from
the fields its adapter declares), the orders panel of the contact card, and the composer's order
look-up. Everything goes through ``invekto.integrations``' services."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from invekto import runtime
from invekto.core.actor import Permission
from invekto.core.errors import AppError
from invekto.core.i18n import N_
from invekto.inbox import service as inbox
from invekto.integrations import orders, registry, service
from invekto.integrations.base import ORDER_STATES, Capability
from invekto.web.rendering import Page, WebPage, error_message, render_page

router = APIRouter(include_in_schema=False)


# ---- Settings → Integrations -------------------------------------------------------------------

async def settings_section(page: Page, _params: Any = None) -> dict[str, Any]:
    listed = await service.list_integrations(page.ctx.session, page.ctx.actor)
    # The page prefixes the browser's own address when the deployment has no public URL set.
    return {"integrations": listed, "capability_labels": CAPABILITY_LABELS,
            "public_url": runtime.current().settings.public_url or "",
            "hook_paths": {item.adapter.kind: service.webhook_url("", item.integration)
                          for item in listed if item.integration is not None
                          and Capability.EVENT_SINK in item.adapter.capabilities}}


CAPABILITY_LABELS = {
    Capability.ORDER_LOOKUP: N_("Order look-up"), Capability.CONTACT_LOOKUP: N_("Contact record"),
    Capability.CONTACT_SYNC: N_("Contact sync"), Capability.PAYMENT_LINK: N_("Payment links"),
    Capability.EVENT_SINK: N_("Events to automation"),
}


async def _section(request: Request, page: Page, *, status_code: int = 200, **extra: Any
                   ) -> HTMLResponse:
    page.ctx.actor.require(Permission.MANAGE_SETTINGS)
    return render_page(request, page, "settings/_integrations.html", status_code=status_code,
                       **await settings_section(page), **extra)


@router.post("/settings/integrations/{kind}")
async def save(request: Request, kind: str, page: WebPage) -> Response:
    form = await request.form()
    adapter = service.adapter(kind)
    typed = {f.name: str(form.get(f.name) or "") for f in adapter.setting_fields()}
    try:
        await service.save_integration(page.ctx.session, page.ctx.actor, kind, typed,
                                       enabled=form.get("enabled") == "on")
    except AppError as exc:
        if exc.field is None or not page.ctx.session.is_active:
            raise
        # Typed values come back (never a secret), the reason beside its field.
        return await _section(request, page, status_code=exc.status_code, refused_kind=kind,
                              typed={k: v for k, v in typed.items()
                                     if not any(f.secret and f.name == k
                                                for f in adapter.setting_fields())},
                              form_errors={exc.field: error_message(exc, page.lang)})
    return await _section(request, page, saved_kind=kind)


@router.post("/settings/integrations/{kind}/test")
async def test(request: Request, kind: str, page: WebPage) -> Response:
    result = await service.test_integration(page.ctx.session, page.ctx.actor, kind)
    return await _section(request, page, tested_kind=kind, tested=result)


@router.post("/settings/integrations/{kind}/remove")
async def remove(request: Request, kind: str, page: WebPage) -> Response:
    await service.remove_integration(page.ctx.session, page.ctx.actor, kind)
    return await _section(request, page, removed_kind=kind)


# ---- orders in the inbox -----------------------------------------------------------------------

@router.get("/inbox/contacts/{contact_id}/orders")
async def contact_orders(request: Request, contact_id: uuid.UUID, page: WebPage) -> Response:
    """The contact card's orders; nothing at all for a company with no shop connected."""
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.require_history_visible(session, actor, contact_id)
    if not await service.connections_with(session, actor.tenant_id, Capability.ORDER_LOOKUP):
        return Response(status_code=200)
    found = await orders.orders_for_contact(session, actor, contact_id)
    return render_page(request, page, "integrations/_contact_orders.html", found=found,
                       contact_id=contact_id, **_order_context(page))


@router.get("/inbox/c/{conversation_id}/orders")
async def conversation_order_lookup(request: Request, conversation_id: uuid.UUID,
                                    page: WebPage, number: str = "") -> Response:
    """The composer's look-up: the order with this number, each with its sentence for the
    customer ready to put in the reply."""
    session, actor = page.ctx.session, page.ctx.actor
    await inbox.get_conversation(session, actor, conversation_id)
    found = (await orders.find_order(session, actor, number[:60]) if number.strip()
             else orders.Found([], []))
    return render_page(request, page, "integrations/_order_lookup.html", found=found,
                       number=number[:60], **_order_context(page))


def _order_context(page: Page) -> dict[str, Any]:
    return {"order_states": ORDER_STATES, "labels": _labels(),
            "describe": lambda order: orders.describe(order, page.lang),
            "money": lambda amount, currency: orders.money(amount, currency, page.lang)}


def _labels() -> dict[str, str]:
    return {adapter.kind: adapter.label for adapter in registry.all_adapters()}

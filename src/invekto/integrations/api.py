"""``/api/v1/integrations``: connect, change, test and remove a company's connections to other
systems (admins: "manage settings"); ``/api/v1/orders`` and a contact's orders: what the
connected shops know (anyone who can handle conversations)."""

from __future__ import annotations

import dataclasses
import uuid

from fastapi import APIRouter, Query, status

from invekto.http.deps import Scoped
from invekto.integrations import events, orders, service  # noqa: F401 - events registers its kinds
from invekto.integrations.schemas import (
    CheckOut,
    IntegrationIn,
    IntegrationOut,
    OrdersOut,
    SettingFieldOut,
)

router = APIRouter(tags=["integrations"])


def _out(listed: service.Listed) -> IntegrationOut:
    row = listed.integration
    return IntegrationOut(
        kind=listed.adapter.kind, label=listed.adapter.label,
        capabilities=sorted(listed.adapter.capabilities), connected=row is not None,
        enabled=bool(row and row.enabled), status=row.status if row else None,
        status_detail=row.status_detail if row else "", checked_at=row.checked_at if row else None,
        id=row.id if row else None,
        fields=[SettingFieldOut(
            name=f.name, label=f.label, secret=f.secret, required=f.required, kind=f.kind,
            choices=[c for c, _ in f.choices], default=f.default,
            value=None if f.secret else listed.value(f),
            has_value=listed.has_secret(f) if f.secret else bool(listed.value(f)))
            for f in listed.adapter.setting_fields()])


@router.get("/integrations", response_model=list[IntegrationOut])
async def list_integrations(ctx: Scoped):
    return [_out(listed) for listed in await service.list_integrations(ctx.session, ctx.actor)]


@router.get("/integrations/{kind}", response_model=IntegrationOut)
async def get_integration(kind: str, ctx: Scoped):
    return _out(await service.get_integration(ctx.session, ctx.actor, kind))


@router.put("/integrations/{kind}", response_model=IntegrationOut)
async def put_integration(kind: str, body: IntegrationIn, ctx: Scoped):
    await service.save_integration(ctx.session, ctx.actor, kind, body.settings,
                                   enabled=body.enabled)
    return _out(await service.get_integration(ctx.session, ctx.actor, kind))


@router.delete("/integrations/{kind}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_integration(kind: str, ctx: Scoped):
    await service.remove_integration(ctx.session, ctx.actor, kind)


@router.post("/integrations/{kind}/test", response_model=CheckOut)
async def test_integration(kind: str, ctx: Scoped):
    """One harmless call with the stored settings; ``ok`` is the answer, not the status code."""
    result = await service.test_integration(ctx.session, ctx.actor, kind)
    return CheckOut(ok=result.ok, detail=result.detail)


def _orders_out(found: orders.Found) -> OrdersOut:
    return OrdersOut.model_validate({
        "orders": [dataclasses.asdict(order) for order in found.orders],
        "errors": [{"source": source, "message": message}
                   for source, message in found.errors]})


@router.get("/contacts/{contact_id}/orders", response_model=OrdersOut)
async def contact_orders(contact_id: uuid.UUID, ctx: Scoped):
    """The contact's orders in every connected shop, found by phone number and e-mail."""
    return _orders_out(await orders.orders_for_contact(ctx.session, ctx.actor, contact_id))


@router.get("/orders", response_model=OrdersOut)
async def find_order(ctx: Scoped, number: str = Query(min_length=1, max_length=60)):
    """An order by the number the customer quotes, in every connected shop."""
    return _orders_out(await orders.find_order(ctx.session, ctx.actor, number))

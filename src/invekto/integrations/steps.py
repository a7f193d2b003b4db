"""The chatbot's order look-up (``lookup`` node, capability ``order_status``): the order a
customer names, in every connected shop, answered without a person ("Kargom nerede?").

What a found order puts in the flow's variables (under the node's ``save_as``): ``number``,
``state`` (our word: shipped...), ``status`` (that word in the company's language), ``summary``
(the whole answer: status, total, cargo and tracking link), ``carrier``, ``tracking_number``,
``tracking_url``, ``total`` and ``source``. No shop connected, or none has the number: "not
found", and the flow goes on at the node's ``not_found_next`` (the template hands over)."""

from __future__ import annotations

import uuid

from invekto import runtime
from invekto.core.i18n import text
from invekto.flows import steps
from invekto.integrations import orders
from invekto.integrations.base import ORDER_STATES
from invekto.tenants.models import Tenant

ORDER_STATUS = "order_status"


async def find_order(tenant_id: uuid.UUID, query: str) -> dict | None:
    async with runtime.current().db.tenant_session(tenant_id) as session:
        language = (await session.get(Tenant, tenant_id)).default_language
        found = await orders.lookup_order(session, tenant_id, query)
    if not found.orders:
        return None
    order = found.orders[0]
    shipment = next((s for s in order.shipments if s.tracking_number or s.tracking_url), None)
    return {
        "number": order.number, "state": order.state, "source": order.source,
        "status": text(language, ORDER_STATES[order.state]),
        "summary": orders.describe(order, language),
        "total": orders.money(order.total, order.currency, language),
        "carrier": shipment.carrier if shipment else "",
        "tracking_number": shipment.tracking_number if shipment else "",
        "tracking_url": shipment.tracking_url if shipment else "",
    }


steps.register_lookup(steps.Lookup(ORDER_STATUS, "Order status", find_order))

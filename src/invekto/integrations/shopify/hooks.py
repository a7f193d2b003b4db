"""Shopify's webhooks to one connection (``/hooks/integrations/shopify/{integration id}``):
verified by ``X-Shopify-Hmac-Sha256``, kept once (``integration_events``, keyed by the event
id), and turned into automation events about the contact whose phone or e-mail the order
carries.

* ``orders/create`` → ``order_created``; ``orders/updated`` → ``order_updated``;
  ``orders/fulfilled`` (and ``fulfillments/create|update``, whose order is read back from the
  API) → ``order_shipped``. Each also drops the company's cached order look-ups.
* ``customers/data_request``, ``customers/redact``, ``shop/redact`` (Shopify's mandatory
  privacy topics): verified, kept, answered 200. We keep no Shopify customer data beyond the
  events themselves; the request is in the event log for an admin to act on.
* Anything else verified is kept and answered 200 (Shopify deletes a subscription whose
  deliveries keep failing).

The event is an automation event with ``data`` = ``order_data(order)``; it is about the
contact's latest conversation when there is one, so a rule can answer there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import structlog
from sqlalchemy import select

from invekto.automation import service as automation
from invekto.automation.events import Event
from invekto.contacts.models import Contact
from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164
from invekto.inbox.models import Conversation
from invekto.integrations import events, orders, service
from invekto.integrations.base import (
    ORDER_STATES,
    Connection,
    IncomingWebhook,
    IntegrationError,
    Order,
    WebhookRefused,
    WebhookReply,
)
from invekto.integrations.shopify import mapping
from invekto.integrations.shopify.adapter import (
    CLIENT_SECRET,
    ORDER_FIELDS,
    SHOP_DOMAIN,
    ShopifyAdapter,
)

log = structlog.get_logger()

ORDER_TOPICS = {"orders/create": events.ORDER_CREATED, "orders/updated": events.ORDER_UPDATED,
                "orders/fulfilled": events.ORDER_SHIPPED}
FULFILMENT_TOPICS = ("fulfillments/create", "fulfillments/update")
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")

ORDER_BY_ID_QUERY = """
query OrderById($id: ID!) { order(id: $id) { ...OrderFields } }"""


def signature(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 (not hex) of HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(conn: Connection, hook: IncomingWebhook) -> None:
    """WebhookRefused unless the body is signed with the connection's client secret and comes
    from the connected shop."""
    secret = conn.secret(CLIENT_SECRET)
    given = hook.headers.get("x-shopify-hmac-sha256", "")
    if not secret or not given or not hmac.compare_digest(
            signature(secret, hook.body).encode(), given.strip().encode()):
        raise WebhookRefused("signature does not match")
    shop = hook.headers.get("x-shopify-shop-domain", "").strip().lower()
    if shop != conn.setting(SHOP_DOMAIN):
        raise WebhookRefused("webhook from another shop")


def event_id(hook: IncomingWebhook) -> str:
    """The same on every retry of one delivery: Shopify's event id (their duplicate guide's
    key), else the webhook id, else the body's hash."""
    return (hook.headers.get("x-shopify-event-id") or hook.headers.get("x-shopify-webhook-id")
            or "sha256:" + hashlib.sha256(hook.body).hexdigest())


async def receive(db: Any, conn: Connection, hook: IncomingWebhook) -> WebhookReply:
    verify(conn, hook)
    topic = hook.headers.get("x-shopify-topic", "").strip().lower() or hook.topic
    try:
        payload = json.loads(hook.body or b"{}")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        # Signed by Shopify yet unreadable: asking again would not help.
        log.warning("shopify.webhook_unreadable", integration_id=str(conn.integration_id))
        return WebhookReply(200, "unreadable")
    order = None
    if topic in FULFILMENT_TOPICS and payload.get("order_id"):
        order = await _order_of_fulfilment(conn, payload)
    async with db.tenant_session(conn.tenant_id) as session:
        stored = await service.record_event(session, conn, event_id=event_id(hook), topic=topic,
                                            payload=payload)
        if stored is None:
            return WebhookReply(200, "duplicate")
        error = None
        try:
            if topic in ORDER_TOPICS or topic in FULFILMENT_TOPICS:
                order = order or mapping.from_webhook(payload, conn.setting(SHOP_DOMAIN))
                kind = ORDER_TOPICS.get(topic, events.ORDER_SHIPPED)
                error = await _act(session, conn, kind, order, payload)
            elif topic in PRIVACY_TOPICS:
                log.info("shopify.privacy_request", topic=topic,
                         integration_id=str(conn.integration_id))
        except Exception as exc:  # the event is kept with its error; Shopify need not retry
            log.exception("shopify.webhook_failed", topic=topic)
            error = f"internal error ({type(exc).__name__})"
        await service.mark_processed(session, stored, error)
    return WebhookReply(200, "ok")


async def _order_of_fulfilment(conn: Connection, payload: dict) -> Order | None:
    """A fulfilment webhook names its order by id only: the order as the API has it now."""
    try:
        data = await ShopifyAdapter().graphql(
            conn, ORDER_BY_ID_QUERY + ORDER_FIELDS,
            {"id": f"gid://shopify/Order/{mapping.numeric_id(payload['order_id'])}"})
    except IntegrationError as exc:
        log.warning("shopify.fulfilment_order_unavailable", error=exc.message)
        return None
    node = data.get("order")
    return mapping.from_graphql(node, conn.setting(SHOP_DOMAIN)) if node else None


async def _act(session, conn: Connection, kind: str, order: Order, payload: dict) -> str | None:
    """Raise the automation event for the order's contact; the reason it was not raised."""
    orders.forget_cached(conn.tenant_id)
    # An order carries its customer's details; a fulfilment its e-mail and destination.
    phones, emails = mapping.webhook_contacts(payload)
    if destination := (payload.get("destination") or {}).get("phone"):
        phones.append(destination)
    contact = await find_contact(session, conn, phones, emails)
    if contact is None:
        return "no contact with the order's phone or e-mail"
    conversation_id = await session.scalar(select(Conversation.id).where(
        Conversation.tenant_id == conn.tenant_id, Conversation.contact_id == contact.id
    ).order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(1))
    await automation.emit(session, [Event(kind, conn.tenant_id, contact_id=contact.id,
                                          conversation_id=conversation_id,
                                          data=order_data(order))])
    return None


async def find_contact(session, conn: Connection, phones: list[str], emails: list[str]
                       ) -> Contact | None:
    """The company's contact with one of these phone numbers (E.164, as contacts keep them),
    else with one of these e-mail addresses (the oldest such contact)."""
    numbers = []
    for raw in phones:
        try:
            numbers.append(to_e164(str(raw)))
        except ValidationFailed:
            continue
    if numbers:
        found = await session.scalar(select(Contact).where(
            Contact.tenant_id == conn.tenant_id, Contact.phone.in_(numbers)).order_by(
            Contact.created_at).limit(1))
        if found is not None:
            return found
    if emails:
        return await session.scalar(select(Contact).where(
            Contact.tenant_id == conn.tenant_id, Contact.email.in_(emails)).order_by(
            Contact.created_at).limit(1))
    return None


def order_data(order: Order) -> dict[str, Any]:
    """What a rule sees of the order (``event.data``; the webhook action's ``event.data``)."""
    shipment = next((s for s in order.shipments if s.tracking_number or s.tracking_url), None)
    return {
        "source": order.source, "number": order.number, "state": order.state,
        "state_label": ORDER_STATES[order.state], "provider_status": order.provider_status,
        "total": str(order.total) if order.total is not None else None,
        "currency": order.currency,
        "carrier": shipment.carrier if shipment else None,
        "tracking_number": shipment.tracking_number if shipment else None,
        "tracking_url": shipment.tracking_url if shipment else None,
        "items": ", ".join(f"{item.quantity} × {item.name}" for item in order.items),
        "url": order.url, "provider_id": order.provider_id,
    }

"""Orders from every connected shop and marketplace, in one shape (``base.Order``): a contact's
orders for the contact card, an order by the number a customer quotes (composer, chatbot), and
the sentence that tells a customer where the order is.

Each shop is asked at the same time; one that fails or is slow is named in ``Found.errors``
and does not hide the others' orders. Answers are kept ``CACHE_SECONDS`` per process: an agent
flicking between 40 chats must not wait on Trendyol each time, and an order's status does not
change by the second."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.contacts import service as contacts
from invekto.core import masking
from invekto.core.actor import Actor, Permission
from invekto.core.i18n import Formatter, text
from invekto.integrations import service
from invekto.integrations.base import (
    ORDER_STATES,
    Capability,
    Connection,
    IntegrationAdapter,
    IntegrationError,
    Order,
)
from invekto.integrations.registry import adapter_for

log = structlog.get_logger()

CACHE_SECONDS = 60.0
# A shop that has not answered by then is reported as unavailable for this look-up.
LOOKUP_SECONDS = 8.0
MAX_ORDERS_PER_SOURCE = 5
# Answers kept at most; past it the expired ones go, and if that is not enough, all of them.
CACHE_ENTRIES = 5000

_cache: dict[tuple, tuple[float, list[Order]]] = {}


@dataclass(frozen=True)
class Found:
    orders: list[Order]
    errors: list[tuple[str, str]]  # (source kind, message)


async def orders_for_contact(session: AsyncSession, actor: Actor, contact_id: uuid.UUID
                             ) -> Found:
    """The contact's orders, newest first, found by the contact's phone number and e-mail."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    contact = await contacts.get_contact(session, actor, contact_id)
    if not contact.phone and not contact.email:
        return Found([], [])
    found = await _ask(session, actor, "customer", (contact.phone, contact.email),
                       lambda a, c: a.orders_for_customer(
                           c, phone=contact.phone, email=contact.email,
                           limit=MAX_ORDERS_PER_SOURCE))
    return _shown(actor, found)


async def find_order(session: AsyncSession, actor: Actor, number: str) -> Found:
    """The order with this number in any connected shop (usually one)."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    return _shown(actor, await lookup_order(session, actor.tenant_id, number))


async def lookup_order(session: AsyncSession, tenant_id: uuid.UUID, number: str) -> Found:
    """``find_order`` for the system (a chatbot step): no permission, nothing masked."""
    number = normalise_number(number)
    if not number:
        return Found([], [])
    return await _ask(session, Actor.system(tenant_id), "number", (number,),
                      lambda a, c: _as_list(a.order_by_number(c, number)))


def normalise_number(number: str) -> str:
    """What a customer types as an order number ("#1045", "sipariş no: 10654 32198") as the
    shops write it: spaces and a leading "no"/"#" dropped; Shopify's "#" is the adapter's."""
    cleaned = number.strip().strip(".:,;")
    for prefix in ("sipariş no", "siparis no", "order no", "no"):
        if cleaned.lower().startswith(prefix):
            cleaned = cleaned[len(prefix):].strip(" .:#")
    return cleaned.lstrip("#").replace(" ", "")[:60]


async def _as_list(found) -> list[Order]:
    order = await found
    return [] if order is None else [order]


async def _ask(session: AsyncSession, actor: Actor, what: str, key: tuple, operation) -> Found:
    connections = await service.connections_with(session, actor.tenant_id,
                                                 Capability.ORDER_LOOKUP)
    if not connections:
        return Found([], [])
    before = [service.state_fingerprint(conn) for conn in connections]
    outcomes = await asyncio.gather(*(
        _one(conn, (actor.tenant_id, conn.kind, what, *key), operation)
        for conn in connections))
    # The shops were asked at once; the session is used afterwards, one at a time.
    for conn, fingerprint, (_, _, exc) in zip(connections, before, outcomes, strict=True):
        await service.settle(session, conn, fingerprint, exc)
    orders = [order for found, _, _ in outcomes for order in found]
    orders.sort(key=lambda o: o.created_at.timestamp() if o.created_at else 0, reverse=True)
    return Found(orders, [error for _, error, _ in outcomes if error])


async def _one(conn: Connection, cache_key: tuple, operation
               ) -> tuple[list[Order], tuple[str, str] | None, IntegrationError | None]:
    cached = _cache.get(cache_key)
    if cached and cached[0] > time.monotonic():
        return cached[1], None, None
    adapter: IntegrationAdapter = adapter_for(conn.kind)  # type: ignore[assignment]
    try:
        found = await asyncio.wait_for(operation(adapter, conn), LOOKUP_SECONDS)
    except TimeoutError:
        return [], (conn.kind, text("en", "%(shop)s did not answer in time",
                                    shop=adapter.label)), None
    except IntegrationError as exc:
        log.warning("integrations.order_lookup_failed", kind=conn.kind, error=exc.message)
        return [], (conn.kind, f"{adapter.label}: {exc.message}"), exc
    _remember(cache_key, found)
    return found, None, None


def _remember(key: tuple, found: list[Order]) -> None:
    now = time.monotonic()
    if len(_cache) >= CACHE_ENTRIES:
        for old in [k for k, (until, _) in _cache.items() if until <= now]:
            del _cache[old]
        if len(_cache) >= CACHE_ENTRIES:
            _cache.clear()
    _cache[key] = (now + CACHE_SECONDS, found)


def forget_cached(tenant_id: uuid.UUID) -> None:
    """Drop a company's cached answers (an order webhook said something changed)."""
    for key in [key for key in _cache if key[0] == tenant_id]:
        del _cache[key]


def _shown(actor: Actor, found: Found) -> Found:
    if actor.can(Permission.SEE_PERSONAL_DATA):
        return found
    return Found([replace(o, customer_name=masking.text(o.customer_name)) for o in found.orders],
                 found.errors)


# ---- telling the customer ----------------------------------------------------------------------

def money(amount: Decimal | None, currency: str | None, language: str) -> str:
    """1.234,50 TL for a Turkish reader (who writes the lira TL), 1,234.50 TRY in English."""
    if amount is None:
        return ""
    if language == "tr" and currency == "TRY":
        currency = "TL"
    return f"{Formatter(language).amount(amount)} {currency or ''}".strip()


def describe(order: Order, language: str) -> str:
    """One message a customer can read: the order, where it is, and how to follow the parcel."""
    lines = [text(language, "Order %(number)s: %(state)s", number=order.number,
                  state=text(language, ORDER_STATES[order.state]))]
    if order.total is not None:
        lines.append(text(language, "Total: %(amount)s",
                          amount=money(order.total, order.currency, language)))
    for shipment in order.shipments:
        if shipment.tracking_number or shipment.tracking_url:
            lines.append(text(language, "Cargo: %(carrier)s, tracking number %(number)s",
                              carrier=shipment.carrier or "-",
                              number=shipment.tracking_number or "-"))
            if shipment.tracking_url:
                lines.append(shipment.tracking_url)
    return "\n".join(lines)

"""``/api/v1/webhook-subscriptions``: a company's outgoing webhooks, their delivery log, manual
redelivery and a test event. Admins' (MANAGE_SETTINGS); the service checks it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from invekto.http.deps import Scoped
from invekto.outgoing_webhooks import service
from invekto.outgoing_webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    EventTypeOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionWithSecret,
)

router = APIRouter(tags=["webhooks"])


def _with_secret(subscription, secret: str) -> SubscriptionWithSecret:
    return SubscriptionWithSecret(**SubscriptionOut.model_validate(subscription).model_dump(),
                                  secret=secret)


async def _delivery_out(ctx, delivery) -> DeliveryOut:
    attempts = await service.attempts_of(ctx.session, ctx.actor, [delivery.id])
    return DeliveryOut.model_validate(delivery).model_copy(update={"attempt_log": [
        AttemptOut.model_validate(a) for a in attempts[delivery.id]]})


@router.get("/webhook-subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(ctx: Scoped):
    return await service.list_subscriptions(ctx.session, ctx.actor)


@router.get("/webhook-subscriptions/event-types", response_model=list[EventTypeOut])
async def list_event_types(ctx: Scoped):
    """Every event type a subscription may ask for ("*": all of them, also those added later)."""
    ctx.actor.require(service.Permission.MANAGE_SETTINGS)
    return [EventTypeOut(type=t, label=label) for t, label in service.catalogue().items()]


@router.post("/webhook-subscriptions", response_model=SubscriptionWithSecret,
             status_code=status.HTTP_201_CREATED)
async def create_subscription(body: SubscriptionIn, ctx: Scoped):
    """The signing ``secret`` is in this answer only."""
    subscription, secret = await service.create_subscription(ctx.session, ctx.actor, body)
    return _with_secret(subscription, secret)


@router.get("/webhook-subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(subscription_id: uuid.UUID, ctx: Scoped):
    return await service.get_subscription(ctx.session, ctx.actor, subscription_id)


@router.patch("/webhook-subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def update_subscription(subscription_id: uuid.UUID, body: SubscriptionPatch, ctx: Scoped):
    return await service.update_subscription(ctx.session, ctx.actor, subscription_id, body)


@router.delete("/webhook-subscriptions/{subscription_id}",
               status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(subscription_id: uuid.UUID, ctx: Scoped) -> None:
    await service.delete_subscription(ctx.session, ctx.actor, subscription_id)


@router.post("/webhook-subscriptions/{subscription_id}/rotate-secret",
             response_model=SubscriptionWithSecret)
async def rotate_secret(subscription_id: uuid.UUID, ctx: Scoped):
    subscription, secret = await service.rotate_secret(ctx.session, ctx.actor, subscription_id)
    return _with_secret(subscription, secret)


@router.post("/webhook-subscriptions/{subscription_id}/test", response_model=DeliveryOut,
             status_code=status.HTTP_202_ACCEPTED)
async def send_test_event(subscription_id: uuid.UUID, ctx: Scoped):
    """A ``webhook.test`` event, delivered (and logged) like any other."""
    return await _delivery_out(ctx, await service.send_test(ctx.session, ctx.actor,
                                                            subscription_id))


@router.get("/webhook-subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(subscription_id: uuid.UUID, ctx: Scoped, cursor: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """Newest first, each with its attempts; ``next_cursor`` pages to older ones."""
    items, next_cursor = await service.list_deliveries(ctx.session, ctx.actor, subscription_id,
                                                       cursor=cursor, limit=limit)
    attempts = await service.attempts_of(ctx.session, ctx.actor, [d.id for d in items])
    return DeliveryPage(items=[DeliveryOut.model_validate(d).model_copy(update={
        "attempt_log": [AttemptOut.model_validate(a) for a in attempts[d.id]]})
        for d in items], next_cursor=next_cursor)


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryOut)
async def get_delivery(delivery_id: uuid.UUID, ctx: Scoped):
    """One delivery and its attempts."""
    return await _delivery_out(ctx, await service.get_delivery(ctx.session, ctx.actor,
                                                               delivery_id))


@router.post("/webhook-deliveries/{delivery_id}/redeliver", response_model=DeliveryOut,
             status_code=status.HTTP_202_ACCEPTED)
async def redeliver(delivery_id: uuid.UUID, ctx: Scoped):
    """Send it again (same event id and body), as soon as a worker takes it."""
    return await _delivery_out(ctx, await service.redeliver(ctx.session, ctx.actor,
                                                            delivery_id))

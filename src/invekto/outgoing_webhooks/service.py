"""Outgoing webhooks: a company's subscriptions, the events published to them, and their
delivery (docs/api.md "Webhooks", docs/architecture.md "Outgoing webhooks").

Publishing (``publish``) runs in the transaction of the event's cause: it writes one delivery
row per subscription that wants the event and defers its job there, so a change that rolls back
publishes nothing. A per-process cache of the company's enabled subscriptions keeps the ingest
path at no query when the company has none (the rows themselves are only written for
subscriptions that still exist and are enabled when the cause commits).

Delivering (``attempt``) locks the delivery row for the whole attempt (``FOR UPDATE SKIP
LOCKED``): a second job for the same delivery finds it locked, or already delivered, and sends
nothing. A failed attempt schedules the next by ``next_attempt_at`` (exponential backoff, 24
hours in all); a subscription whose every attempt has failed for 24 hours, or whose endpoint
answers 410 Gone, is disabled and the company's admins are notified.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import any_, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.audit import service as audit
from invekto.automation.tasks import SIGNATURE_HEADER, signature
from invekto.core import jobs, outbound, pagination, realtime
from invekto.core.actor import Actor, Permission
from invekto.core.crypto import secret_box
from invekto.core.errors import Conflict, ValidationFailed
from invekto.core.i18n import N_
from invekto.db.base import new_id
from invekto.db.queries import get_in_tenant
from invekto.outgoing_webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from invekto.outgoing_webhooks.schemas import SubscriptionIn, SubscriptionPatch

log = structlog.get_logger(__name__)

API_VERSION = "2026-11-01"
EVENT_ID_HEADER = "X-Invekto-Event-Id"
EVENT_TYPE_HEADER = "X-Invekto-Event-Type"
ALL_EVENTS = "*"
TEST_EVENT = "webhook.test"
TIMEOUT_SECONDS = 10
# Backoff: the first retry after FIRST_RETRY, each wait doubling up to MAX_WAIT, the last try
# GIVE_UP after the event (never later).
FIRST_RETRY = timedelta(seconds=5)
MAX_WAIT = timedelta(hours=1)
GIVE_UP = timedelta(hours=24)
# A subscription whose attempts have all failed this long is disabled.
DISABLE_AFTER = timedelta(hours=24)
EXCERPT_CHARS = 300
# The delivery log is kept this long.
KEEP_DELIVERIES = timedelta(days=30)

# Event types with no automation kind behind them; the automation kinds (``_type_of``) are
# added as they are registered (orders, payments, appointments...).
BASE_EVENTS: dict[str, str] = {
    "message.created": N_("Message created (received or sent)"),
    "message.updated": N_("Message status changed (sent, delivered, read, failed)"),
    "campaign.finished": N_("Campaign finished"),
}
# Automation kinds that are not events of their own: a customer's message is
# "message.created"; timers and schedules are one rule's business.
_NOT_PUBLISHED = {"message_received", "no_customer_reply", "no_agent_reply", "scheduled"}


def _now() -> datetime:
    return datetime.now(UTC)


def type_of(kind: str) -> str:
    """"order_created" → "order.created": the automation kind as a webhook event type."""
    return kind.replace("_", ".", 1)


def catalogue() -> dict[str, str]:
    """Every event type a subscription may ask for, with its (English, translatable) label."""
    from invekto.automation.events import KINDS

    events = dict(BASE_EVENTS)
    for kind in KINDS.values():
        if kind.kind not in _NOT_PUBLISHED:
            events[type_of(kind.kind)] = kind.label
    return dict(sorted(events.items()))


# ---- subscriptions -----------------------------------------------------------------------------

def _checked_url(url: str) -> str:
    url = url.strip()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ValidationFailed("this is not a web address", field="url") from exc
    if parsed.scheme != "https" and not (parsed.scheme == "http" and outbound.private_allowed()):
        raise ValidationFailed("the address must start with https://", field="url")
    if not parsed.host:
        raise ValidationFailed("this is not a web address", field="url")
    outbound.check_url(url, field="url")
    return url


def _checked_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    if not chosen:
        raise ValidationFailed("choose at least one event", field="events")
    if ALL_EVENTS in chosen:
        return [ALL_EVENTS]
    known = catalogue()
    unknown = [e for e in chosen if e not in known]
    if unknown:
        raise ValidationFailed("unknown event type: %(types)s", field="events",
                               params={"types": ", ".join(unknown)})
    return chosen


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _sealed(secret: str) -> str:
    return secret_box().encrypt_json({"secret": secret})


def secret_of(subscription: WebhookSubscription) -> str:
    return secret_box().decrypt_json(subscription.secret_encrypted)["secret"]


async def list_subscriptions(session: AsyncSession, actor: Actor) -> list[WebhookSubscription]:
    actor.require(Permission.MANAGE_SETTINGS)
    return list((await session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.tenant_id == actor.tenant_id).order_by(
        WebhookSubscription.created_at, WebhookSubscription.id))).all())


async def get_subscription(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID
                           ) -> WebhookSubscription:
    actor.require(Permission.MANAGE_SETTINGS)
    return await get_in_tenant(session, WebhookSubscription, actor.tenant_id, subscription_id,
                               what=N_("webhook subscription"))


async def create_subscription(session: AsyncSession, actor: Actor, data: SubscriptionIn
                              ) -> tuple[WebhookSubscription, str]:
    """The new subscription and its signing secret, which is shown this once."""
    actor.require(Permission.MANAGE_SETTINGS)
    url, events = _checked_url(data.url), _checked_events(data.events)
    secret = _new_secret()
    subscription = WebhookSubscription(
        id=new_id(), tenant_id=actor.tenant_id, url=url, events=events,
        description=data.description.strip(), enabled=data.enabled,
        secret_encrypted=_sealed(secret), created_by=actor.user_id)
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    forget(actor.tenant_id)
    await audit.record(session, actor, "webhook_subscription.created",
                       target_type="webhook_subscription", target_id=subscription.id,
                       data={"url": url, "events": events, "enabled": data.enabled})
    return subscription, secret


async def update_subscription(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID,
                              data: SubscriptionPatch) -> WebhookSubscription:
    subscription = await get_subscription(session, actor, subscription_id)
    changes = data.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = _checked_url(changes["url"] or "")
    if "events" in changes:
        changes["events"] = _checked_events(changes["events"] or [])
    if "description" in changes:
        changes["description"] = (changes["description"] or "").strip()
    if changes.get("enabled") is None:
        changes.pop("enabled", None)
    before = {name: getattr(subscription, name) for name in changes}
    for name, value in changes.items():
        setattr(subscription, name, value)
    if changes.get("enabled") and not before.get("enabled"):
        # Switched on again: its failures so far no longer count towards disabling it.
        subscription.failing_since = None
        subscription.disabled_at = None
        subscription.disabled_reason = None
    subscription.updated_at = _now()
    await session.flush()
    forget(actor.tenant_id)
    await audit.record(session, actor, "webhook_subscription.updated",
                       target_type="webhook_subscription", target_id=subscription.id,
                       **audit.diff(before, changes))
    return subscription


async def rotate_secret(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID
                        ) -> tuple[WebhookSubscription, str]:
    """A new signing secret, shown once; the old one stops at once (deliveries not yet made
    are signed with the new one)."""
    subscription = await get_subscription(session, actor, subscription_id)
    secret = _new_secret()
    subscription.secret_encrypted = _sealed(secret)
    subscription.updated_at = _now()
    await session.flush()
    await audit.record(session, actor, "webhook_subscription.secret_rotated",
                       target_type="webhook_subscription", target_id=subscription.id)
    return subscription, secret


async def delete_subscription(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID
                              ) -> None:
    """Its deliveries and their log go with it."""
    subscription = await get_subscription(session, actor, subscription_id)
    await session.delete(subscription)
    await session.flush()
    forget(actor.tenant_id)
    await audit.record(session, actor, "webhook_subscription.deleted",
                       target_type="webhook_subscription", target_id=subscription_id,
                       data={"url": subscription.url})


# ---- the delivery log --------------------------------------------------------------------------

async def list_deliveries(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID, *,
                          cursor: str | None = None, limit: int = 50
                          ) -> tuple[list[WebhookDelivery], str | None]:
    """Newest first."""
    await get_subscription(session, actor, subscription_id)
    return await pagination.newest_first_page(
        session, select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == actor.tenant_id,
            WebhookDelivery.subscription_id == subscription_id),
        WebhookDelivery.created_at, WebhookDelivery.id, cursor=cursor, limit=limit)


async def attempts_of(session: AsyncSession, actor: Actor, delivery_ids: list[uuid.UUID]
                      ) -> dict[uuid.UUID, list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first."""
    actor.require(Permission.MANAGE_SETTINGS)
    found: dict[uuid.UUID, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        for attempt_row in (await session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.tenant_id == actor.tenant_id,
                WebhookAttempt.delivery_id == any_(delivery_ids)).order_by(
                WebhookAttempt.attempted_at, WebhookAttempt.id))).all():
            found[attempt_row.delivery_id].append(attempt_row)
    return found


async def get_delivery(session: AsyncSession, actor: Actor, delivery_id: uuid.UUID
                       ) -> WebhookDelivery:
    actor.require(Permission.MANAGE_SETTINGS)
    return await get_in_tenant(session, WebhookDelivery, actor.tenant_id, delivery_id,
                               what=N_("webhook delivery"))


async def redeliver(session: AsyncSession, actor: Actor, delivery_id: uuid.UUID
                    ) -> WebhookDelivery:
    """Send the delivery again now (same event id and body), even one delivered before: the
    next attempt is made as soon as a worker takes it."""
    delivery = await get_delivery(session, actor, delivery_id)
    subscription = await session.get_one(WebhookSubscription, delivery.subscription_id)
    if not subscription.enabled:
        raise Conflict("this subscription is disabled; enable it first", field="delivery_id")
    delivery.state = "pending"
    delivery.next_attempt_at = _now()
    await session.flush()
    await _defer(session, delivery, manual=True)
    await audit.record(session, actor, "webhook_delivery.redelivered",
                       target_type="webhook_delivery", target_id=delivery.id,
                       data={"subscription_id": str(delivery.subscription_id),
                             "event_id": str(delivery.event_id)})
    return delivery


async def send_test(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID
                    ) -> WebhookDelivery:
    """A ``webhook.test`` event to this subscription alone, whatever events it wants."""
    subscription = await get_subscription(session, actor, subscription_id)
    if not subscription.enabled:
        raise Conflict("this subscription is disabled; enable it first",
                       field="subscription_id")
    (delivery,) = await _insert_deliveries(session, actor.tenant_id, [
        (_Pending(TEST_EVENT, {"details": {"message": "This is a test event from Invekto."}}),
         [subscription.id])])
    return delivery


# ---- publishing --------------------------------------------------------------------------------

@dataclass
class _Pending:
    type: str
    data: dict[str, Any]
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    occurred_at: datetime = field(default_factory=_now)


# Seconds a company's list of enabled subscriptions is kept per process: a subscription made
# or changed in another process is seen here within it (this process forgets at once).
CACHE_SECONDS = 10.0
_subscribed: dict[uuid.UUID, tuple[float, list[tuple[uuid.UUID, frozenset[str]]]]] = {}


def forget(tenant_id: uuid.UUID) -> None:
    _subscribed.pop(tenant_id, None)


async def _enabled_subscriptions(session: AsyncSession, tenant_id: uuid.UUID
                                 ) -> list[tuple[uuid.UUID, frozenset[str]]]:
    cached = _subscribed.get(tenant_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    found = [(sub_id, frozenset(events)) for sub_id, events in (await session.execute(
        select(WebhookSubscription.id, WebhookSubscription.events).where(
            WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.enabled))).all()]
    _subscribed[tenant_id] = (time.monotonic() + CACHE_SECONDS, found)
    return found


def _wanting(subscriptions: list[tuple[uuid.UUID, frozenset[str]]], event_type: str
             ) -> list[uuid.UUID]:
    return [sub_id for sub_id, events in subscriptions
            if ALL_EVENTS in events or event_type in events]


async def publish_automation_events(session: AsyncSession, events: list) -> None:
    """``automation.service.emit``'s events (one company's), as webhook events."""
    await _publish(session, events[0].tenant_id, [
        _Pending(type_of(e.kind), dict(e.data), conversation_id=e.conversation_id,
                 contact_id=e.contact_id, message_id=e.message_id,
                 occurred_at=e.at or _now())
        for e in events if e.kind not in _NOT_PUBLISHED and e.rule_id is None])


_LIVE_TYPES = {"message.created": "message.created", "message.status": "message.updated"}


async def publish_live_events(session: AsyncSession, events: list[realtime.Event]) -> None:
    """Messages created and their status changes, from the live events the inbox publishes
    for them (every path that stores a message or moves its status goes through those)."""
    by_tenant: dict[uuid.UUID, list[_Pending]] = {}
    for event in events:
        webhook_type = _LIVE_TYPES.get(event.type)
        if webhook_type and event.data.get("message_id"):
            by_tenant.setdefault(event.tenant_id, []).append(_Pending(
                webhook_type, {"status": event.data["status"]} if "status" in event.data
                else {}, message_id=uuid.UUID(event.data["message_id"])))
    for tenant_id, pending in by_tenant.items():
        await _publish(session, tenant_id, pending)


realtime.listen(_LIVE_TYPES, publish_live_events)


async def publish_campaign_finished(session: AsyncSession, tenant_id: uuid.UUID,
                                    campaign_id: uuid.UUID, status: str) -> None:
    await _publish(session, tenant_id, [_Pending("campaign.finished", {"status": status},
                                                 campaign_id=campaign_id)])


async def _publish(session: AsyncSession, tenant_id: uuid.UUID, pending: list[_Pending]
                   ) -> None:
    if not pending:
        return
    subscriptions = await _enabled_subscriptions(session, tenant_id)
    if not subscriptions:
        return
    wanted = [(event, subs) for event in pending
              if (subs := _wanting(subscriptions, event.type))]
    if wanted:
        await _fill_data(session, tenant_id, [event for event, _ in wanted])
        await _insert_deliveries(session, tenant_id, wanted)


async def _insert_deliveries(session: AsyncSession, tenant_id: uuid.UUID,
                             wanted: list[tuple[_Pending, list[uuid.UUID]]]
                             ) -> list[WebhookDelivery]:
    # Only subscriptions still there and enabled (the cache may be seconds old), kept so
    # until this transaction ends.
    live = set((await session.scalars(select(WebhookSubscription.id).where(
        WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.enabled,
        WebhookSubscription.id == any_(list({s for _, subs in wanted for s in subs})),
    ).with_for_update(key_share=True, read=True))).all())
    created = []
    for event, subscription_ids in wanted:
        event_id = new_id()
        body = _body(event_id, event)
        for subscription_id in subscription_ids:
            if subscription_id in live:
                delivery = WebhookDelivery(
                    id=new_id(), tenant_id=tenant_id, subscription_id=subscription_id,
                    event_id=event_id, event_type=event.type, body=body, state="pending",
                    attempts=0, next_attempt_at=_now())
                session.add(delivery)
                created.append(delivery)
    if created:
        await session.flush()
        for delivery in created:
            await _defer(session, delivery)
    return created


def _body(event_id: uuid.UUID, event: _Pending) -> str:
    return json.dumps({"id": str(event_id), "type": event.type, "api_version": API_VERSION,
                       "created_at": event.occurred_at.isoformat(), "data": event.data},
                      ensure_ascii=False, default=_plain, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


async def _fill_data(session: AsyncSession, tenant_id: uuid.UUID, events: list[_Pending]
                     ) -> None:
    """Each event's ``data``: the ids, and the message, conversation, contact or campaign as
    they stand (one query per kind of object for the whole batch)."""
    from invekto.campaigns.models import Campaign
    from invekto.contacts.models import Contact
    from invekto.inbox.models import Conversation, Message

    messages = await _rows(session, Message, tenant_id, {e.message_id for e in events})
    for event in events:
        message = messages.get(event.message_id)
        if message is not None:
            event.conversation_id = event.conversation_id or message.conversation_id
            event.contact_id = event.contact_id or message.contact_id
    conversations = await _rows(session, Conversation, tenant_id,
                                {e.conversation_id for e in events})
    contacts = await _rows(session, Contact, tenant_id, {e.contact_id for e in events})
    campaigns = await _rows(session, Campaign, tenant_id, {e.campaign_id for e in events})
    for event in events:
        data = event.data
        extra = {name: value for name, value in data.items()}
        data.clear()
        if (message := messages.get(event.message_id)) is not None:
            data["message"] = {
                "id": message.id, "conversation_id": message.conversation_id,
                "contact_id": message.contact_id, "channel_id": message.channel_id,
                "direction": message.direction, "sender_kind": message.sender_kind,
                "sender_user_id": message.sender_user_id,
                "content_kind": message.content_kind, "body": message.body,
                "attachment_id": message.attachment_id, "status": message.status,
                "error_code": message.error_code, "created_at": message.created_at,
                "status_changed_at": message.status_changed_at}
        if (conversation := conversations.get(event.conversation_id)) is not None:
            data["conversation"] = {
                "id": conversation.id, "contact_id": conversation.contact_id,
                "channel_id": conversation.channel_id, "status": conversation.status,
                "assignee_id": conversation.assignee_id, "group_id": conversation.group_id,
                "tags": list(conversation.tags), "priority": conversation.priority,
                "opened_at": conversation.opened_at, "closed_at": conversation.closed_at}
        if (contact := contacts.get(event.contact_id)) is not None:
            data["contact"] = {
                "id": contact.id, "name": contact.name, "phone": contact.phone,
                "email": contact.email, "language": contact.language,
                "tags": list(contact.tags), "custom_fields": contact.custom_fields}
        if (campaign := campaigns.get(event.campaign_id)) is not None:
            data["campaign"] = {
                "id": campaign.id, "name": campaign.name, "status": campaign.status,
                "channel_id": campaign.channel_id, "started_at": campaign.started_at,
                "finished_at": campaign.finished_at}
        if extra:
            data["details"] = extra


async def _rows(session: AsyncSession, model: Any, tenant_id: uuid.UUID,
                ids: set[uuid.UUID | None]) -> dict[uuid.UUID, Any]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {row.id: row for row in (await session.scalars(select(model).where(
        model.tenant_id == tenant_id, model.id == any_(wanted)))).all()}


async def _defer(session: AsyncSession, delivery: WebhookDelivery, *, manual: bool = False
                 ) -> None:
    from invekto.outgoing_webhooks import tasks  # the job calls back into this module

    # No queueing lock: a second job for the delivery (the sweep's, a redelivery beside a
    # scheduled retry) is harmless, it finds the row locked, not due or no longer pending.
    await jobs.defer(session, tasks.deliver, schedule_at=delivery.next_attempt_at,
                     tenant_id=str(delivery.tenant_id), delivery_id=str(delivery.id),
                     manual=manual)


# ---- delivering --------------------------------------------------------------------------------

def next_attempt_at(created_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """After the ``attempts``-th failed attempt (1 for the first) at ``now``: when to try
    again, or None when the event is older than ``GIVE_UP``. Waits of 5 s, 10 s, 20 s...
    doubling up to an hour; the last try is made at ``GIVE_UP`` after the event."""
    wait = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_WAIT)
    deadline = created_at + GIVE_UP
    if now >= deadline:
        return None
    return min(now + wait, deadline)


def schedule(created_at: datetime) -> list[timedelta]:
    """Every attempt's moment after the event, if every one fails (docs/api.md lists them)."""
    moments, now, attempts = [timedelta(0)], created_at, 1
    while (later := next_attempt_at(created_at, attempts, now)) is not None:
        moments.append(later - created_at)
        now, attempts = later, attempts + 1
    return moments


@dataclass(frozen=True)
class _Response:
    status_code: int | None
    error: str | None
    excerpt: str
    duration_ms: int


async def _post(url: str, body: str, headers: dict[str, str]) -> _Response:
    started = time.perf_counter()
    try:
        async with outbound.client(timeout=TIMEOUT_SECONDS) as client:
            response = await client.post(url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return _Response(None, f"{type(exc).__name__}: {exc}"[:300], "",
                         round((time.perf_counter() - started) * 1000))
    return _Response(response.status_code, None, response.text[:EXCERPT_CHARS],
                     round((time.perf_counter() - started) * 1000))


def headers_for(secret: str, delivery: WebhookDelivery, *, timestamp: int) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Invekto-Webhooks/1",
            SIGNATURE_HEADER: signature(secret, delivery.body, timestamp),
            EVENT_ID_HEADER: str(delivery.event_id),
            EVENT_TYPE_HEADER: delivery.event_type}


async def attempt(tenant_id: uuid.UUID, delivery_id: uuid.UUID, *, manual: bool = False,
                  now: datetime | None = None) -> str:
    """One attempt of one delivery (the job's work): "delivered", "retry" (the next is
    scheduled), "failed" (given up); or, sending nothing, "busy" (another worker has it),
    "early" (not due yet) or the state it is already in. ``now``: tests move the clock."""
    async with runtime.current().db.tenant_session(tenant_id) as session:
        delivery = await session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.id == delivery_id
        ).with_for_update(skip_locked=True))
        if delivery is None:
            exists = await session.scalar(select(WebhookDelivery.id).where(
                WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.id == delivery_id))
            return "busy" if exists else "gone"
        if delivery.state != "pending":
            return delivery.state  # delivered (never again unless redelivered) or failed
        now = now or _now()
        if delivery.next_attempt_at > now + timedelta(seconds=1):
            return "early"  # a stale job: the scheduled one will come
        subscription = await session.get_one(WebhookSubscription, delivery.subscription_id)
        if not subscription.enabled:
            delivery.state = "failed"
            return "failed"
        response = await _post(subscription.url, delivery.body, headers_for(
            secret_of(subscription), delivery, timestamp=int(time.time())))
        session.add(WebhookAttempt(
            tenant_id=tenant_id, delivery_id=delivery.id, attempted_at=now,
            duration_ms=response.duration_ms, status_code=response.status_code,
            error=response.error, response_excerpt=response.excerpt, manual=manual))
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = response.status_code
        if response.status_code is not None and 200 <= response.status_code < 300:
            delivery.state, delivery.delivered_at = "delivered", now
            subscription.failing_since = None
            outcome = "delivered"
        else:
            subscription.failing_since = subscription.failing_since or now
            later = next_attempt_at(delivery.created_at, delivery.attempts, now)
            if response.status_code == 410:
                later = None
                await _disable(session, subscription, N_("the endpoint answered 410 Gone"),
                               now)
            elif now - subscription.failing_since >= DISABLE_AFTER:
                later = None
                await _disable(session, subscription,
                               N_("every delivery failed for 24 hours"), now)
            if later is None:
                delivery.state = "failed"
                outcome = "failed"
            else:
                delivery.next_attempt_at = later
                await session.flush()
                await _defer(session, delivery)
                outcome = "retry"
        await session.flush()
    log.info("outgoing_webhooks.attempt", delivery_id=str(delivery_id), outcome=outcome,
             status_code=response.status_code)
    return outcome


async def _disable(session: AsyncSession, subscription: WebhookSubscription, reason: str,
                   now: datetime) -> None:
    """Switch a failing subscription off, and tell the company's admins (in-app)."""
    from invekto.inbox.models import Notification
    from invekto.users.roles import user_ids_with

    subscription.enabled = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason
    forget(subscription.tenant_id)
    system = Actor.system(subscription.tenant_id)
    await audit.record(session, system, "webhook_subscription.disabled",
                       target_type="webhook_subscription", target_id=subscription.id,
                       data={"url": subscription.url, "reason": reason})
    # Its other deliveries waiting for a retry stop here; one another worker is attempting
    # right now is skipped (waiting for it could deadlock on the subscription's row): its next
    # attempt finds the subscription off.
    waiting = select(WebhookDelivery.id).where(
        WebhookDelivery.tenant_id == subscription.tenant_id,
        WebhookDelivery.subscription_id == subscription.id,
        WebhookDelivery.state == "pending").with_for_update(skip_locked=True)
    await session.execute(update(WebhookDelivery).where(
        WebhookDelivery.id.in_(waiting.scalar_subquery())).values(state="failed"),
        execution_options={"synchronize_session": False})
    admins = await user_ids_with(session, subscription.tenant_id, Permission.MANAGE_SETTINGS)
    for user_id in admins:
        notification = Notification(id=new_id(), tenant_id=subscription.tenant_id,
                                    user_id=user_id, kind="webhook_disabled")
        session.add(notification)
        await session.flush()
        await realtime.publish(session, realtime.Event(
            tenant_id=subscription.tenant_id, type="notified", user_id=user_id, data={
                "notification_id": str(notification.id), "kind": "webhook_disabled",
                "subscription_id": str(subscription.id)}))
    log.warning("outgoing_webhooks.disabled", subscription_id=str(subscription.id),
                reason=reason)


# ---- housekeeping ------------------------------------------------------------------------------

# A job waiting or running for a delivery: such a delivery is late (the workers are behind),
# not lost, and deferring it again would only add to the queue.
_NO_JOB_FOR_DELIVERY = text(
    "NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.status IN ('todo', 'doing') "
    "AND j.task_name = 'outgoing_webhooks:deliver' "
    "AND j.args->>'delivery_id' = webhook_deliveries.id::text)")


async def stranded(session: AsyncSession, *, now: datetime | None = None, limit: int = 500,
                   tenant_id: uuid.UUID | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """System scope: (tenant, delivery) of pending deliveries overdue by minutes with no job
    waiting or running for them, whose job was lost (the database restored, a job deleted by
    hand): the sweep defers them again. ``tenant_id``: one company's only."""
    now = now or _now()
    query = select(WebhookDelivery.tenant_id, WebhookDelivery.id).where(
        WebhookDelivery.state == "pending",
        WebhookDelivery.next_attempt_at < now - timedelta(minutes=10), _NO_JOB_FOR_DELIVERY)
    if tenant_id is not None:
        query = query.where(WebhookDelivery.tenant_id == tenant_id)
    return [(t, d) for t, d in (await session.execute(query.order_by(
        WebhookDelivery.next_attempt_at).limit(limit))).all()]


async def defer_again(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID
                      ) -> None:
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is not None and delivery.tenant_id == tenant_id and delivery.state == "pending":
        await _defer(session, delivery)


async def prune(session: AsyncSession, *, now: datetime | None = None) -> int:
    """System scope: the delivery log older than ``KEEP_DELIVERIES``."""
    result = await session.execute(delete(WebhookDelivery).where(
        WebhookDelivery.created_at < (now or _now()) - KEEP_DELIVERIES,
        WebhookDelivery.state != "pending"))
    return result.rowcount

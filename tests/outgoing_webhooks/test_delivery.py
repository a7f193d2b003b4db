"""Outgoing webhooks end to end: subscriptions made through the API, events raised by the real
services, deliveries made by the job's own function to a receiver served over real HTTP, the
clock moved by passing ``now``."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from invekto.audit.models import AuditEvent
from invekto.contacts import service as contacts
from invekto.contacts.schemas import ContactCreate
from invekto.inbox import service as inbox
from invekto.inbox.models import Message, Notification
from invekto.outgoing_webhooks import service
from invekto.outgoing_webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.processes import serving

API = "/api/v1"
REPLAY_WINDOW = 300  # seconds a receiver accepts a timestamp for (docs/api.md)


class Receiver:
    """The company's endpoint: verifies the signature as docs/api.md tells integrators to,
    records what it got and answers with the next status given (then 200)."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.secret = ""
        self.received: list[dict] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request):
        body = await request.body()
        self.received.append({"headers": dict(request.headers), "body": body,
                              "verified": verify(self.secret, request.headers, body)})
        status = self.statuses.pop(0) if self.statuses else 200
        return PlainTextResponse(f"answered {status}", status_code=status)

    @property
    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received]


def verify(secret: str, headers, body: bytes, *, now: float | None = None) -> bool:
    """The receiver's check, as in docs/api.md: HMAC-SHA256 of "<t>.<body>", fresh timestamp."""
    try:
        parts = dict(part.split("=", 1) for part in headers["x-invekto-signature"].split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > REPLAY_WINDOW:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


async def subscribe(company, url: str, events: list[str], receiver: Receiver | None = None
                    ) -> dict:
    response = await company.ayla.client.post(f"{API}/webhook-subscriptions", json={
        "url": url, "events": events, "description": "CRM"})
    assert response.status_code == 201, response.text
    created = response.json()
    if receiver is not None:
        receiver.secret = created["secret"]
    return created


async def deliveries(company, subscription_id=None) -> list[WebhookDelivery]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        query = select(WebhookDelivery)
        if subscription_id is not None:
            query = query.where(WebhookDelivery.subscription_id == uuid.UUID(
                str(subscription_id)))
        return list((await session.scalars(query.order_by(WebhookDelivery.created_at,
                                                          WebhookDelivery.id))).all())


async def attempts(company, delivery_id) -> list[WebhookAttempt]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == delivery_id).order_by(
            WebhookAttempt.attempted_at, WebhookAttempt.id))).all())


async def jobs_for(company, delivery_id) -> list[dict]:
    async with company.rt.db.transaction() as session:
        return [dict(row) for row in (await session.execute(text(
            "SELECT status, scheduled_at, args FROM procrastinate_jobs "
            "WHERE task_name = 'outgoing_webhooks:deliver' AND args->>'delivery_id' = :id "
            "ORDER BY id"), {"id": str(delivery_id)})).mappings()]


async def run_due(company, delivery: WebhookDelivery, **kwargs) -> str:
    """The job's attempt, at the moment the delivery is due."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        due = await session.scalar(select(WebhookDelivery.next_attempt_at).where(
            WebhookDelivery.id == delivery.id))
    return await service.attempt(company.tenant_id, delivery.id, now=due, **kwargs)


async def new_contact(company, name: str = "Ayşe Yılmaz", phone: str = "+905321234567"
                      ) -> uuid.UUID:
    response = await company.ayla.client.post(f"{API}/contacts", json={
        "name": name, "phone": phone, "email": "ayse@example.com"})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def test_a_delivery_that_fails_twice_then_succeeds_is_one_delivery_of_three_attempts(
        world):
    home = world.home
    receiver = Receiver([500, 500, 200])
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["contact.created"], receiver)
        contact_id = await new_contact(home)
        (delivery,) = await deliveries(home, sub["id"])
        assert receiver.received == []  # not from inside the cause's transaction
        (job,) = await jobs_for(home, delivery.id)
        assert job["status"] == "todo"
        assert await run_due(home, delivery) == "retry"
        assert await run_due(home, delivery) == "retry"
        assert await run_due(home, delivery) == "delivered"
        # Delivered: a job run again (a double run, a crashed worker's retry) sends nothing.
        assert await service.attempt(home.tenant_id, delivery.id) == "delivered"
    assert len(receiver.received) == 3
    (done,) = await deliveries(home, sub["id"])
    assert (done.state, done.attempts, done.last_status_code) == ("delivered", 3, 200)
    logged = await attempts(home, delivery.id)
    assert [a.status_code for a in logged] == [500, 500, 200]
    assert logged[0].response_excerpt == "answered 500"
    assert all(a.duration_ms >= 0 for a in logged)
    # Each failure scheduled the next try as a job of its own, later by the backoff.
    assert len(await jobs_for(home, delivery.id)) == 3
    # The same event each time: one id, one body; every attempt signed and verifiable.
    bodies = {r["body"] for r in receiver.received}
    assert len(bodies) == 1
    assert all(r["verified"] for r in receiver.received)
    assert {r["headers"]["x-invekto-event-id"] for r in receiver.received} == {
        str(delivery.event_id)}
    event = receiver.events[0]
    assert event["id"] == str(delivery.event_id)
    assert event["type"] == "contact.created"
    assert event["api_version"] == service.API_VERSION
    assert event["data"]["contact"]["id"] == str(contact_id)
    assert event["data"]["contact"]["phone"] == "+905321234567"  # the company's own endpoint
    assert event["data"]["contact"]["name"] == "Ayşe Yılmaz"


def test_the_receivers_check_refuses_a_wrong_secret_a_changed_body_and_an_old_timestamp():
    body = b'{"id":"1"}'
    now = int(time.time())
    from invekto.automation.tasks import signature

    headers = {"x-invekto-signature": signature("whsec_a", body.decode(), now)}
    assert verify("whsec_a", headers, body)
    assert not verify("whsec_b", headers, body)
    assert not verify("whsec_a", headers, b'{"id":"2"}')
    # A recorded request replayed later: its timestamp is too old.
    assert not verify("whsec_a", headers, body, now=now + REPLAY_WINDOW + 1)
    old = {"x-invekto-signature": signature("whsec_a", body.decode(), now - 3600)}
    assert not verify("whsec_a", old, body)


def test_the_backoff_starts_at_seconds_caps_at_an_hour_and_ends_at_24_hours():
    moments = service.schedule(service._now())
    waits = [b - a for a, b in itertools.pairwise(moments)]
    assert moments[:5] == [timedelta(0), timedelta(seconds=5), timedelta(seconds=15),
                           timedelta(seconds=35), timedelta(seconds=75)]
    assert max(waits) == timedelta(hours=1)
    assert all(a <= b for a, b in itertools.pairwise(waits[:-1]))  # the last: cut short
    assert moments[-1] == timedelta(hours=24)  # the last try
    created = service._now()
    assert service.next_attempt_at(created, 40, created + timedelta(hours=24)) is None


async def test_a_delivery_failing_for_24_hours_is_given_up_and_the_subscription_disabled(
        world):
    home = world.home
    receiver = Receiver([503] * 5)
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["contact.created"], receiver)
        await new_contact(home)
        await new_contact(home, "İkinci Müşteri", "+905331112233")
        delivery, waiting = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "retry"
        # Its last try, a day after the event, fails too.
        late = delivery.created_at + timedelta(hours=24, minutes=1)
        assert await service.attempt(home.tenant_id, delivery.id, now=late) == "failed"
    given_up, stopped = await deliveries(home, sub["id"])
    assert (given_up.state, given_up.attempts) == ("failed", 2)
    # The subscription's other delivery waiting for its turn stopped with it, never sent.
    assert (stopped.id, stopped.state, stopped.attempts) == (waiting.id, "failed", 0)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        subscription = await session.get_one(WebhookSubscription, uuid.UUID(sub["id"]))
        assert not subscription.enabled
        assert subscription.disabled_reason == "every delivery failed for 24 hours"
        notified = set((await session.scalars(select(Notification.user_id).where(
            Notification.kind == "webhook_disabled"))).all())
        audited = (await session.scalars(select(AuditEvent.action).where(
            AuditEvent.target_id == subscription.id))).all()
    # Every admin (Ayla), nobody else (not Bora the agent).
    assert notified == {home.ayla.user_id}
    assert "webhook_subscription.disabled" in audited
    # Disabled: nothing more is published to it.
    await new_contact(home, "Başka Müşteri", "+905329876543")
    assert len(await deliveries(home, sub["id"])) == 2
    # Ayla sees why in the API.
    shown = (await home.ayla.client.get(f"{API}/webhook-subscriptions/{sub['id']}")).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (
        False, "every delivery failed for 24 hours")


async def test_410_gone_disables_the_subscription_at_once(world):
    home = world.home
    receiver = Receiver([410])
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["*"], receiver)
        await new_contact(home)
        (delivery,) = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "failed"
    shown = (await home.ayla.client.get(f"{API}/webhook-subscriptions/{sub['id']}")).json()
    assert shown["enabled"] is False


async def test_redeliver_sends_the_same_event_again_as_a_new_attempt(world):
    home = world.home
    receiver = Receiver([200, 200])
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["contact.created"], receiver)
        await new_contact(home)
        (delivery,) = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "delivered"
        response = await home.ayla.client.post(
            f"{API}/webhook-deliveries/{delivery.id}/redeliver")
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "pending"
        assert await run_due(home, delivery, manual=True) == "delivered"
    (again,) = await deliveries(home, sub["id"])
    assert again.attempts == 2
    assert [a.manual for a in await attempts(home, delivery.id)] == [False, True]
    first, second = receiver.events
    assert first == second  # the same id, type and data
    page = (await home.ayla.client.get(
        f"{API}/webhook-subscriptions/{sub['id']}/deliveries")).json()
    (listed,) = page["items"]
    assert [a["status_code"] for a in listed["attempt_log"]] == [200, 200]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "webhook_delivery.redelivered",
            AuditEvent.target_id == delivery.id)) is not None


async def test_two_runs_of_one_delivery_at_once_send_it_once(world):
    home = world.home
    receiver = Receiver([200])
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["contact.created"], receiver)
        await new_contact(home)
        (delivery,) = await deliveries(home, sub["id"])
        # Another worker holds the row (mid-attempt): this run sends nothing.
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await session.execute(select(WebhookDelivery).where(
                WebhookDelivery.id == delivery.id).with_for_update())
            assert await service.attempt(home.tenant_id, delivery.id) == "busy"
        assert await run_due(home, delivery) == "delivered"
        assert await run_due(home, delivery) == "delivered"
    assert len(receiver.received) == 1


async def test_nothing_is_published_when_the_cause_rolls_back(world):
    home = world.home
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["contact.created"], receiver)
        with pytest.raises(RuntimeError):
            async with home.rt.db.tenant_session(home.tenant_id) as session:
                await contacts.create_contact(session, home.system, ContactCreate(
                    name="Geri Alınan"))
                assert len([d for d in await _in(session, sub["id"])]) == 1
                raise RuntimeError("the cause fails after publishing")
    assert await deliveries(home, sub["id"]) == []
    async with home.rt.db.transaction() as session:
        assert await session.scalar(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
            "'outgoing_webhooks:deliver' AND args->>'tenant_id' = :t"),
            {"t": str(home.tenant_id)}) == 0


async def _in(session, subscription_id) -> list[WebhookDelivery]:
    return list((await session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == uuid.UUID(subscription_id)))).all())


async def test_messages_in_and_out_and_their_status_and_conversation_events_are_published(
        world):
    home = world.home
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", [
            "message.created", "message.updated", "conversation.opened",
            "conversation.closed"], receiver)
        inbound = await home.inbound("Randevu almak istiyorum", name="Can")
        reply = await home.ayla.client.post(
            f"{API}/conversations/{inbound.conversation_id}/messages",
            json={"body": "Tabii, hangi gün?", "client_message_id": uuid.uuid4().hex})
        assert reply.status_code in (200, 201), reply.text
        assert reply.json()["status"] == "pending"
        # The provider reports it delivered.
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await session.execute(update(Message).where(
                Message.id == uuid.UUID(reply.json()["id"])).values(
                provider_message_id="wamid.1", status="sent"))
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await inbox.apply_provider_status(session, home.tenant_id,
                                              channel_id=home.channel_id,
                                              provider_message_id="wamid.1", status="delivered")
        closed = await home.ayla.client.post(
            f"{API}/conversations/{inbound.conversation_id}/close")
        assert closed.status_code == 200, closed.text
        for delivery in await deliveries(home, sub["id"]):
            await run_due(home, delivery)
    types = [e["type"] for e in receiver.events]
    # Deliveries are independent (no order is promised): what was sent, not in which order.
    assert sorted(types) == ["conversation.closed", "conversation.opened", "message.created",
                             "message.created", "message.updated"]
    created = [e["data"]["message"] for e in receiver.events if e["type"] == "message.created"]
    assert [(m["direction"], m["body"]) for m in created] == [
        ("inbound", "Randevu almak istiyorum"), ("outbound", "Tabii, hangi gün?")]
    assert all(e["data"]["contact"]["name"] == "Can" for e in receiver.events)
    (updated,) = [e["data"] for e in receiver.events if e["type"] == "message.updated"]
    assert updated["message"]["id"] == reply.json()["id"]
    assert (updated["details"]["status"], updated["message"]["status"]) == (
        "delivered", "delivered")


async def test_order_and_payment_automation_events_are_published_as_webhooks(world):
    from invekto.automation import service as automation
    from invekto.automation.events import Event
    from invekto.integrations import events as commerce

    home = world.home
    contact_id = await new_contact(home)
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["order.created"], receiver)
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await automation.emit(session, [
                Event(commerce.ORDER_CREATED, home.tenant_id, contact_id=contact_id,
                      data={"source": "shopify", "order_number": "#1001"}),
                Event(commerce.ORDER_SHIPPED, home.tenant_id, contact_id=contact_id,
                      data={"source": "shopify"})])
        (delivery,) = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "delivered"
    (event,) = receiver.events
    assert event["type"] == "order.created"
    assert event["data"]["details"] == {"source": "shopify", "order_number": "#1001"}
    assert event["data"]["contact"]["id"] == str(contact_id)
    types = {t["type"] for t in (await home.ayla.client.get(
        f"{API}/webhook-subscriptions/event-types")).json()}
    assert {"order.created", "order.shipped", "payment.received", "message.created",
            "contact.updated", "campaign.finished"} <= types
    assert "message.received" not in types and "scheduled" not in types


async def test_the_test_event_goes_to_that_subscription_only(world):
    home = world.home
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["campaign.finished"], receiver)
        other = await subscribe(home, f"{base_url}/hook", ["*"])
        response = await home.ayla.client.post(f"{API}/webhook-subscriptions/{sub['id']}/test")
        assert response.status_code == 202, response.text
        (delivery,) = await deliveries(home, sub["id"])
        assert delivery.event_type == "webhook.test"
        assert await deliveries(home, other["id"]) == []
        assert await run_due(home, delivery) == "delivered"
    assert receiver.received[0]["verified"]


async def test_another_companys_events_never_reach_a_subscription(world):
    home, charlie = world.home, world.charlie
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["*"], receiver)
        async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
            await contacts.create_contact(session, charlie.system, ContactCreate(name="Charlie"))
        await charlie.inbound("Hello")
    assert await deliveries(home, sub["id"]) == []
    # Nor may Charlie's admin see or touch Ayla's subscription and its log.
    charlie_admin = charlie.ayla.client
    assert (await charlie_admin.get(f"{API}/webhook-subscriptions/{sub['id']}")
            ).status_code == 404
    assert (await charlie_admin.get(f"{API}/webhook-subscriptions")).json() == []
    assert (await charlie_admin.delete(f"{API}/webhook-subscriptions/{sub['id']}")
            ).status_code == 404


async def test_a_finished_campaign_is_published(world):
    from invekto.campaigns import service as campaigns
    from invekto.campaigns.schemas import CampaignIn, Segment
    from invekto.channels import service as channels
    from invekto.channels.schemas import ChannelCreate

    home = world.home
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["campaign.finished"], receiver)
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            channel = await channels.create_channel(session, home.system, ChannelCreate(
                kind="telegram", name="Telegram", credentials={"bot_token": "1:x"}))
            campaign = await campaigns.create(session, home.system, CampaignIn(
                name="Kasım indirimi", channel_id=channel.id, content_kind="text",
                body="İndirim!", segment=Segment()))
        response = await home.ayla.client.post(f"{API}/campaigns/{campaign.id}/cancel")
        assert response.status_code == 200, response.text
        (delivery,) = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "delivered"
    (event,) = receiver.events
    assert event["type"] == "campaign.finished"
    assert (event["data"]["campaign"]["id"], event["data"]["campaign"]["status"],
            event["data"]["campaign"]["name"]) == (str(campaign.id), "cancelled",
                                                   "Kasım indirimi")


async def test_subscriptions_through_the_api_rotate_their_secret_and_are_audited(world):
    home = world.home
    admin = home.ayla.client
    unknown = await admin.post(f"{API}/webhook-subscriptions", json={
        "url": "https://hooks.example.com/a", "events": ["order.teleported"]})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "events")
    not_a_url = await admin.post(f"{API}/webhook-subscriptions", json={
        "url": "hooks.example.com", "events": ["*"]})
    assert (not_a_url.status_code, not_a_url.json()["error"]["field"]) == (422, "url")
    receiver = Receiver()
    async with serving(receiver.app) as base_url:
        sub = await subscribe(home, f"{base_url}/hook", ["*"])
        listed = (await admin.get(f"{API}/webhook-subscriptions")).json()
        assert [s["id"] for s in listed] == [sub["id"]]
        assert "secret" not in listed[0]  # shown at creation only
        rotated = (await admin.post(
            f"{API}/webhook-subscriptions/{sub['id']}/rotate-secret")).json()
        assert rotated["secret"] != sub["secret"]
        receiver.secret = sub["secret"]  # the endpoint still has the old one
        await admin.post(f"{API}/webhook-subscriptions/{sub['id']}/test")
        (delivery,) = await deliveries(home, sub["id"])
        assert await run_due(home, delivery) == "delivered"
        assert receiver.received[0]["verified"] is False  # signed with the new secret
        receiver.secret = rotated["secret"]
        assert verify(receiver.secret, receiver.received[0]["headers"],
                      receiver.received[0]["body"])
        changed = await admin.patch(f"{API}/webhook-subscriptions/{sub['id']}",
                                    json={"description": "ERP", "enabled": False})
        assert (changed.json()["description"], changed.json()["enabled"]) == ("ERP", False)
        gone = await admin.delete(f"{API}/webhook-subscriptions/{sub['id']}")
        assert gone.status_code == 204
    assert await deliveries(home, sub["id"]) == []  # its log went with it
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        audited = (await session.scalars(select(AuditEvent).where(
            AuditEvent.target_id == uuid.UUID(sub["id"])).order_by(
            AuditEvent.occurred_at, AuditEvent.id))).all()
    assert [e.action for e in audited] == [
        "webhook_subscription.created", "webhook_subscription.secret_rotated",
        "webhook_subscription.updated", "webhook_subscription.deleted"]
    assert not any(sub["secret"] in json.dumps(e.data) for e in audited)
    assert audited[2].after == {"description": "ERP", "enabled": False}


async def test_the_sweep_defers_a_delivery_whose_job_was_lost(world):
    home = world.home
    sub = await subscribe(home, "https://hooks.example.com/a", ["contact.created"])
    await new_contact(home)
    (delivery,) = await deliveries(home, sub["id"])
    async with home.rt.db.transaction() as session:
        await session.execute(text(
            "DELETE FROM procrastinate_jobs WHERE args->>'delivery_id' = :id"),
            {"id": str(delivery.id)})
    later = delivery.created_at + timedelta(minutes=11)
    async with home.rt.db.system_session() as session:
        assert await service.stranded(session, now=later - timedelta(minutes=2),
                                      tenant_id=home.tenant_id) == []  # not late enough
        stranded = await service.stranded(session, now=later, tenant_id=home.tenant_id)
    assert stranded == [(home.tenant_id, delivery.id)]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await service.defer_again(session, home.tenant_id, delivery.id)
    assert len(await jobs_for(home, delivery.id)) == 1

"""Settings → Webhooks and Settings → API keys, as the pages post their forms (HTMX, the
session's CSRF header): create (the secret shown once), switch off, events, the delivery log
with its status codes, Redeliver, Send test; scopes and limits of API keys; readable refusals."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from invekto.auth.models import ApiKey
from invekto.outgoing_webhooks import service
from invekto.outgoing_webhooks.models import WebhookDelivery, WebhookSubscription
from tests.outgoing_webhooks.test_delivery import Receiver, run_due
from tests.processes import serving
from tests.web.test_settings_pages import ESCAPED, XSS, page, post


async def _subscriptions(company) -> list[WebhookSubscription]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(WebhookSubscription).order_by(
            WebhookSubscription.created_at))).all())


async def test_an_admin_adds_a_subscription_sees_its_secret_once_and_its_delivery_log(world):
    home = world.home
    receiver = Receiver([500, 200])
    html = await page(home.ayla, "/settings/webhooks")
    assert 'id="webhook-new-form"' in html
    assert 'value="order.created"' in html and 'value="message.created"' in html
    async with serving(receiver.app) as base_url:
        response = await post(home.ayla, "/settings/webhooks", {
            "url": f"{base_url}/hook", "description": f"CRM {XSS}",
            "events": ["contact.created", "message.created"], "enabled": "on"})
        (subscription,) = await _subscriptions(home)
        secret = service.secret_of(subscription)
        assert f'value="{secret}"' in response.text  # shown this once
        assert ESCAPED in response.text and XSS not in response.text
        assert subscription.events == ["contact.created", "message.created"]
        # Never again: not on the page drawn later.
        assert secret not in await page(home.ayla, "/settings/webhooks")
        receiver.secret = secret

        response = await post(home.ayla, f"/settings/webhooks/{subscription.id}/test")
        assert 'id="webhook-test-sent"' in response.text
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
        assert await run_due(home, delivery) == "retry"
        assert await run_due(home, delivery) == "delivered"
    assert all(r["verified"] for r in receiver.received)

    html = await page(home.ayla, f"/settings/webhooks?s={subscription.id}")
    assert f'id="delivery-{delivery.id}" data-state="delivered"' in html
    assert 'data-status-code="500"' in html and 'data-status-code="200"' in html
    assert "HTTP 500" in html and "HTTP 200" in html

    response = await post(home.ayla, f"/settings/webhook-deliveries/{delivery.id}/redeliver")
    assert 'id="webhook-redelivered"' in response.text
    assert f'id="delivery-{delivery.id}" data-state="pending"' in response.text


async def test_switching_off_and_choosing_events_from_the_page(world):
    home = world.home
    await post(home.ayla, "/settings/webhooks", {
        "url": "https://hooks.example.com/a", "events": ["*"], "enabled": "on"})
    (subscription,) = await _subscriptions(home)
    response = await post(home.ayla, f"/settings/webhooks/{subscription.id}", {
        "url": "https://hooks.example.com/b", "description": "Muhasebe",
        "events": ["campaign.finished", "payment.received"]})  # "enabled" unticked
    assert 'id="webhook-saved"' in response.text
    (changed,) = await _subscriptions(home)
    assert (changed.url, changed.enabled, changed.events) == (
        "https://hooks.example.com/b", False, ["campaign.finished", "payment.received"])
    assert f'id="webhook-{subscription.id}" data-enabled="false"' in response.text


async def test_bad_input_is_shown_beside_its_field(world):
    home = world.home
    response = await post(home.ayla, "/settings/webhooks", {
        "url": "ftp://hooks.example.com", "events": ["contact.created"]}, expect=422)
    assert 'id="webhook-new-errors"' in response.text
    assert 'data-error-for="url"' in response.text
    assert "https://" in response.text
    response = await post(home.ayla, "/settings/webhooks", {
        "url": "https://hooks.example.com/a"}, expect=422)
    assert 'data-error-for="events"' in response.text
    assert await _subscriptions(home) == []


async def test_only_settings_managers_open_the_webhooks_page(world):
    assert (await world.home.sevgi.client.get("/settings/webhooks")).status_code == 403
    assert (await world.home.bora.client.get("/settings/webhooks")).status_code == 403


async def test_an_admin_makes_a_scoped_key_with_its_own_limit_from_the_page(world):
    home = world.home
    html = await page(home.ayla, "/settings/api-keys")
    assert 'value="contacts.manage"' in html and 'id="api-key-new-form"' in html
    response = await post(home.ayla, "/settings/api-keys", {
        "name": "Muhasebe programı", "role": "supervisor",
        "scopes": ["reports.see", "contacts.manage"], "rate_limit_per_minute": "120"})
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.name == "Muhasebe programı"))
    assert (key.role, key.scopes, key.rate_limit_per_minute) == (
        "supervisor", ["contacts.manage", "reports.see"], 120)
    assert 'id="api-key-value"' in response.text
    shown = response.text.split('id="api-key-value" value="', 1)[1].split('"', 1)[0]
    async with home.api_client(shown) as api:
        answer = await api.get("/api/v1/reports/overview")
        assert answer.headers["x-ratelimit-limit"] == "120"
    # Scopes beyond the role are refused with a readable message beside them.
    response = await post(home.ayla, "/settings/api-keys", {
        "name": "Fazla", "role": "agent", "scopes": ["settings.manage"],
        "rate_limit_per_minute": "60"}, expect=422)
    assert 'data-error-for="scopes"' in response.text
    response = await post(home.ayla, "/settings/api-keys", {
        "name": "Fazla", "role": "agent", "rate_limit_per_minute": "çok"}, expect=422)
    assert 'data-error-for="rate_limit_per_minute"' in response.text
    # Narrowed later, then revoked.
    response = await post(home.ayla, f"/settings/api-keys/{key.id}", {
        "scopes": ["reports.see"], "rate_limit_per_minute": "30"})
    assert 'id="api-key-saved"' in response.text
    response = await post(home.ayla, f"/settings/api-keys/{key.id}/revoke")
    assert f'id="api-key-{key.id}" data-revoked="true"' in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        key = await session.get_one(ApiKey, uuid.UUID(str(key.id)))
    assert (key.scopes, key.rate_limit_per_minute, key.revoked_at is not None) == (
        ["reports.see"], 30, True)

"""Settings → Webhooks in a real browser: an address refused beside its field, a subscription
added (its secret shown once), a test event sent and delivered to a real receiver, the delivery
log with its status codes, and Redeliver. The live server's own worker makes the deliveries."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect
from sqlalchemy import select

from invekto.outgoing_webhooks.models import WebhookDelivery
from tests.outgoing_webhooks.test_delivery import Receiver
from tests.processes import serving


async def test_an_admin_subscribes_sends_a_test_event_and_reads_the_log(world, open_browser,
                                                                        artifacts):
    home = world.home
    receiver = Receiver([503, 200])
    async with serving(receiver.app) as url:
        page = (await open_browser(home, "ayla", path="/settings/webhooks")).page
        form = page.locator("#webhook-new-form")
        await form.locator("#webhook-new-url").fill("ftp://example.com/hook")
        await form.locator("#webhook-new-event-contact-created").check()
        await form.locator("#webhook-create").click()
        await expect(page.locator('[data-error-for="url"]')).to_be_visible()
        await expect(page.locator("#webhook-new-url")).to_have_value("ftp://example.com/hook")

        await page.locator("#webhook-new-url").fill(f"{url}/hook")
        await page.locator("#webhook-new-description").fill("CRM")
        await page.locator("#webhook-create").click()
        secret_box = page.locator("#webhook-secret")
        await expect(secret_box).to_be_visible()
        receiver.secret = await secret_box.input_value()
        assert receiver.secret.startswith("whsec_")
        card = page.locator(".webhook-card").first
        await expect(card).to_have_attribute("data-enabled", "true")

        await card.locator("[id^=webhook-test-]").click()
        await expect(page.locator("#webhook-test-sent")).to_be_visible()
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
        # The live server's worker delivers it: 503, then the retry 5 s later gets 200.
        for _ in range(120):
            async with home.rt.db.tenant_session(home.tenant_id) as session:
                state = await session.scalar(select(WebhookDelivery.state).where(
                    WebhookDelivery.id == delivery.id))
            if state != "pending":
                break
            await asyncio.sleep(0.5)
        assert state == "delivered"
        assert [r["verified"] for r in receiver.received] == [True, True]

        await page.reload()
        row = page.locator(f"#delivery-{delivery.id}")
        await expect(row).to_have_attribute("data-state", "delivered")
        await expect(row.locator('[data-status-code="503"]')).to_be_visible()
        await expect(row.locator('[data-status-code="200"]')).to_be_visible()
        assert receiver.secret not in await page.content()  # shown once only
        await page.screenshot(path=str(artifacts / "settings-webhooks.png"), full_page=True)

        await row.locator(f"#redeliver-{delivery.id}").click()
        await expect(page.locator("#webhook-redelivered")).to_be_visible()
        await expect(page.locator(f"#delivery-{delivery.id}")).to_have_attribute(
            "data-state", "pending")

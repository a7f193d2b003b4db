"""Integrations in a real browser, with Trendyol's simulator as the marketplace: an admin
connects the seller account in Settings → Integrations and tests it; an agent looks an order
up from the composer by the number the customer gave, puts its sentence in the reply with one
click and sends it, so the order's status and cargo link reach the thread."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import select

from invekto.inbox.models import Message
from invekto.integrations import service as integrations
from invekto.integrations.trendyol.simulator import (
    API_KEY,
    API_SECRET,
    SELLER_ID,
    TrendyolSimulator,
)
from tests.processes import serving

ORDER = "10345678901"


async def test_an_admin_connects_trendyol_and_tests_it(world, open_browser):
    async with serving(TrendyolSimulator()) as url:
        page = (await open_browser(world.home, "ayla", path="/settings/integrations")).page
        card = page.locator("#integration-trendyol")
        await expect(card).to_have_attribute("data-connected", "false")
        await card.locator("[name=seller_id]").fill(SELLER_ID)
        await card.locator("[name=api_key]").fill(API_KEY)
        await card.locator("[name=base_url]").fill(url)
        await card.locator("#integration-save-trendyol").click()
        # The secret was left empty: refused, beside its field, what was typed kept.
        await expect(page.locator("#integration-errors")).to_be_visible()
        await expect(card.locator("[name=api_secret]")).to_have_class(
            "form-control is-invalid")
        await expect(card.locator("[name=seller_id]")).to_have_value(SELLER_ID)
        await card.locator("[name=api_key]").fill(API_KEY)
        await card.locator("[name=api_secret]").fill(API_SECRET)
        await card.locator("#integration-save-trendyol").click()
        await expect(page.locator("#integration-saved")).to_be_visible()
        await expect(card).to_have_attribute("data-connected", "true")
        await expect(card.locator("[name=api_secret]")).to_have_value("")  # never shown again
        await card.locator("#integration-test-trendyol").click()
        await expect(page.locator("#integration-test-result")).to_have_attribute("data-ok",
                                                                                 "true")
        await expect(card).to_have_attribute("data-status", "ok")


async def test_an_agent_puts_an_orders_status_in_the_reply_and_sends_it(world, open_browser):
    home = world.home
    simulator = TrendyolSimulator()
    simulator.add_package(ORDER, "Shipped", cargo_provider="Yurtiçi Kargo Marketplace",
                          tracking_number=7330001234567, lines=[("Kaban", 1, "1249.90")])
    async with serving(simulator) as url:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await integrations.save_integration(session, home.system, "trendyol", {
                "seller_id": SELLER_ID, "api_key": API_KEY, "api_secret": API_SECRET,
                "base_url": url})
        asked = await home.inbound(f"Kargom nerede? Sipariş no {ORDER}", handle="ayse",
                                   name="Ayşe Yılmaz")
        page = (await open_browser(home, "ayla", path=f"/inbox?c={asked.conversation_id}")).page
        await page.locator("#order-lookup-button").click()
        number = page.locator("#order-lookup-number")
        await number.fill(ORDER)
        await number.press("Enter")  # looks up; never sends the composer
        card = page.locator(f"#order-lookup-results [data-order='{ORDER}']")
        await expect(card).to_have_attribute("data-state", "shipped")
        await expect(card.locator(".tracking-link")).to_have_text("7330001234567")
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            assert not (await session.scalars(select(Message).where(
                Message.conversation_id == asked.conversation_id,
                Message.direction == "outbound"))).all()
        await card.locator("[data-insert-reply]").click()
        composer = page.locator("#composer-input")
        await expect(composer).to_have_value(re.compile(f"^Sipariş {ORDER}: Kargoya verildi"))
        text = await composer.input_value()
        assert text.startswith(f"Sipariş {ORDER}: Kargoya verildi\nToplam: 1.249,90 TL")
        assert "7330001234567" in text
        await composer.press("Enter")
        sent = page.locator(".msg-outbound[id^=message-]").last
        await expect(sent.locator(".msg-body")).to_contain_text("Kargoya verildi")
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            [stored] = (await session.scalars(select(Message).where(
                Message.conversation_id == asked.conversation_id,
                Message.direction == "outbound"))).all()
        assert stored.body == text

"""A payment link from the composer, in a real browser: the form under the composer makes it
and sends it into the chat, a refusal is shown beside the form, and PayTR's notification to our
server makes the payment line appear in the open thread."""

from __future__ import annotations

from playwright.async_api import expect

from invekto.integrations import service
from invekto.integrations.paytr import simulator as paytr_sim
from tests.processes import serving


async def test_an_agent_sends_a_payment_link_and_sees_it_paid(world, open_browser,
                                                              live_server):
    home = world.home
    simulator = paytr_sim.create_simulator()
    async with serving(simulator) as sim_url:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            row = await service.save_integration(session, home.system, "paytr", {
                "merchant_id": paytr_sim.MERCHANT_ID, "merchant_key": paytr_sim.MERCHANT_KEY,
                "merchant_salt": paytr_sim.MERCHANT_SALT, "test_mode": "1",
                "base_url": sim_url})
        inbound = await home.inbound("Kapora için ödeme linki alabilir miyim?",
                                     handle="kapora", name="Ayşe Yılmaz")
        bora = await open_browser(home, "bora",
                                  path=f"/inbox?tab=unassigned&c={inbound.conversation_id}")
        page = bora.page
        await page.click("#payment-link-button")
        await page.fill("#payment-link-amount", "abc")
        await page.fill("#payment-link-description", "Kapora")
        await page.click("#payment-link-submit")
        await expect(page.locator("#payment-link-error")).to_be_visible()
        await expect(page.locator("#payment-link-amount")).to_have_value("abc")

        await page.fill("#payment-link-amount", "150")
        await page.click("#payment-link-submit")
        item = page.locator("#payment-link-list .payment-link-item")
        await expect(item).to_have_count(1)
        await expect(item).to_have_attribute("data-status", "sent")
        await expect(page.locator("#thread")).to_contain_text("/odeme/guvenli/")
        await expect(page.locator("#thread")).to_contain_text("150,00 TL")

        (reference,) = simulator.state.orders
        answered = await simulator.pay(reference, url=service.webhook_url(
            live_server, row, "callback"))
        assert answered.acknowledged
        await expect(page.locator('#thread .item.event[data-kind="payment"]')).to_contain_text(
            "150,00 TL (PayTR)")

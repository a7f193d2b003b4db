"""Consent in a real browser: a supervisor records a customer's consent on the contact card, the
worker sends it to İYS (the İYS simulator), the card's "Check at İYS" shows İYS's approval and
the history says it was sent; the settings page shows the synchronisation."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import expect

from invekto.consent.simulator import create_simulator
from tests.consent.support import enable_iys
from tests.processes import serving

PHONE = "+905321112233"


async def test_a_consent_recorded_on_the_card_reaches_iys(world, open_browser, artifacts):
    home = world.home
    simulator = create_simulator()
    async with serving(simulator) as url:
        await enable_iys(home, url)
        first = await home.inbound("Kampanyalarınızdan haberdar olmak istiyorum",
                                   handle="kart-izin", phone=PHONE, name="Ayşe Yılmaz")
        page = (await open_browser(home, "sevgi", path="/inbox?tab=unassigned")).page
        await page.locator(f"#row-{first.conversation_id} .conv-link").click()
        message = page.locator('#contact-consents [data-consent-type="message"]')
        await expect(message).to_have_attribute("data-granted", "none")

        await page.locator("#consent-record summary").click()
        await page.locator("#consent-granted").select_option("true")
        await page.locator("#consent-how").select_option("HS_MESAJ")
        await page.locator('#consent-form input[name="note"]').fill("Sohbette onay verdi")
        await page.locator("#consent-save").click()
        await expect(message).to_have_attribute("data-granted", "true")
        await expect(page.locator("#consent-saved")).to_be_visible()

        deadline = time.monotonic() + 30
        while simulator.current(PHONE) is None:  # the worker's push job
            assert time.monotonic() < deadline, "the change never reached İYS"
            await asyncio.sleep(0.2)
        assert simulator.current(PHONE)["source"] == "HS_MESAJ"
        await page.locator('[data-iys-check="message"]').click()
        await expect(page.locator("#consent-iys-checked")).to_contain_text("ONAY")
        await expect(message.locator('[data-iys-status="ONAY"]')).to_be_visible()
        await page.locator("#consent-history summary").click()
        await expect(page.locator('#consent-history [data-push-state="sent"]')).to_be_visible()
        await expect(page.locator("#consent-history")).to_contain_text("Sohbette onay verdi")
        await page.locator("#contact-consents").screenshot(
            path=str(artifacts / "contact-consent.png"))

        settings = (await open_browser(home, "ayla", path="/settings/iys")).page
        await expect(settings.locator('#iys-counts [data-state="sent"]')).to_contain_text("1")
        await settings.screenshot(path=str(artifacts / "settings-iys.png"), full_page=True)

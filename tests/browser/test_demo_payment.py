"""The demo's payment links in the browser, against `invekto serve` in demo mode and a worker: an
agent sends a payment link from the composer, the customer opens it on the demo's iyzico (the
simulator in the web process) and presses Pay, and the open conversation shows the payment."""

from __future__ import annotations

import secrets

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import log_in
from tests.demo_company import TESTER, demo_company
from tests.processes import invekto_processes


@pytest.fixture(scope="module")
async def demo_server(pg_server, settings):
    """`invekto serve` in demo mode and a worker on the demo company's own database (the
    private-address allowance `invekto run` gives them comes from the test environment)."""
    company = await demo_company(pg_server, settings)
    with invekto_processes(company.database_url, servers=1, workers=1,
                           env={"INVEKTO_DEMO": "true"}) as (address,):
        yield company, f"http://{address}"


async def test_a_customer_pays_a_demo_payment_link(demo_server, browser, artifacts):
    company, base_url = demo_server
    digits = f"{secrets.randbelow(10**7):07d}"
    # A new customer writes from the demo phone (its form, posted directly).
    async with httpx.AsyncClient(base_url=base_url) as http:
        written = await http.post("/demo/phone/messages", data={
            "number": f"+90 532 {digits[:3]} {digits[3:5]} {digits[5:]}",
            "name": "Deniz Ödemeci", "text": "Muayene ücretini şimdi ödeyebilir miyim?"})
        assert written.status_code == 200

    context = await browser.new_context(base_url=base_url, locale="tr-TR",
                                        timezone_id="Europe/Istanbul",
                                        viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    try:
        agent = await context.new_page()
        agent.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(agent, company.slug, TESTER)
        await agent.goto("/inbox?tab=all")
        row = agent.locator(".conv-row", has_text="Deniz Ödemeci")
        await expect(row).to_contain_text("Muayene ücretini")  # the worker ingested it
        await row.locator(".conv-link").click()

        await agent.click("#payment-link-button")
        await agent.fill("#payment-link-amount", "750")
        await agent.fill("#payment-link-description", "İlk muayene")
        await agent.click("#payment-link-submit")
        item = agent.locator("#payment-link-list .payment-link-item")
        await expect(item).to_have_attribute("data-status", "sent")
        await expect(agent.locator("#thread")).to_contain_text("/demo/provider/iyzico/checkout")
        url = await item.locator("a").get_attribute("href")
        assert url and url.startswith(base_url + "/demo/provider/iyzico/checkout?token=")

        # The customer's side: the link's page, Pay, then back to the clinic.
        customer = await context.new_page()
        customer.on("pageerror", lambda exc: errors.append(str(exc)))
        await customer.goto(url)
        await expect(customer.locator(".amount")).to_have_text("750.00 TRY")
        await customer.click("#iyzico-pay")
        await expect(customer.locator("h1.result")).to_have_attribute("data-status", "SUCCESS")
        await customer.click("#iyzico-return")
        await expect(customer.locator("h1")).to_have_text("Ödeme alındı")
        await customer.screenshot(path=artifacts / "demo-payment-paid.png")

        # The agent's open conversation, live: the payment line and the demo rule's thank-you.
        await expect(agent.locator('#thread .item.event[data-kind="payment"]')).to_contain_text(
            "750,00 TL (iyzico)")
        await expect(agent.locator("#thread")).to_contain_text(
            "Ödemeniz alındı (750,00 TL), teşekkür ederiz!")
        # The link under the composer follows the live update (not its 30-second poll).
        await expect(item).to_have_attribute("data-status", "paid", timeout=5_000)
        await agent.screenshot(path=artifacts / "demo-payment-inbox.png")
    finally:
        await context.close()
    assert errors == [], f"script errors in the page: {errors}"

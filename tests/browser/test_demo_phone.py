"""The demo's customer phone in the browser, against `invekto serve` in demo mode and a worker:
a visitor types on /demo/phone, an agent sees it live in the inbox and answers, the answer shows
on the phone, and the ticks on both sides turn."""

from __future__ import annotations

import secrets

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.adapters.base import ChannelAccount, OutboundMessage, Sent
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.models import Channel
from invekto.db.base import new_id
from invekto.db.session import Database
from tests.browser.conftest import Agent, log_in
from tests.demo_company import TESTER, demo_company
from tests.processes import invekto_processes


@pytest.fixture(scope="module")
async def demo_server(pg_server, settings):
    """`invekto serve` in demo mode and a worker, on the demo company's own database; stopped
    with this module, so they never take other tests' jobs."""
    company = await demo_company(pg_server, settings)
    with invekto_processes(company.database_url, servers=1, workers=1,
                           env={"INVEKTO_DEMO": "true"}) as (address,):
        yield company, f"http://{address}"


@pytest.fixture
async def open_page(browser):
    """``await open_page(base_url, **context options)``: a new browser context's page; script
    errors on it fail the test."""
    opened: list[Agent] = []

    async def open_at(base_url: str, **options) -> Agent:
        context = await browser.new_context(base_url=base_url, locale="tr-TR",
                                            timezone_id="Europe/Istanbul", **options)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        opened.append(Agent(context, page, errors))
        return opened[-1]

    yield open_at
    for agent in opened:
        await agent.context.close()
    for agent in opened:
        assert agent.errors == [], f"script errors in the page: {agent.errors}"


async def _business_sends_buttons(database_url: str, tenant_id, number: str) -> None:
    """Buttons from the business, sent the way the worker sends: over HTTP, to the demo
    number's provider (the simulator inside the demo server)."""
    db = Database(database_url, pool_size=1, application_name="invekto-tests-demo-send")
    try:
        async with db.tenant_session(tenant_id) as session:
            channel = await session.scalar(select(Channel).where(
                Channel.tenant_id == tenant_id, Channel.external_id == "demo-phone-number-id"))
            account = ChannelAccount(kind=channel.kind, external_id=channel.external_id,
                                     settings=channel.settings,
                                     credentials=channels.credentials_of(channel))
    finally:
        await db.dispose()
    adapter = WhatsAppCloudAdapter()
    try:
        result = await adapter.send(account, OutboundMessage(
            message_id=new_id(), recipient_handle=number, recipient_phone="+" + number,
            content_kind="interactive", body="", payload={"interactive": {
                "type": "button", "body": {"text": "Hangi saat uygun?"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "saat-10", "title": "10:00"}},
                    {"type": "reply", "reply": {"id": "saat-15", "title": "15:00"}}]}}}))
    finally:
        await adapter.aclose()
    assert isinstance(result, Sent), result


async def test_a_visitor_on_the_demo_phone_chats_with_an_agent(demo_server, open_page,
                                                               artifacts):
    company, base_url = demo_server
    digits = f"{secrets.randbelow(10**7):07d}"
    number = f"+90 532 {digits[:3]} {digits[3:5]} {digits[5:]}"
    wa_id = "90532" + digits

    agent = (await open_page(base_url, viewport={"width": 1440, "height": 900})).page
    await log_in(agent, company.slug, TESTER)
    await agent.goto("/inbox?tab=all")
    await expect(agent.locator("body")).to_have_attribute("data-live", "true")

    phone = (await open_page(base_url, viewport={"width": 390, "height": 844},
                             is_mobile=True, has_touch=True)).page
    await phone.goto("/demo/phone")
    await expect(phone.locator(".wa-name")).to_have_text("Gülüş Diş Kliniği")
    # First visit: who the customer is.
    await expect(phone.locator("#phone-who")).to_be_visible()
    await phone.fill("#phone-name", "Ece Aksoy")
    await phone.fill("#phone-number", number)
    await phone.locator("#phone-who button[type=submit]").click()
    await expect(phone.locator("#phone-who")).to_be_hidden()

    await phone.fill("#phone-text", "Merhaba, bu akşam açık mısınız?")
    await phone.keyboard.press("Enter")
    mine = phone.locator(".wa-mine").last
    await expect(mine).to_contain_text("Merhaba, bu akşam açık mısınız?")
    await expect(mine.locator(".wa-ticks")).to_have_attribute("data-status", "delivered")
    await expect(phone.locator("#phone-text")).to_have_value("")

    # The worker ingests the signed webhook: live in the inbox, no reload.
    row = agent.locator(".conv-row", has_text="Ece Aksoy")
    await expect(row).to_contain_text("bu akşam açık mısınız?")
    await row.locator(".conv-link").click()
    await expect(agent.locator(".msg-inbound .msg-body").last).to_have_text(
        "Merhaba, bu akşam açık mısınız?")

    await agent.fill("#composer-input", "İyi akşamlar Ece Hanım, 21:00'e kadar açığız.")
    await agent.keyboard.press("Enter")
    theirs = phone.locator(".wa-theirs").last
    await expect(theirs).to_contain_text("21:00'e kadar açığız.")  # the worker sent it
    # Answered, the customer's message is read; shown, the answer is read by the customer.
    await expect(mine.locator(".wa-ticks")).to_have_attribute("data-status", "read")
    bubble = agent.locator(".msg-outbound").last
    await expect(bubble.locator(".ticks")).to_have_attribute("data-status", "read")

    # Reply buttons: tapped on the phone, an answer in the inbox.
    await _business_sends_buttons(company.database_url, company.tenant_id, wa_id)
    await phone.locator(".wa-option", has_text="15:00").click()
    await expect(phone.locator(".wa-mine").last).to_contain_text("15:00")
    await expect(phone.locator(".wa-mine .wa-quote").last).to_have_text("Hangi saat uygun?")
    await expect(agent.locator(".msg-inbound .msg-body").last).to_have_text("15:00")
    await phone.screenshot(path=artifacts / "demo-phone.png")

    # The phone keeps its customer: a reload shows the same chat.
    await phone.reload()
    await expect(phone.locator("#phone-who")).to_be_hidden()
    await expect(phone.locator(".wa-theirs").first).to_contain_text("21:00'e kadar açığız.")

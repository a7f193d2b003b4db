"""WhatsApp in the browser, end to end: the provider simulator (as Meta, over real HTTP) sends a
customer's message to our intake; the worker ingests it and it appears live in the agent's inbox;
the agent's reply reaches the simulator; the simulator's statuses turn the ticks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import create_simulator
from invekto.inbox.models import Message
from tests.processes import serving

APP_SECRET = "browser-test-app-secret"
PHONE_NUMBER_ID = "109876543210987"


@pytest.fixture
async def simulator():
    """The simulator as a real server on this test's event loop (the worker process calls it)."""
    sim = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                           access_token="EAAG-browser")
    async with serving(sim) as base_url:
        sim.base_url = base_url
        yield sim


async def _until(predicate, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_whatsapp_conversation_in_the_browser(world, open_browser, live_server,
                                                      simulator):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp · 0850", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": simulator.base_url},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-browser"}))
    simulator.webhook_url = f"{live_server}/webhooks/whatsapp_cloud/{channel.id}"
    page = (await open_browser(home, "bora", path="/inbox?tab=unassigned")).page

    wa_id = "90532" + str(uuid.uuid4().int)[:7]
    response = await simulator.deliver(*simulator.customer_message(
        "Merhaba, WhatsApp'tan yazıyorum", wa_id=wa_id, name="Deniz Müşteri"))
    assert response.status_code == 200
    row = page.locator(".conv-row", has_text="Deniz Müşteri")
    await expect(row).to_contain_text("WhatsApp'tan yazıyorum")  # ingested by the worker, live
    await row.locator(".conv-link").click()
    await expect(page.locator(".msg-inbound .msg-body")).to_have_text(
        "Merhaba, WhatsApp'tan yazıyorum")

    await page.fill("#composer-input", "Hoş geldiniz, nasıl yardımcı olabilirim?")
    await page.keyboard.press("Enter")
    bubble = page.locator(".msg-outbound").last
    await expect(bubble.locator(".ticks")).to_have_attribute("data-status", "sent")
    await _until(lambda: len(simulator.state.sent) == 1)
    (sent,) = simulator.state.sent
    assert sent.body["to"] == wa_id
    assert sent.body["text"]["body"] == "Hoş geldiniz, nasıl yardımcı olabilirim?"

    for status in ("delivered", "read"):
        assert (await simulator.deliver(*simulator.status(sent.wamid, status,
                                                          recipient_id=wa_id))).status_code == 200
        await expect(bubble.locator(".ticks")).to_have_attribute("data-status", status)

    # Reply buttons from the composer: the customer will answer with a tap.
    await page.click("#choices-button")
    buttons = page.locator("#composer-choices .choice-title")
    await buttons.nth(0).fill("Randevu al")
    await buttons.nth(1).fill("Fiyat öğren")
    await page.fill("#composer-input", "Size nasıl yardımcı olalım?")
    await page.keyboard.press("Enter")
    offer = page.locator(".msg-outbound", has=page.locator(".msg-choices")).last
    await expect(offer.locator(".choice")).to_have_text(["Randevu al", "Fiyat öğren"])
    await expect(page.locator("#composer-choices")).to_be_hidden()
    await _until(lambda: len(simulator.state.sent) == 2)
    interactive = simulator.state.sent[1].body["interactive"]
    assert interactive["body"] == {"text": "Size nasıl yardımcı olalım?"}
    assert [b["reply"]["title"] for b in interactive["action"]["buttons"]] == [
        "Randevu al", "Fiyat öğren"]

    # The customer taps one: it arrives as their answer.
    tap = {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "button-1", "title": "Randevu al"}}}
    await simulator.deliver(*simulator.customer_message(wa_id=wa_id, name="Deniz Müşteri",
                                                        message=tap))
    await expect(page.locator(".msg-inbound .msg-body").last).to_have_text("Randevu al")


async def test_after_the_window_the_agent_sends_an_approved_template(world, open_browser,
                                                                   live_server, simulator):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp · Kargo", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": simulator.base_url, "waba_id": "214365870912345"},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-browser"}))
    simulator.webhook_url = f"{live_server}/webhooks/whatsapp_cloud/{channel.id}"
    wa_id = "90533" + str(uuid.uuid4().int)[:7]
    await simulator.deliver(*simulator.customer_message("Kargom nerede?", wa_id=wa_id,
                                                        name="Kerem Kargo"))

    async def ingested():
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            return await session.scalar(select(Message).where(Message.channel_id == channel.id))
    for _ in range(200):
        if (inbound := await ingested()) is not None:
            break
        await asyncio.sleep(0.05)
    async with home.rt.db.tenant_session(home.tenant_id) as session:  # the customer wrote
        await session.execute(update(Message).where(Message.id == inbound.id).values(  # a day ago
            created_at=Message.created_at - timedelta(hours=30)))

    page = (await open_browser(home, "bora", path=f"/inbox?c={inbound.conversation_id}")).page
    await expect(page.locator("#window-closed")).to_be_visible()
    await page.select_option("#template-select", "kargo_bilgilendirme|tr")
    values = page.locator("#template-parameters input")
    await expect(values).to_have_count(3)
    for index, value in enumerate(("Kerem", "TR-2041", "Aras Kargo")):
        await values.nth(index).fill(value)
    await expect(page.locator("#template-preview")).to_have_text(
        "Merhaba Kerem, TR-2041 numaralı siparişiniz Aras Kargo ile kargoya verildi.")
    await page.click("#template-send")
    bubble = page.locator(".msg-outbound").last
    await expect(bubble.locator(".msg-template")).to_contain_text("kargo_bilgilendirme")
    await expect(bubble.locator(".ticks")).to_have_attribute("data-status", "sent")
    await _until(lambda: len(simulator.state.sent) == 1)
    template = simulator.state.sent[0].body["template"]
    assert template["name"] == "kargo_bilgilendirme"
    assert [p["text"] for p in template["components"][0]["parameters"]] == [
        "Kerem", "TR-2041", "Aras Kargo"]

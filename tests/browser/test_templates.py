"""WhatsApp templates in the browser: a supervisor writes a template in settings → Templates
(an example asked for each {{n}} as it is typed), submits it to the provider simulator (as Meta,
over real HTTP), Meta approves it by the signed status webhook, the worker ingests that, and
the page shows it approved after a reload."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from tests.processes import serving

APP_SECRET = "browser-test-app-secret"
PHONE_NUMBER_ID = "109876543210987"


@pytest.fixture
async def simulator():
    sim = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                           access_token="EAAG-browser")
    async with serving(sim) as base_url:
        sim.base_url = base_url
        yield sim


async def test_a_template_written_submitted_and_approved(world, open_browser, live_server,
                                                         simulator, artifacts):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp · 0850", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": simulator.base_url, "waba_id": WABA_ID},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-browser"}))
    simulator.webhook_url = f"{live_server}/webhooks/whatsapp_cloud/{channel.id}"
    page = (await open_browser(home, "sevgi", path="/settings/templates")).page

    card = page.locator(f"#templates-{channel.id}")
    await card.locator(".template-create summary").click()
    await card.locator("input[name=name]").fill("randevu_onay")
    await card.locator("textarea[name=body]").fill(
        "Merhaba {{1}}, {{2}} tarihli randevunuz onaylandı.")
    await expect(card.locator(".template-placeholder")).to_have_count(2)
    await card.locator("input[name=example_body_1]").fill("Ayşe")
    await card.locator("input[name=example_body_2]").fill("12.12.2026")
    await card.locator("select[name=variable_body_1]").select_option("{{ contact.first_name }}")
    await card.locator("input[name=quick_reply]").first.fill("Teşekkürler")
    await card.locator(".template-save-draft").click()

    row = page.locator(".template-row[data-name=randevu_onay]")
    await expect(row.locator(".template-status")).to_have_attribute("data-status", "DRAFT")
    await row.locator(".template-submit").click()
    await expect(row.locator(".template-status")).to_have_attribute("data-status", "PENDING")
    submitted = next(t for t in simulator.state.templates if t["name"] == "randevu_onay")
    assert submitted["components"][0]["example"] == {"body_text": [["Ayşe", "12.12.2026"]]}

    response = await simulator.decide_template("randevu_onay", "tr", "APPROVED")
    assert response.status_code == 200
    status = row.locator(".template-status")
    for _ in range(50):  # the worker ingests the webhook; a reload shows what it stored
        await page.reload()
        if await status.get_attribute("data-status") == "APPROVED":
            break
        await page.wait_for_timeout(200)
    await expect(status).to_have_text(re.compile("Onaylandı|Approved"))
    await page.screenshot(path=str(artifacts / "settings-templates.png"), full_page=True)

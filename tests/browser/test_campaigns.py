"""A campaign in the browser: a supervisor creates one from a CSV with a WhatsApp template, sees
its plan and schedules it for a local time; when that time comes (the test moves the clock
through the minute tick) a dispatcher sends it to the provider simulator (as Meta, over real
HTTP), Meta's delivery statuses reach our intake and the worker ingests them, and the open page's
report, which polls, shows the sent and delivered counts without a reload."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from invekto.campaigns import service as campaigns
from invekto.campaigns import tasks
from invekto.campaigns.models import Campaign
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from tests.processes import serving

APP_SECRET = "browser-test-app-secret"
PHONE_NUMBER_ID = "109876543210987"
CSV = ("Ad Soyad,Telefon,Şehir\n"
       "Ayşe Yılmaz,0532 000 00 01,İzmir\n"
       "Mehmet Öz,0532 000 00 02,Bursa\n"
       "Hatalı Satır,12345,Ankara\n")


@pytest.fixture
async def simulator():
    """The simulator as a real server on this test's event loop (the worker process calls it)."""
    sim = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                           access_token="EAAG-browser")
    async with serving(sim) as base_url:
        sim.base_url = base_url
        yield sim


async def test_a_campaign_from_a_csv_is_scheduled_sent_and_reported_live(
        world, open_browser, live_server, simulator, tmp_path, artifacts):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp · 0850", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": simulator.base_url, "waba_id": WABA_ID},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-browser"}))
    simulator.webhook_url = f"{live_server}/webhooks/whatsapp_cloud/{channel.id}"
    csv_file = tmp_path / "müşteriler.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    page = (await open_browser(home, "sevgi", path="/campaigns/new")).page

    await page.fill("#campaign-name", "Kış indirimi")
    await expect(page.locator("#campaign-channel")).to_have_value(str(channel.id))
    await page.select_option("#campaign-template-select", "randevu_hatirlatma|tr")
    fields = page.locator('fieldset[data-template="randevu_hatirlatma|tr"]')
    await fields.locator('input[name="template_parameters.1"]').fill(
        "{{ contact.first_name }}")
    await fields.locator('input[name="template_parameters.2"]').fill("{{ row.Şehir }}")
    await page.set_input_files("#campaign-file", str(csv_file))
    await page.click("#campaign-create")

    await page.wait_for_url(re.compile(r"/campaigns/[0-9a-f-]{36}$"))
    campaign_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    await expect(page.locator("#plan-recipients")).to_have_text("2")
    await expect(page.locator("#plan-invalid-rows")).to_have_text("1")
    await expect(page.locator("#preview-text")).to_have_text(
        "Merhaba Ayşe, İzmir tarihindeki randevunuzu hatırlatırız. Gelebilecek misiniz?")
    await page.locator("#bad-rows summary").click()
    await expect(page.locator("#bad-rows .bad-row")).to_have_count(1)

    # Tomorrow at 10:00 on the company's clock (Istanbul, as the browser's).
    day = (datetime.now(ZoneInfo("Europe/Istanbul")) + timedelta(days=1)).date()
    await page.fill("#campaign-at", f"{day}T10:00")
    await page.click("#campaign-schedule-button")
    await expect(page.locator("#campaign-status")).to_have_attribute("data-status", "scheduled")
    await expect(page.locator("#campaign-scheduled-at")).to_contain_text("10:00")
    await expect(page.locator("#report-queued .report-count")).to_have_text("2")

    # The clock reaches the scheduled time: the minute tick starts it, a dispatcher sends it.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.id == campaign_id))
        assert campaign.scheduled_at == datetime(day.year, day.month, day.day, 10,
                                                 tzinfo=ZoneInfo("Europe/Istanbul"))
        assert await campaigns.tick(session, home.tenant_id, campaign_id,
                                    now=campaign.scheduled_at) == "started"
    # The worker may take the deferred dispatchers too: together they send each message once.
    await tasks.dispatch(tenant_id=str(home.tenant_id), campaign_id=str(campaign_id))
    await expect(page.locator("#report-sent .report-count")).to_have_text("2")
    await expect(page.locator("#campaign-status")).to_have_attribute("data-status", "completed")
    await expect(page.locator("#campaign-plan")).to_have_count(0)  # the plan was for before
    assert sorted(s.body["to"] for s in simulator.state.sent) == ["905320000001",
                                                                  "905320000002"]

    response = await simulator.deliver(*simulator.statuses_of(simulator.state.sent,
                                                              "delivered"))
    assert response.status_code == 200
    await expect(page.locator("#report-delivered .report-count")).to_have_text("2")
    await expect(page.locator("#report-delivered .report-rate")).to_have_text(
        re.compile(r"^100\s?%$|^%\s?100$"))
    await page.screenshot(path=str(artifacts / "campaign-report.png"), full_page=True)

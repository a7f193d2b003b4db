"""Send later and writing first, in a real browser: a reply scheduled from the composer is
listed above it and can be cancelled; "New conversation" writes to a new number and opens it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.inbox.models import ScheduledMessage


async def test_a_reply_scheduled_in_the_composer_is_listed_and_can_be_cancelled(world,
                                                                               open_browser):
    home = world.home
    inbound = await home.inbound("Yarın sabah hatırlatır mısınız?", handle="hatirlat",
                                 name="Ayşe Yılmaz")
    bora = await open_browser(home, "bora",
                              path=f"/inbox?tab=unassigned&c={inbound.conversation_id}")
    page = bora.page
    await page.fill("#composer-input", "Günaydın, randevunuz bugün 11:00'de.")
    await page.click("#schedule-button")
    tomorrow = datetime.now(ZoneInfo("Europe/Istanbul")).date() + timedelta(days=1)
    await page.fill("#schedule-at", f"{tomorrow}T09:00")
    await page.click("#schedule-submit")

    listed = page.locator("#scheduled-list .scheduled-item")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text("randevunuz bugün 11:00'de")
    await expect(listed.locator(".scheduled-when")).to_contain_text("09:00")
    await expect(page.locator("#composer-input")).to_have_value("")

    await listed.locator("[data-action=cancel-scheduled]").click()
    await expect(page.locator("#scheduled-list .scheduled-item")).to_have_count(0)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        statuses = (await session.scalars(select(ScheduledMessage.status).where(
            ScheduledMessage.conversation_id == inbound.conversation_id))).all()
    assert statuses == ["cancelled"]


async def test_new_conversation_writes_to_a_new_number_and_opens_it(world, open_browser):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS Hattı"))
    bora = await open_browser(home, "bora")
    page = bora.page
    await page.click("#new-conversation-button")
    dialog = page.locator("#new-conversation-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#new-phone").fill("0532 555 44 33")
    await dialog.locator("#new-body").fill("Merhaba, kliniğimizden yazıyoruz.")
    await dialog.locator("#new-conversation-send").click()
    await page.wait_for_url(re.compile(r"/inbox\?c="))
    await expect(page.locator("#thread")).to_contain_text("kliniğimizden yazıyoruz")
    await expect(page.locator("#contact-pane input[name=phone]")).to_have_value("+905325554433")

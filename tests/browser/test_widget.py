"""The website chat widget in a real browser, on a company's page served from another origin
(another port on localhost) than Invekto: a visitor fills in the pre-chat form and writes, an
agent answers from the inbox, the visitor sees the answer live, a reload continues the chat, and
a site the channel does not list gets no widget at all."""

from __future__ import annotations

import base64
import uuid
from contextlib import asynccontextmanager

from playwright.async_api import expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.inbox.models import Message
from tests.processes import serving

# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8AAAAMBAQDJ"
                       "/pLvAAAAAElFTkSuQmCC")
CONSENT = "Kişisel verileriniz KVKK kapsamında yalnızca size dönüş yapmak için işlenir."


def _host_page(live_server: str, channel_id: uuid.UUID) -> Starlette:
    """A company's own web page with the widget's script tag, as the settings page gives it."""
    html = (f"<!doctype html><html lang='tr'><head><title>Gülüş Diş</title></head><body>"
            f"<h1>Gülüş Diş Kliniği</h1><p>Randevu için bize yazın.</p>"
            f"<script src='{live_server}/widget.js' data-channel='{channel_id}' async></script>"
            f"</body></html>")

    async def index(_request):
        return HTMLResponse(html)

    return Starlette(routes=[Route("/", index)])


@asynccontextmanager
async def _site(live_server: str, channel_id: uuid.UUID):
    async with serving(_host_page(live_server, channel_id)) as url:
        yield url


async def _web_chat(company) -> uuid.UUID:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind="webchat", name="Web sitesi"))
    return channel.id


async def _allow(company, channel_id: uuid.UUID, origin: str) -> None:
    """The channel's settings as the admin saves them, with the site's origin (its port is
    known only once it is served)."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await channels.update_channel(session, company.system, channel_id, ChannelUpdate(
            settings={"allowed_origins": origin, "consent_text": CONSENT,
                      "welcome_text": "Nasıl yardımcı olabiliriz?"}))


async def _visitor_page(browser, url: str):
    context = await browser.new_context(locale="tr-TR", timezone_id="Europe/Istanbul")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return context, page, errors


async def test_a_visitor_chats_with_an_agent_across_a_reload(world, browser, live_server,
                                                             open_browser):
    home = world.home
    channel_id = await _web_chat(home)
    async with _site(live_server, channel_id) as site:
        site = site.replace("127.0.0.1", "localhost")  # another host name and port
        await _allow(home, channel_id, site)
        bora = await open_browser(home, "bora", path="/inbox?tab=unassigned")
        context, visitor, errors = await _visitor_page(browser, site)

        chat = visitor.locator("#invekto-chat")
        await chat.locator("[data-part=bubble]").click()
        panel = chat.locator("[data-part=panel]")
        await expect(panel).to_contain_text("Nasıl yardımcı olabiliriz?")
        await expect(panel).to_contain_text(CONSENT)
        await expect(panel.locator("[data-part=status]")).to_have_text("Çevrimiçiyiz")

        # The form refuses a missing consent in Turkish, keeping what was typed.
        form = panel.locator("[data-part=prechat]")
        await form.locator("[name=name]").fill("Elif Yıldız")
        await form.locator("[name=phone]").fill("0532 111 22 33")
        await form.locator("[name=body]").fill("Merhaba, beyazlatma fiyatı nedir?")
        await form.locator("button[type=submit]").click()
        await expect(panel.locator("[data-part=error]")).to_have_text(
            "Sohbete başlamak için lütfen aydınlatma metnini kabul edin")
        await form.locator("[name=consent]").check()
        await form.locator("button[type=submit]").click()

        messages = panel.locator("[data-part=messages]")
        await expect(messages.locator(".message.visitor")).to_have_text(
            ["Merhaba, beyazlatma fiyatı nedir?"])
        await expect(chat).to_have_attribute("data-live", "true")

        # The agent sees it in the inbox, live, and answers.
        first = await _first_message(home, "Merhaba, beyazlatma fiyatı nedir?")
        row = bora.page.locator(f"#row-{first.conversation_id}")
        await expect(row).to_contain_text("Elif Yıldız")
        await row.locator(".conv-link").click()
        await bora.page.fill("#composer-input", "Merhaba Elif Hanım, 2.500 TL.")
        await bora.page.keyboard.press("Enter")

        reply = messages.locator(".message.agent")
        await expect(reply).to_contain_text("Merhaba Elif Hanım, 2.500 TL.")
        await expect(reply).to_contain_text("Bora")
        await expect(reply.locator(".avatar")).to_have_text("B")
        # Seen by the visitor: the agent's tick turns to read.
        await expect(bora.page.locator(".msg-outbound .ticks").last).to_have_attribute(
            "data-status", "read")

        # A reload continues the same chat, open where it was.
        await visitor.reload()
        await expect(messages.locator(".message")).to_have_count(2)
        await expect(chat.locator("[data-part=prechat]")).to_have_count(0)
        await expect(chat).to_have_attribute("data-live", "true")
        await chat.locator("[data-part=input]").fill("Yarın 14:00 uygun mu?")
        await chat.locator("[data-part=input]").press("Enter")
        await expect(bora.page.locator("#thread")).to_contain_text("Yarın 14:00 uygun mu?")
        await expect(messages.locator(".message.visitor")).to_have_count(2)
        assert errors == []
        await context.close()


async def _first_message(home, body: str) -> Message:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await session.scalar(select(Message).where(
            Message.tenant_id == home.tenant_id, Message.body == body))


async def test_a_site_the_channel_does_not_list_gets_no_widget(world, browser, live_server):
    channel_id = await _web_chat(world.home)
    await _allow(world.home, channel_id, "https://www.gulusdis.com.tr")
    async with _site(live_server, channel_id) as site:
        context, visitor, errors = await _visitor_page(browser, "about:blank")
        async with visitor.expect_console_message(
                lambda m: "Invekto chat is not available" in m.text):
            await visitor.goto(site)
        await expect(visitor.locator("h1")).to_have_text("Gülüş Diş Kliniği")
        await expect(visitor.locator("#invekto-chat")).to_have_count(0)
        assert errors == []
        await context.close()


async def test_an_english_visitor_leaves_a_message_and_a_file_while_nobody_is_online(
        world, browser, live_server):
    home = world.home
    channel_id = await _web_chat(home)
    async with _site(live_server, channel_id) as site:
        site = site.replace("127.0.0.1", "localhost")
        await _allow(home, channel_id, site)
        context = await browser.new_context(locale="en-GB")
        visitor = await context.new_page()
        await visitor.goto(site)
        chat = visitor.locator("#invekto-chat")
        await chat.locator("[data-part=bubble]").click()
        panel = chat.locator("[data-part=panel]")
        await expect(panel.locator("[data-part=status]")).to_have_text("We are offline now")
        await expect(panel.locator("[data-part=offline]")).to_contain_text("Leave a message")
        form = panel.locator("[data-part=prechat]")
        await form.locator("[name=name]").fill("John Smith")
        await form.locator("[name=email]").fill("john@")
        await form.locator("[name=consent]").check()
        await form.locator("button[type=submit]").click()
        await expect(panel.locator("[data-part=error]")).to_have_text(
            "'john@' is not an e-mail address")
        await form.locator("[name=email]").fill("john@example.com")
        await form.locator("button[type=submit]").click()
        await expect(chat.locator("[data-part=input]")).to_be_visible()

        await chat.locator("[data-part=file]").set_input_files(files=[{
            "name": "teeth.png", "mimeType": "image/png", "buffer": PNG}])
        picture = panel.locator(".message.visitor img.image")
        await expect(picture).to_have_attribute("alt", "teeth.png")
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            stored = await session.scalar(select(Message).where(
                Message.tenant_id == home.tenant_id, Message.channel_id == channel_id))
        assert stored.content_kind == "image" and stored.attachment_id is not None
        await context.close()

"""The XSS corpus (tests/security/xss_corpus.py) renders inert in the browser.

Every payload goes in at every place where outside text enters the product: a customer's message
and the name their channel gives (through ingest, as a webhook's message arrives), the file name
of a customer's attachment, and what the company's people type: a WhatsApp template's text, a
quick reply, a tag. Then an admin opens the inbox, each conversation (thread and contact panel),
and the templates, quick replies and tags settings in Chromium: no dialog opens, the global flag
every payload would set stays unset, no element a payload describes exists, and the text is
shown literally, as it was stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import TagCreate
from invekto.core.errors import ValidationFailed
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.replies import service as replies
from invekto.templates import service as templates
from invekto.templates.schemas import TemplateIn
from tests.processes import serving
from tests.security.xss_corpus import PAYLOADS, PLACES

APP_SECRET = "xss-app-secret"
PHONE_NUMBER_ID = "109876543210777"
# Elements and attributes only a payload would have made (the app's own pages have none).
INJECTED = ("iframe, object, [onerror], [onload], [ontoggle], [x-init], a[href^='javascript:'], "
            "[hx-on\\:htmx\\:load], [style*='expression']")


@dataclass
class Planted:
    """What was stored for each payload, as the product kept it (the text to find literally)."""

    conversations: dict[str, uuid.UUID] = field(default_factory=dict)
    stored: dict[tuple[str, str], str] = field(default_factory=dict)  # (payload, place) -> text
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # refused at the door


async def plant(home, channel_id: uuid.UUID) -> Planted:
    planted = Planted()
    system = home.system
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        for n, (key, payload) in enumerate(PAYLOADS.items()):
            handle = f"xss-{n}-{uuid.uuid4().hex[:6]}"
            message, _ = await inbox.receive_inbound(session, home.tenant_id, InboundMessage(
                channel_id=home.channel_id, handle=handle, provider_message_id=f"{handle}-1",
                contact_name=payload, body=payload))
            attachment = await inbox.store_attachment(
                session, system, home.rt.storage, filename=payload,
                content_type="application/pdf", data=b"%PDF-1.4\n", max_bytes=1024 * 1024)
            await inbox.receive_inbound(session, home.tenant_id, InboundMessage(
                channel_id=home.channel_id, handle=handle, provider_message_id=f"{handle}-2",
                content_kind="document", attachment_id=attachment.id))
            await contacts.create_tag(session, system, TagCreate(name=payload))
            await inbox.change_tags(session, system, message.conversation_id, add=[payload],
                                    remove=[])
            reply = await replies.create(session, system, shortcut=f"xss{n}", body=payload)
            contact = (await session.scalars(select(Contact).where(
                Contact.id == message.contact_id))).one()
            planted.conversations[key] = message.conversation_id
            planted.stored[key, "customer_message"] = message.body
            planted.stored[key, "contact_name"] = contact.name
            planted.stored[key, "file_name"] = attachment.filename
            planted.stored[key, "tag_name"] = payload
            planted.stored[key, "quick_reply"] = reply.body
            try:
                async with session.begin_nested():
                    template = await templates.create_template(
                        session, system, channel_id, TemplateIn(
                            name=f"xss_{n}", language="tr", category="UTILITY",
                            components=[{"type": "BODY", "text": payload}]))
                planted.stored[key, "template_text"] = template.components[0]["text"]
            except ValidationFailed as refusal:
                planted.refused[key, "template_text"] = refusal.message
    return planted


@pytest.fixture
async def whatsapp(world):
    """A WhatsApp number for the templates (its provider a local simulator)."""
    home = world.home
    simulator = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                                 access_token="EAAG-xss")
    async with serving(simulator) as base_url:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            channel = await channels.create_channel(session, home.system, ChannelCreate(
                kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
                settings={"api_base_url": base_url, "waba_id": WABA_ID},
                credentials={"app_secret": APP_SECRET, "access_token": "EAAG-xss"}))
        yield channel.id


async def inert(page: Page, dialogs: list[str], where: str) -> None:
    assert dialogs == [], (where, dialogs)
    assert await page.evaluate("typeof window.__xss") == "undefined", where
    assert await page.locator(INJECTED).count() == 0, where


async def shows(page: Page, selector: str, text: str) -> bool:
    """The text, literally, in what the element shows (or, for inputs, holds)."""
    return await page.evaluate(
        """([selector, text]) => [...document.querySelectorAll(selector)].some((node) =>
             (node.innerText || "").includes(text) || node.value === text ||
             [...node.querySelectorAll("input, textarea")].some((i) => i.value === text))""",
        [selector, text])


async def test_the_corpus_renders_inert_everywhere(world, whatsapp, open_browser):
    home = world.home
    planted = await plant(home, whatsapp)
    agent = await open_browser(home, "ayla")
    page = agent.page
    dialogs: list[str] = []

    async def dismiss(dialog):
        dialogs.append(dialog.message)
        await dialog.dismiss()
    page.on("dialog", dismiss)
    checked: set[tuple[str, str]] = set()

    # The inbox: every customer's name in the list.
    await page.goto("/inbox?tab=all")
    await expect(page.locator(".conv-row")).to_have_count(len(PAYLOADS))
    await inert(page, dialogs, "/inbox")
    for key in PAYLOADS:
        assert await shows(page, "#list-pane", planted.stored[key, "contact_name"]), key
        checked.add((key, "contact_name"))

    # Each conversation: the message, the file's name, the tag; the contact panel.
    for key, conversation_id in planted.conversations.items():
        await page.goto(f"/inbox?tab=all&c={conversation_id}")
        await expect(page.locator(f"#thread[data-conversation-id='{conversation_id}']")
                     ).to_have_count(1)
        await expect(page.locator("#contact-card")).to_have_count(1)
        await inert(page, dialogs, f"conversation of {key}")
        for place, selector in (("customer_message", "#thread"), ("file_name", "#thread"),
                                ("tag_name", "#contact-card"),
                                ("contact_name", "#contact-card")):
            assert await shows(page, selector, planted.stored[key, place]), (key, place)
            checked.add((key, place))

    # The settings pages the company's own texts show on.
    for path, place in (("/settings/tags", "tag_name"), ("/settings/quick-replies", "quick_reply"),
                        ("/settings/templates", "template_text")):
        await page.goto(path)
        await page.evaluate("document.querySelectorAll('details').forEach((d) => d.open = true)")
        await page.wait_for_timeout(100)  # a toggle event would run now: give it its turn
        await inert(page, dialogs, path)
        for key in PAYLOADS:
            if (key, place) in planted.refused:
                continue
            assert await shows(page, "main", planted.stored[key, place]), (path, key)
            checked.add((key, place))

    # The composer's quick-reply picker draws replies in the browser (app.js).
    await page.goto(f"/inbox?c={next(iter(planted.conversations.values()))}")
    await page.fill("#composer-input", "/xss")
    await page.wait_for_timeout(500)
    await inert(page, dialogs, "quick-reply picker")

    attempted = len(PAYLOADS) * len(PLACES)
    print(f"\nxss: {len(PAYLOADS)} payloads × {len(PLACES)} places = {attempted}; "
          f"{len(checked)} shown inert and literal, {len(planted.refused)} refused at input "
          f"({sorted(planted.refused)})")
    assert len(checked) + len(planted.refused) == attempted
    # WhatsApp's own rules refuse template texts with a {{...}} that is not a placeholder; the
    # rest of the corpus is taken everywhere and shown as typed.
    assert set(planted.refused) <= {(key, "template_text") for key in PAYLOADS}
    assert len(planted.refused) <= 3

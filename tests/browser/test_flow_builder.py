"""The chatbot builder in the browser, end to end: a supervisor builds a small flow by dragging
steps from the palette onto the Drawflow canvas and connecting them, fills them in, sets the
trigger, publishes; then a WhatsApp customer (the provider simulator, as Meta, over real HTTP to
the running server and worker) goes through it — a welcome, a question tapped as a reply button,
their city typed into a custom field — to a handoff that lands in the right group, the captured
field shown on the contact card in the inbox."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import create_simulator
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import CustomFieldCreate
from invekto.flows.models import Flow, FlowSession
from invekto.inbox.models import Conversation
from invekto.users import service as users
from invekto.users.schemas import GroupCreate
from tests.processes import serving

APP_SECRET = "flow-builder-app-secret"
PHONE_NUMBER_ID = "109876543219999"


@pytest.fixture
async def simulator():
    sim = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                           access_token="EAAG-flows")
    async with serving(sim) as base_url:
        sim.base_url = base_url
        yield sim


async def _until(predicate, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def drag_step(page: Page, kind: str, x: int, y: int) -> None:
    """From the palette onto the canvas (HTML5 drag and drop, as a person does it)."""
    before = await page.locator(".drawflow-node").count()
    await page.drag_and_drop(f'.fb-palette-item[data-kind="{kind}"]', "#flow-canvas",
                             target_position={"x": x, "y": y})
    await expect(page.locator(".drawflow-node")).to_have_count(before + 1)


async def connect(page: Page, source: str, output: int, target: str) -> None:
    """Draw a connection from a step's output (0: the first) to another step's input."""
    dot = page.locator(f'.drawflow-node[data-node-id="{source}"] .outputs .output').nth(output)
    entry = page.locator(f'.drawflow-node[data-node-id="{target}"] .inputs .input')
    start, end = await dot.bounding_box(), await entry.bounding_box()
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    await page.mouse.up()


async def test_a_dragged_flow_takes_a_whatsapp_customer_to_the_right_group(
        world, open_browser, live_server, simulator, artifacts):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp · Klinik", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": simulator.base_url},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-flows"}))
        await contacts.create_custom_field(session, home.system, CustomFieldCreate(
            key="sehir", label="Şehir", field_type="text"))
        booking = await users.create_group(session, home.system, GroupCreate(name="Randevu"))
    simulator.webhook_url = f"{live_server}/webhooks/whatsapp_cloud/{channel.id}"

    page = (await open_browser(home, "sevgi", path="/flows")).page
    await page.fill("#new-flow-name", "WhatsApp karşılama")
    await page.click("#new-flow-create")
    await page.wait_for_url(re.compile(r"/flows/[0-9a-f-]{36}$"))
    flow_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    await expect(page.locator("#flow-canvas")).to_have_attribute("data-ready", "true")
    await expect(page.locator('.drawflow-node[data-node-id="start"]')).to_be_visible()

    # Four steps dragged onto the canvas, each filled in while it is selected.
    await drag_step(page, "message", 200, 40)
    await expect(page.locator("#node-form")).to_have_attribute("data-node-id", "n1")
    await page.fill("#node-text", "Merhaba! Gülüş Kliniği'ne hoş geldiniz.")
    await page.press("#node-text", "Delete")  # typing in the panel never removes the step
    await expect(page.locator('.drawflow-node[data-node-id="n1"]')).to_have_count(1)

    await drag_step(page, "question", 470, 40)
    await expect(page.locator("#node-form")).to_have_attribute("data-type", "question")
    await page.fill("#node-text", "Size nasıl yardımcı olabiliriz?")
    await page.click("#add-option")
    await page.click("#add-option")
    options = page.locator(".fb-option input")
    await options.nth(0).fill("Randevu")
    await options.nth(1).fill("Fiyat bilgisi")
    # One output per option, numbered as the step lists them, titled with the option.
    outputs = page.locator('.drawflow-node[data-node-id="n2"] .outputs .output')
    await expect(outputs).to_have_count(2)
    await expect(outputs.nth(0)).to_have_attribute("title", "Randevu")

    await drag_step(page, "input", 200, 300)
    await page.fill("#node-text", "Hangi şehirdesiniz?")
    await page.select_option("#node-save-to", "custom")
    await expect(page.locator("#node-custom-field")).to_have_value("sehir")

    await drag_step(page, "handoff", 470, 300)
    await page.select_option("#node-group", str(booking.id))
    await page.fill("#node-text", "Sizi randevu ekibimize aktarıyorum.")
    await page.fill("#node-note", "WhatsApp akışından randevu isteği")

    await connect(page, "start", 0, "n1")
    await connect(page, "n1", 0, "n2")
    await connect(page, "n2", 0, "n3")  # "Randevu"
    await connect(page, "n3", 0, "n4")
    await expect(page.locator("svg.connection")).to_have_count(4)

    await page.click("#tab-triggers")
    await page.check("#trigger-first-message")
    await page.check(f'[data-channel-id="{channel.id}"]')
    await page.click("#flow-publish")
    await expect(page.locator("#flow-published")).to_be_visible()
    await expect(page.locator("#flow-published")).to_contain_text("1")
    await expect(page.locator("#flow-dirty")).to_be_hidden()
    await page.screenshot(path=str(artifacts / "flow-builder.png"))

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow = await session.get_one(Flow, flow_id)
    graph = flow.draft
    assert graph["start"] == "n1"
    assert [graph["nodes"][n]["type"] for n in ("n1", "n2", "n3", "n4")] == [
        "message", "question", "input", "handoff"]
    assert graph["nodes"]["n2"]["options"][0] == {"id": "o1", "title": "Randevu", "next": "n3"}
    assert graph["nodes"]["n3"]["save_to"] == "custom.sehir"
    assert graph["nodes"]["n4"]["group_id"] == str(booking.id)
    assert (graph["nodes"]["n3"]["x"], graph["nodes"]["n3"]["y"]) == (200, 300)
    assert flow.draft_triggers["channel_ids"] == [str(channel.id)]

    # The draft is drawn back from its graph: the same steps and connections after a reload.
    await page.reload()
    await expect(page.locator("#flow-canvas")).to_have_attribute("data-ready", "true")
    await expect(page.locator(".drawflow-node")).to_have_count(5)
    await expect(page.locator("svg.connection")).to_have_count(4)

    # A WhatsApp customer writes: the bot greets them and asks, with reply buttons.
    wa_id = "90532" + str(uuid.uuid4().int)[:7]
    await simulator.deliver(*simulator.customer_message("Merhaba", wa_id=wa_id,
                                                        name="Ayşe Hasta"))
    await _until(lambda: any("interactive" in s.body for s in simulator.state.sent))
    texts = [s.body["text"]["body"] for s in simulator.state.sent if "text" in s.body]
    assert texts == ["Merhaba! Gülüş Kliniği'ne hoş geldiniz."]
    (offer,) = [s.body["interactive"] for s in simulator.state.sent if "interactive" in s.body]
    assert offer["body"]["text"] == "Size nasıl yardımcı olabiliriz?"
    buttons = [b["reply"] for b in offer["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Randevu", "Fiyat bilgisi"]

    # They tap "Randevu", then type their city.
    tap = {"type": "interactive", "interactive": {"type": "button_reply",
                                                  "button_reply": buttons[0]}}
    await simulator.deliver(*simulator.customer_message(wa_id=wa_id, name="Ayşe Hasta",
                                                        message=tap))
    await _until(lambda: any(s.body.get("text", {}).get("body") == "Hangi şehirdesiniz?"
                             for s in simulator.state.sent))
    await simulator.deliver(*simulator.customer_message("İzmir", wa_id=wa_id,
                                                        name="Ayşe Hasta"))
    handoff_text = "Sizi randevu ekibimize aktarıyorum."
    await _until(lambda: any(s.body.get("text", {}).get("body") == handoff_text
                             for s in simulator.state.sent))

    async def handed_off() -> Conversation | None:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            conversation = await session.scalar(select(Conversation).where(
                Conversation.tenant_id == home.tenant_id,
                Conversation.channel_id == channel.id))
            return conversation if conversation and not conversation.held_by_bot else None
    for _ in range(200):
        if (conversation := await handed_off()) is not None:
            break
        await asyncio.sleep(0.05)
    assert conversation is not None and conversation.group_id == booking.id
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.get_one(Contact, conversation.contact_id)
        flow_session = await session.scalar(select(FlowSession).where(
            FlowSession.conversation_id == conversation.id))
    assert contact.custom_fields["sehir"] == "İzmir"
    assert (flow_session.state, flow_session.end_reason) == ("ended", "handed_off")

    # In the inbox: the conversation in the Randevu group, the bot's messages labelled, the
    # city on the contact card.
    await page.goto(f"/inbox?tab=all&c={conversation.id}")
    await expect(page.locator("#thread-header")).to_contain_text("Randevu")
    await expect(page.locator("#bot-bar")).to_have_count(0)
    await expect(page.locator(".msg-bot .sender-bot").first).to_be_visible()
    await expect(page.locator("#cf-sehir")).to_have_value("İzmir")
    await page.screenshot(path=str(artifacts / "flow-builder-handoff.png"))

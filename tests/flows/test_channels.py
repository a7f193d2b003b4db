"""A question as each channel draws it, end to end through the providers' simulators: WhatsApp
reply buttons and lists (Meta's interactive payloads as the Graph API stub receives them, the
customer's tap coming back as a webhook), Telegram's inline keyboard (tapped through a callback
query), and numbered options on SMS."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.telegram import TelegramAdapter
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.telegram import create_simulator as telegram_simulator
from invekto.flows.models import FlowSession
from invekto.inbox.models import Conversation, Message
from tests.channels.harness import (
    WHATSAPP_APP_SECRET,
    WHATSAPP_NUMBER_ID,
    ChannelWorld,
    whatsapp_simulated,
)
from tests.flows.conftest import Customer, make_flow

MENU = {"start": "menu", "nodes": {
    "menu": {"type": "question", "text": "Size nasıl yardımcı olabiliriz?", "style": "buttons",
             "options": [{"id": "fiyat", "title": "Fiyat bilgisi", "next": "services"},
                         {"id": "randevu", "title": "Randevu", "next": "bye"}]},
    "services": {"type": "question", "text": "Hangi tedavi?", "style": "list",
                 "button": "Tedaviler", "save_as": "tedavi", "options": [
                     {"id": f"s{n}", "title": title, "next": "bye"}
                     for n, title in enumerate(["Dolgu", "İmplant", "Ortodonti", "Beyazlatma"],
                                               1)]},
    "bye": {"type": "end", "text": "Teşekkürler! {{ var.tedavi }}"}}}


@pytest.fixture
async def wa(world, app):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id=WHATSAPP_NUMBER_ID,
            settings={"api_base_url": "http://graph.simulator"},
            credentials={"app_secret": WHATSAPP_APP_SECRET, "access_token": "EAAG-test"}))
    async with whatsapp_simulated(app, home, channel.id) as simulated:
        yield simulated


@pytest.fixture
async def telegram(world, app):
    home = world.home
    token, secret = "123456789:AAH-test-token-telegram-0123456789ab", "Flow_Secret_123"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="telegram", name="Telegram", settings={"api_base_url": "http://tg.simulator"},
            credentials={"bot_token": token, "webhook_token": secret}))
    simulator = telegram_simulator(
        token, webhook_url=f"http://testserver/webhooks/telegram/{channel.id}",
        secret_token=secret, webhook_transport=httpx.ASGITransport(app=app))
    original = adapters.adapter_for("telegram")
    adapters.register(TelegramAdapter(transport=httpx.ASGITransport(app=simulator)))
    try:
        yield ChannelWorld(home, channel.id, simulator, "telegram")
    finally:
        adapters.register(original)


async def bot_messages(world: ChannelWorld) -> list[Message]:
    return await world.rows(select(Message).where(
        Message.channel_id == world.channel_id, Message.direction == "outbound"
    ).order_by(Message.created_at, Message.id))


async def test_whatsapp_gets_reply_buttons_and_a_list_and_taps_answer_them(wa):
    home = wa.home
    await make_flow(home, MENU)
    first = await wa.customer_writes("Merhaba")
    (question,) = await bot_messages(wa)
    assert (question.content_kind, question.sender_kind) == ("interactive", "bot")
    await wa.deliver_reply(question.id)
    sent = wa.simulator.state.sent[-1].body
    assert sent["type"] == "interactive"
    assert sent["interactive"]["type"] == "button"
    assert sent["interactive"]["body"] == {"text": "Size nasıl yardımcı olabiliriz?"}
    assert sent["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "menu:fiyat", "title": "Fiyat bilgisi"}},
        {"type": "reply", "reply": {"id": "menu:randevu", "title": "Randevu"}}]

    await wa.deliver(*wa.simulator.customer_message(message={
        "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
            "id": "menu:fiyat", "title": "Fiyat bilgisi"}}}))
    services = (await bot_messages(wa))[-1]
    await wa.deliver_reply(services.id)
    sent = wa.simulator.state.sent[-1].body
    assert sent["interactive"]["type"] == "list"
    assert sent["interactive"]["action"]["button"] == "Tedaviler"
    rows = sent["interactive"]["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows] == [
        ("services:s1", "Dolgu"), ("services:s2", "İmplant"), ("services:s3", "Ortodonti"),
        ("services:s4", "Beyazlatma")]

    await wa.deliver(*wa.simulator.customer_message(message={
        "type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
            "id": "services:s2", "title": "İmplant"}}}))
    assert (await bot_messages(wa))[-1].body == "Teşekkürler! İmplant"
    flow_session = await wa.scalar(select(FlowSession).where(
        FlowSession.conversation_id == first.conversation_id))
    assert flow_session.end_reason == "completed"


async def test_telegram_gets_an_inline_keyboard_and_a_tap_answers(telegram):
    home = telegram.home
    await make_flow(home, MENU)
    await telegram.deliver(*telegram.simulator.customer_message("Merhaba"))
    (question,) = await bot_messages(telegram)
    await telegram.deliver_reply(question.id)
    sent = telegram.simulator.state.sent[-1]
    assert sent.params["text"] == "Size nasıl yardımcı olabiliriz?"
    keyboard = sent.params["reply_markup"]["inline_keyboard"]
    assert [[(b["text"], b["callback_data"]) for b in row] for row in keyboard] == [
        [("Fiyat bilgisi", "menu:fiyat")], [("Randevu", "menu:randevu")]]
    await telegram.deliver(*telegram.simulator.callback("menu:randevu", sent.message_id))
    assert (await bot_messages(telegram))[-1].body == "Teşekkürler!"  # stored trimmed


async def test_telegram_draws_a_list_as_one_button_a_row_and_a_tapped_row_answers(telegram):
    home = telegram.home
    await make_flow(home, MENU)
    await telegram.deliver(*telegram.simulator.customer_message("Merhaba"))
    (question,) = await bot_messages(telegram)
    await telegram.deliver_reply(question.id)
    await telegram.deliver(*telegram.simulator.callback(
        "menu:fiyat", telegram.simulator.state.sent[-1].message_id))
    listed = (await bot_messages(telegram))[-1]
    await telegram.deliver_reply(listed.id)
    sent = telegram.simulator.state.sent[-1]
    assert sent.params["text"] == "Hangi tedavi?"
    keyboard = sent.params["reply_markup"]["inline_keyboard"]
    assert [[(b["text"], b["callback_data"]) for b in row] for row in keyboard] == [
        [("Dolgu", "services:s1")], [("İmplant", "services:s2")],
        [("Ortodonti", "services:s3")], [("Beyazlatma", "services:s4")]]
    await telegram.deliver(*telegram.simulator.callback("services:s2", sent.message_id))
    assert (await bot_messages(telegram))[-1].body == "Teşekkürler! İmplant"


async def test_sms_numbers_the_options_and_a_number_or_a_title_answers(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sms = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8503000000"))
    await make_flow(home, MENU)
    ayse = Customer(home, "905321112233", channel_id=sms.id)
    await ayse.says("Merhaba", phone="+905321112233")
    (question,) = await ayse.sent()
    assert question.content_kind == "text"
    lines = question.body.split("\n")
    assert lines[:4] == ["Size nasıl yardımcı olabiliriz?", "", "1. Fiyat bilgisi",
                         "2. Randevu"]
    assert len(lines) == 6 and lines[5]  # and how to answer
    await ayse.says("1")
    services = (await ayse.sent())[-1]
    assert services.body.split("\n")[2:6] == ["1. Dolgu", "2. İmplant", "3. Ortodonti",
                                              "4. Beyazlatma"]
    await ayse.says("implant")
    assert (await ayse.heard())[-1] == "Teşekkürler! İmplant"


async def test_a_step_that_fails_hands_off_and_keeps_the_customers_message(wa):
    """WhatsApp refuses a question body over 1,024 characters; a long captured answer makes
    this one too long: the step fails in its savepoint, the session ends as failed and a person
    takes over, with everything the customer wrote kept."""
    home = wa.home
    await make_flow(home, {"start": "a", "nodes": {
        "a": {"type": "input", "text": "Şikayetiniz?", "save_to": "var.a", "next": "b"},
        "b": {"type": "input", "text": "Devamı?", "save_to": "var.b", "next": "ok"},
        "ok": {"type": "question", "text": "{{ var.a }} {{ var.b }} Doğru mu?",
               "style": "buttons", "options": [{"id": "e", "title": "Evet", "next": None}]}}})
    first = await wa.customer_writes("Merhaba")
    await wa.customer_writes("ş" * 600)
    await wa.customer_writes("ü" * 600)
    flow_session = await wa.scalar(select(FlowSession).where(
        FlowSession.conversation_id == first.conversation_id))
    assert (flow_session.state, flow_session.end_reason) == ("ended", "failed")
    assert flow_session.variables == {"a": "ş" * 600}  # the failed turn left nothing
    assert [m.body for m in await bot_messages(wa)] == ["Şikayetiniz?", "Devamı?"]
    conversation = await wa.scalar(select(Conversation).where(
        Conversation.id == first.conversation_id))
    assert not conversation.held_by_bot and conversation.waiting_since is not None
    inbound = await wa.rows(select(Message).where(
        Message.conversation_id == first.conversation_id, Message.direction == "inbound"))
    assert sorted(m.body for m in inbound) == ["Merhaba", "ü" * 600, "ş" * 600]

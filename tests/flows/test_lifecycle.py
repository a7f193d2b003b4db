"""A flow's life around conversations: what starts it (the first message, a keyword, a
click-to-chat code, a rule), version pinning across a publish, the escape word, people taking
over mid-flow (by writing, by the take-over route, by closing), and routing waiting while the
bot holds the conversation."""

from __future__ import annotations

import uuid

from invekto.flows import service as flows
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation
from invekto.inbox.schemas import MessageSend
from tests.flows.conftest import Customer, make_flow, republish
from tests.routing.team import join_group, online, route

ASK = {"start": "ask", "nodes": {
    "ask": {"type": "input", "text": "Adınız nedir?", "save_to": "var.ad", "next": "bye"},
    "bye": {"type": "end", "text": "Teşekkürler {{ var.ad }}"}}}


def saying(text: str) -> dict:
    return {"start": "m", "nodes": {"m": {"type": "message", "text": text, "next": None}}}


async def test_the_first_message_keywords_and_codes_start_the_newest_matching_flow(world):
    home = world.home
    await make_flow(home, saying("Hoş geldiniz (eski)"), triggers={"first_message": True})
    await make_flow(home, saying("Hoş geldiniz"), triggers={"first_message": True})
    await make_flow(home, saying("Fiyat listemiz"), triggers={"keywords": ["fiyat"]})
    await make_flow(home, saying("Kampanya akışı"), triggers={"ref_codes": ["KLINIK1"]})

    first = Customer(home)
    await first.says("Selam")
    assert await first.heard() == ["Hoş geldiniz"]  # the newest of the first-message flows
    assert (await first.session()).started_by == "first_message"

    priced = Customer(home)
    await priced.says("FİYATLARINIZ nedir?")  # a keyword wins over the first message
    assert await priced.heard() == ["Fiyat listemiz"]
    assert (await priced.session()).started_by == "keyword"

    came_by_ad = Customer(home)
    await came_by_ad.says("Merhaba", referral={"source": "ad", "ref": "klinik1"})
    assert await came_by_ad.heard() == ["Kampanya akışı"]
    assert (await came_by_ad.session()).started_by == "ref_code"

    # In the conversation already going, the keyword starts its flow again later.
    await first.says("fiyat?")
    assert await first.heard() == ["Hoş geldiniz", "Fiyat listemiz"]
    # Channels named in the triggers narrow them.
    other = await make_flow(home, saying("Sadece WhatsApp"), triggers={
        "keywords": ["whatsapp"], "channel_ids": [str(uuid.uuid4())]}, publish=False)
    published = await home.sevgi.client.post(f"/api/v1/flows/{other['id']}/publish")
    assert published.status_code == 422
    assert published.json()["error"]["field"] == "triggers.channel_ids.0"


async def test_a_switched_off_or_unpublished_flow_starts_nothing(world):
    home = world.home
    flow = await make_flow(home, saying("Merhaba"))
    await make_flow(home, saying("Taslak"), triggers={"keywords": ["taslak"]}, publish=False)
    response = await home.sevgi.client.put(f"/api/v1/flows/{flow['id']}/enabled",
                                           json={"enabled": False})
    assert response.status_code == 200 and response.json()["enabled"] is False
    ayse = Customer(home)
    await ayse.says("taslak")
    assert await ayse.heard() == []
    assert await ayse.sessions() == []
    assert not (await ayse.conversation()).held_by_bot


async def test_a_rule_starts_a_flow_once(world):
    home = world.home
    flow = await make_flow(home, ASK, triggers={})
    response = await home.sevgi.client.post("/api/v1/automation/rules", json={
        "name": "Kampanya", "event": "message_received",
        "conditions": {"field": "message.text", "op": "contains_any", "value": ["kampanya"]},
        "actions": [{"type": "start_flow", "flow_id": flow["id"]}]})
    assert response.status_code == 201, response.text
    ayse = Customer(home)
    await ayse.says("Kampanya var mı?")
    assert await ayse.heard() == ["Adınız nedir?"]
    assert (await ayse.session()).started_by == "rule"
    # While it runs, starting it again does nothing.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.get_one(Conversation, ayse.conversation_id)
        assert await flows.start_flow(session, conversation, uuid.UUID(flow["id"]),
                                      started_by="rule") is None
    await ayse.says("Ayşe")
    assert await ayse.heard() == ["Adınız nedir?", "Teşekkürler Ayşe"]
    assert len(await ayse.sessions()) == 1


async def test_a_running_conversation_finishes_on_its_version_new_ones_get_the_new(world):
    home = world.home
    flow = await make_flow(home, ASK)
    early = Customer(home)
    await early.says("Merhaba")
    version = await republish(home, flow["id"], {"start": "ask", "nodes": {
        "ask": {"type": "input", "text": "İsminiz?", "save_to": "var.ad", "next": "bye"},
        "bye": {"type": "end", "text": "Sağ olun {{ var.ad }}"}}})
    assert version["number"] == 2
    await early.says("Ayşe")
    assert await early.heard() == ["Adınız nedir?", "Teşekkürler Ayşe"]  # still version 1
    late = Customer(home)
    await late.says("Merhaba")
    await late.says("Mehmet")
    assert await late.heard() == ["İsminiz?", "Sağ olun Mehmet"]
    assert (await late.session()).flow_version_id == uuid.UUID(version["id"])
    versions = await home.sevgi.client.get(f"/api/v1/flows/{flow['id']}/versions")
    assert [v["number"] for v in versions.json()] == [2, 1]


async def test_an_escape_word_hands_over_but_a_tapped_option_is_an_answer(world):
    home = world.home
    await make_flow(home, {"start": "menu", "nodes": {
        "menu": {"type": "question", "text": "Nasıl yardımcı olalım?", "style": "buttons",
                 "options": [{"id": "t", "title": "Temsilciye bağlan", "next": "ok"},
                             {"id": "f", "title": "Fiyatlar", "next": "ok"}]},
        "ok": {"type": "input", "text": "Adınız?", "save_to": "var.ad", "next": None}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    await ayse.taps("menu:t", "Temsilciye bağlan")  # the option, though "temsilci" escapes
    assert (await ayse.heard())[-1] == "Adınız?"
    await ayse.says("Bir İNSANLA görüşmek istiyorum")
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "escaped")
    conversation = await ayse.conversation()
    assert not conversation.held_by_bot and conversation.waiting_since is not None
    # The company's own words replace the defaults.
    response = await home.sevgi.client.put("/api/v1/bot-settings",
                                           json={"escape_words": ["yetkili", " yetkili "]})
    assert response.status_code == 200 and response.json() == {"escape_words": ["yetkili"]}
    assert (await home.bora.client.put("/api/v1/bot-settings", json={
        "escape_words": ["x"]})).status_code == 403
    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    await mehmet.says("insan lütfen")  # no longer an escape word: an answer to the question
    assert (await mehmet.session()).state == "waiting"
    await mehmet.says("yetkiliyle görüşeyim")
    assert (await mehmet.session()).end_reason == "escaped"


async def test_an_agent_writing_takes_over_and_the_route_takes_it_for_them(world):
    home = world.home
    await make_flow(home, ASK)
    ayse = Customer(home)
    await ayse.says("Merhaba")
    response = await home.bora.client.post(
        f"/api/v1/conversations/{ayse.conversation_id}/messages", json={"body": "Ben Bora"})
    assert response.status_code == 201, response.text
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "taken_over")
    conversation = await ayse.conversation()
    assert not conversation.held_by_bot and conversation.assignee_id == home.bora.user_id
    await ayse.says("Ayşe")  # nothing answers but Bora now
    assert await ayse.heard() == ["Adınız nedir?", "Ben Bora"]
    ended = (await ayse.bot_events())[-1]
    assert ended["action"] == "ended" and ended["reason"] == "taken_over"

    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    bot = await home.deniz.client.get(f"/api/v1/conversations/{mehmet.conversation_id}/bot")
    assert bot.status_code == 200 and bot.json()["state"] == "waiting"
    assert bot.json()["node_id"] == "ask"
    taken = await home.deniz.client.post(
        f"/api/v1/conversations/{mehmet.conversation_id}/bot/take-over")
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee_id"] == str(home.deniz.user_id)
    assert (await mehmet.session()).end_reason == "taken_over"
    again = await home.deniz.client.post(
        f"/api/v1/conversations/{mehmet.conversation_id}/bot/take-over")
    assert again.status_code == 409
    assert (await home.deniz.client.get(
        f"/api/v1/conversations/{mehmet.conversation_id}/bot")).status_code == 404
    # Charlie's people see nothing of it.
    theirs = world.charlie.people["ayla"].client
    assert (await theirs.get(f"/api/v1/conversations/{ayse.conversation_id}/bot")
            ).status_code == 404


async def test_closing_the_conversation_ends_the_bot_quietly(world):
    home = world.home
    await make_flow(home, ASK)
    ayse = Customer(home)
    await ayse.says("Merhaba")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.close(session, home.system, ayse.conversation_id)
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "conversation_closed")
    conversation = await ayse.conversation()
    assert conversation.status == "closed" and conversation.assignee_id is None


async def test_routing_waits_while_the_bot_holds_and_routes_at_the_handoff(world):
    home = world.home
    await join_group(home, "deniz")
    await online(home, "bora", "deniz")
    await route(home)
    await make_flow(home, {"start": "ask", "nodes": {
        "ask": {"type": "input", "text": "Adınız?", "save_to": "contact.name",
                "next": "handoff"},
        "handoff": {"type": "handoff", "group_id": str(home.group_id),
                    "note": "Yeni müşteri: {{ contact.name }}"}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    conversation = await ayse.conversation()
    assert conversation.held_by_bot and conversation.assignee_id is None
    assert conversation.group_id is None
    await ayse.says("Ayşe Kaya")
    conversation = await ayse.conversation()
    assert not conversation.held_by_bot
    assert conversation.assignee_id in (home.bora.user_id, home.deniz.user_id)
    assert conversation.group_id == home.group_id
    assert await ayse.notes() == ["Yeni müşteri: Ayşe Kaya"]
    # The agent who got it sees the bot's messages and the customer's.
    agent = "bora" if conversation.assignee_id == home.bora.user_id else "deniz"
    response = await home.people[agent].client.get(
        f"/api/v1/conversations/{ayse.conversation_id}/messages")
    assert response.status_code == 200, response.text
    assert [(m["sender_kind"], m["body"]) for m in reversed(response.json()["items"])] == [
        ("contact", "Merhaba"), ("bot", "Adınız?"), ("contact", "Ayşe Kaya")]


async def test_a_system_reply_does_not_stop_the_bot(world):
    """Automatic messages (a rule's, a follow-up's) are nobody in person: the bot goes on."""
    home = world.home
    await make_flow(home, ASK)
    ayse = Customer(home)
    await ayse.says("Merhaba")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.get_one(Conversation, ayse.conversation_id)
        await inbox.send_automatic(session, conversation, MessageSend(body="Bilgi notu"))
    assert (await ayse.session()).state == "waiting"

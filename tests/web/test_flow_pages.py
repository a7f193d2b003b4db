"""The chatbot pages (settings → Chatbot flows) and the inbox's bot indicator: who may open them,
the list (published version, on/off, conversations running), a new flow from a template, the
escape words, the builder's data and its JSON routes (save, publish naming the step at fault in
the user's language, the test chat), and an agent taking a conversation over from the bot.
Assertions are on ids, data attributes and values, not on translated wording."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid

from sqlalchemy import select

from invekto.contacts import service as contacts
from invekto.contacts.schemas import CustomFieldCreate
from invekto.flows import service as flows
from invekto.flows.models import Flow, FlowSession
from invekto.flows.schemas import FlowCreate
from invekto.inbox.models import Conversation, Message
from tests.factories import Company, Person

HX = {"hx-request": "true"}


async def html(person: Person, path: str, *, expect: int = 200, htmx: bool = False) -> str:
    response = await person.client.get(path, headers=HX if htmx else {})
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def builder_data(page: str) -> dict:
    match = re.search(r'<script id="flow-data" type="application/json">(.*?)</script>', page,
                      re.S)
    assert match, "no flow data in the page"
    return json.loads(match.group(1))


def error_for(page: str, field: str) -> str:
    match = re.search(rf'data-error-for="{re.escape(field)}">([^<]+)<', page)
    assert match, f"no error shown for {field}"
    return html_lib.unescape(match.group(1))


async def new_flow(company: Company, name: str = "Karşılama", template: str | None = None
                   ) -> uuid.UUID:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        flow = await flows.create_flow(session, company.system,
                                       FlowCreate(name=name, template=template))
    return flow.id


async def with_city_field(company: Company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await contacts.create_custom_field(session, company.system, CustomFieldCreate(
            key="sehir", label="Şehir", field_type="text"))


def greeting(group_id: uuid.UUID, *, save_to: str = "custom.sehir") -> dict:
    """What the builder sends for: a welcome, a question with two options (one asks the city and
    hands off to the group, the other ends), as drawn (positions kept)."""
    return {"start": "n1", "nodes": {
        "n1": {"type": "message", "text": "Merhaba {{ contact.first_name }}!", "next": "n2",
               "x": 40, "y": 80},
        "n2": {"type": "question", "text": "Nasıl yardımcı olabiliriz?", "style": "buttons",
               "options": [{"id": "o1", "title": "Randevu", "next": "n3"},
                           {"id": "o2", "title": "Hiçbiri", "next": "n5"}],
               "save_as": None, "timeout_minutes": None, "timeout_next": None,
               "invalid_text": "", "x": 300, "y": 80},
        "n3": {"type": "input", "text": "Hangi şehirdesiniz?", "save_to": save_to,
               "validate": "text", "invalid_text": "", "timeout_minutes": None,
               "timeout_next": None, "next": "n4", "x": 560, "y": 40},
        "n4": {"type": "handoff", "group_id": str(group_id), "note": "Şehir: {{ contact.name }}",
               "text": "Sizi bir temsilcimize aktarıyorum.", "x": 820, "y": 40},
        "n5": {"type": "end", "text": "İyi günler!", "x": 560, "y": 220},
    }}


TRIGGERS = {"channel_ids": [], "first_message": True, "keywords": ["randevu"], "ref_codes": []}


async def test_the_pages_render_for_a_supervisor(world):
    home = world.home
    listing = await html(home.sevgi, "/flows")
    assert 'id="no-flows"' in listing and 'id="new-flow-form"' in listing
    assert re.search(r'href="/flows" data-section="flows"\s+aria-current="page"', listing)
    default_words = re.search(r'id="escape-words-input" name="escape_words" maxlength="2000"\s+'
                              r'value="([^"]*)"', listing).group(1)
    assert default_words  # the defaults until the company chooses its own

    response = await home.sevgi.client.post("/flows", data={"name": "Klinik asistanı",
                                                            "template": "clinic"})
    assert response.status_code == 303, response.text
    flow_id = uuid.UUID(response.headers["location"].removeprefix("/flows/"))
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow = await session.get_one(Flow, flow_id)
    assert flow.draft["nodes"]  # the clinic's steps

    page = await html(home.sevgi, f"/flows/{flow_id}")
    data = builder_data(page)
    assert data["flow"] == {"id": str(flow_id), "name": "Klinik asistanı",
                            "published_version": None}
    assert data["graph"] == flow.draft and data["triggers"] == flow.draft_triggers
    kinds = [k["kind"] for k in data["kinds"]]
    assert kinds[:9] == ["message", "question", "input", "condition", "set", "http", "handoff",
                         "wait", "end"]
    assert "lookup" in kinds  # the integrations offer the order look-up
    assert [f["field"] for f in data["catalogue"]["fields"]].count("var.*") == 1
    assert data["choices"]["groups"] == [{"value": str(home.group_id), "label": "Resepsiyon"}]
    assert set(data["labels"]["exits"]) >= {"next", "timeout_next", "error_next", "else_next"}
    for asset in ("/static/drawflow/drawflow.min.js", "/static/drawflow/drawflow.min.css",
                  "/static/app/flow_builder.js", "/static/app/automation.js"):
        assert asset in page
    assert (await home.sevgi.client.get("/static/drawflow/drawflow.min.js")).status_code == 200
    assert 'data-kind="question"' in page and 'x-data="flowBuilder"' in page

    listing = await html(home.sevgi, "/flows")
    row = re.search(rf'id="flow-{flow_id}"(.*?)</tr>', listing, re.S).group(0)
    assert 'data-version=""' in row and 'data-running="0"' in row and "Klinik asistanı" in row


async def test_agents_are_refused_every_flow_page(world):
    home = world.home
    flow_id = await new_flow(home)
    for agent in (home.bora, home.deniz):
        for path in ("/flows", f"/flows/{flow_id}"):
            page = await html(agent, path, expect=403)
            assert 'id="settings-forbidden"' in page
        for path, body in ((f"/flows/{flow_id}/draft", {"graph": {"nodes": {}}}),
                           (f"/flows/{flow_id}/publish", {}), (f"/flows/{flow_id}/test", {})):
            response = await agent.client.post(path, json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        for path in (f"/flows/{flow_id}/enabled", f"/flows/{flow_id}/delete"):
            assert (await agent.client.post(path, headers=HX)).status_code == 403
        assert (await agent.client.post("/flows", data={"name": "Yeni"})).status_code == 403
        assert (await agent.client.post("/flows/escape-words",
                                        data={"escape_words": "x"})).status_code == 403
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert [f.name for f in (await session.scalars(select(Flow).where(
            Flow.tenant_id == home.tenant_id))).all()] == ["Karşılama"]


async def test_refusals_on_the_list_are_shown_beside_their_field(world):
    home = world.home
    await new_flow(home, "Karşılama")
    response = await home.sevgi.client.post("/flows", data={"name": "Karşılama",
                                                            "template": "hotel"})
    assert response.status_code == 409
    assert "Karşılama" in error_for(response.text, "name")
    assert '<option value="hotel" selected>' in response.text

    response = await home.sevgi.client.post("/flows/escape-words", data={"escape_words": " , "})
    assert response.status_code == 422
    assert error_for(response.text, "escape_words")
    response = await home.sevgi.client.post("/flows/escape-words",
                                            data={"escape_words": "insan, Temsilci\nyetkili"})
    assert response.status_code == 200
    assert 'value="insan, Temsilci, yetkili"' in response.text and "data-saved" in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await flows.escape_words(session, home.tenant_id) == [
            "insan", "Temsilci", "yetkili"]


async def test_the_builder_saves_publishes_and_names_the_step_at_fault(world):
    home = world.home
    await with_city_field(home)
    flow_id = await new_flow(home)
    sevgi = home.sevgi
    unknown_field = greeting(home.group_id, save_to="custom.ilce")

    response = await sevgi.client.post(f"/flows/{flow_id}/draft", json={
        "name": "Karşılama akışı", "graph": unknown_field, "triggers": TRIGGERS})
    assert response.status_code == 200, response.text
    assert response.json()["saved"] is True
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow = await session.get_one(Flow, flow_id)
    assert (flow.name, flow.draft["nodes"]["n3"]["x"]) == ("Karşılama akışı", 560)
    assert flow.draft_triggers["keywords"] == ["randevu"]

    # Publishing a step that saves into a field the company has not defined: refused, naming
    # it, in the user's language; the draft stays saved.
    response = await sevgi.client.post(f"/flows/{flow_id}/publish", json={
        "graph": unknown_field, "triggers": TRIGGERS})
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["field"] == "graph.nodes.n3.save_to" and body["saved"] is True
    turkish = body["error"]["message"]
    assert (await sevgi.client.post("/me/language", data={"language": "en"})).status_code == 303
    response = await sevgi.client.post(f"/flows/{flow_id}/publish", json={
        "graph": unknown_field, "triggers": TRIGGERS})
    assert response.json()["error"]["message"] == "no custom field 'ilce' is defined"
    assert turkish  # (its translation is the lead's: the catalogue may still miss it)

    response = await sevgi.client.post(f"/flows/{flow_id}/draft", json={"graph": {"nodes": {
        "bad id!": {"type": "message"}}}})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "graph.nodes.bad id!")

    response = await sevgi.client.post(f"/flows/{flow_id}/publish", json={
        "graph": greeting(home.group_id), "triggers": TRIGGERS})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1 and response.json()["message"]
    listing = await html(sevgi, "/flows")
    assert re.search(rf'id="flow-{flow_id}".*?data-version="1"', listing, re.S)
    assert builder_data(await html(sevgi, f"/flows/{flow_id}"))["flow"]["published_version"] == 1


async def test_the_test_chat_runs_the_saved_draft(world):
    home = world.home
    await with_city_field(home)
    flow_id = await new_flow(home)
    await home.sevgi.client.post(f"/flows/{flow_id}/draft", json={
        "graph": greeting(home.group_id), "triggers": TRIGGERS})

    async def turn(**body) -> dict:
        response = await home.sevgi.client.post(f"/flows/{flow_id}/test", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    first = await turn(state=None)
    assert [r["text"] for r in first["replies"]][-1] == "Nasıl yardımcı olabiliriz?"
    choices = first["replies"][-1]["choices"]
    assert [c["title"] for c in choices] == ["Randevu", "Hiçbiri"]
    assert [t["node"] for t in first["trail"]][:2] == ["n1", "n2"]
    second = await turn(state=first["state"], choice_id=choices[0]["id"])
    assert second["replies"][-1]["text"] == "Hangi şehirdesiniz?"
    third = await turn(state=second["state"], text="İzmir")
    assert third["handoff"]["group_id"] == str(home.group_id)
    assert "Resepsiyon" in third["handoff_text"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.scalars(select(FlowSession).where(
            FlowSession.tenant_id == home.tenant_id))).all() == []  # nothing ran for real


async def test_the_list_switches_and_deletes_flows(world):
    home = world.home
    first, second = await new_flow(home, "Bir"), await new_flow(home, "İki")
    fragment = (await home.sevgi.client.post(f"/flows/{first}/enabled", headers=HX)).text
    assert "<html" not in fragment
    assert re.search(rf'id="flow-{first}" data-flow-id="{first}" data-enabled="false"', fragment)
    fragment = (await home.sevgi.client.post(f"/flows/{first}/enabled", data={"enabled": "on"},
                                             headers=HX)).text
    assert re.search(rf'id="flow-{first}" data-flow-id="{first}" data-enabled="true"', fragment)
    fragment = (await home.sevgi.client.post(f"/flows/{second}/delete", headers=HX)).text
    assert f'id="flow-{second}"' not in fragment and f'id="flow-{first}"' in fragment


async def test_another_companys_flow_is_a_404(world):
    theirs = await new_flow(world.charlie, "Charlie'nin akışı")
    sevgi = world.home.sevgi
    assert (await sevgi.client.get(f"/flows/{theirs}")).status_code == 404
    for path in ("draft", "publish", "test"):
        response = await sevgi.client.post(f"/flows/{theirs}/{path}", json={"graph": {}})
        assert response.status_code == 404, path
    assert (await sevgi.client.post(f"/flows/{theirs}/delete", headers=HX)).status_code == 404


async def test_the_inbox_shows_the_bot_and_an_agent_takes_over(world):
    """A published flow takes a web-chat customer's first message: the conversation shows the
    bot's badge and bar, the bot's message is labelled as the bot's; "Take over" stops it."""
    home = world.home
    await with_city_field(home)
    flow_id = await new_flow(home)
    response = await home.sevgi.client.post(f"/flows/{flow_id}/publish", json={
        "graph": greeting(home.group_id), "triggers": TRIGGERS})
    assert response.status_code == 200, response.text
    message = await home.inbound("Merhaba")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.get_one(Conversation, message.conversation_id)
        bot_messages = (await session.scalars(select(Message).where(
            Message.conversation_id == conversation.id, Message.sender_kind == "bot"))).all()
    assert conversation.held_by_bot and bot_messages

    inbox = await html(home.sevgi, f"/inbox?tab=all&c={conversation.id}")
    row = re.search(rf'id="row-{conversation.id}"(.*?)</a>', inbox, re.S).group(0)
    assert "bot-badge" in row
    assert 'id="bot-bar"' in inbox
    assert f'hx-post="/inbox/c/{conversation.id}/bot/take-over"' in inbox
    bubble = re.search(rf'id="message-{bot_messages[0].id}"(.*?)</time>', inbox, re.S).group(0)
    assert "sender-bot" in bubble
    started = re.search(r'data-kind="bot">(.*?)</div>', inbox, re.S).group(1)
    assert "Karşılama" in started  # the flow's name
    listing = await html(home.sevgi, "/flows")
    assert re.search(rf'id="flow-{flow_id}".*?data-running="1"', listing, re.S)

    response = await home.sevgi.client.post(f"/inbox/c/{conversation.id}/bot/take-over",
                                            headers=HX)
    assert response.status_code == 200, response.text
    assert 'id="bot-bar"' not in response.text and 'id="thread-header"' in response.text
    assert 'data-kind="bot"' in response.text  # the takeover's line, for the thread
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.get_one(Conversation, conversation.id)
        flow_session = await session.scalar(select(FlowSession).where(
            FlowSession.conversation_id == conversation.id))
    assert not conversation.held_by_bot and conversation.assignee_id == home.sevgi.user_id
    assert (flow_session.state, flow_session.end_reason) == ("ended", "taken_over")
    again = await home.sevgi.client.post(f"/inbox/c/{conversation.id}/bot/take-over",
                                         headers=HX)
    assert again.status_code == 409

"""The flows API: creating (empty or from a template), saving drafts (shape only), publishing
(everything checked, each refusal naming its field), versions, switching off and deleting,
the builder's test panel (the draft in memory: nothing sent or written), the ready-made
templates, and who may do what."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from invekto.contacts.models import Contact
from invekto.flows.templates import FLOW_TEMPLATES
from invekto.inbox.models import Message
from tests.flows.conftest import Customer, make_flow

M = {"type": "message", "text": "Merhaba", "next": None}


def q(options: int, *, style: str = "buttons", title: str = "Seçenek") -> dict:
    return {"type": "question", "text": "Hangisi?", "style": style, "button": "Liste",
            "options": [{"id": f"o{n}", "title": f"{title} {n}"[:40], "next": None}
                        for n in range(options)]}


async def test_flows_are_created_saved_published_and_deleted(world):
    home = world.home
    client = home.sevgi.client
    created = await client.post("/api/v1/flows", json={"name": "Karşılama"})
    assert created.status_code == 201, created.text
    flow = created.json()
    assert (flow["draft"], flow["enabled"], flow["published_version_id"]) == (
        {"start": None, "nodes": {}}, True, None)
    assert (await client.post("/api/v1/flows", json={"name": "Karşılama"})).status_code == 409
    saved = await client.patch(f"/api/v1/flows/{flow['id']}", json={
        "name": "Karşılama 2", "graph": {"start": "a", "nodes": {"a": {
            "type": "question", "text": "", "x": 10, "y": 20.5}}},  # incomplete is fine
        "triggers": {"keywords": [" merhaba ", "merhaba"], "first_message": True}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == "Karşılama 2"
    assert saved.json()["draft_triggers"] == {"channel_ids": [], "first_message": True,
                                              "keywords": ["merhaba"], "ref_codes": []}
    refused = await client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "graph.nodes.a.text"
    await client.patch(f"/api/v1/flows/{flow['id']}", json={"graph": {"start": "a", "nodes": {
        "a": M}}})
    published = await client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert published.status_code == 201, published.text
    assert published.json()["number"] == 1
    assert published.json()["triggers"]["keywords"] == ["merhaba"]
    got = await client.get(f"/api/v1/flows/{flow['id']}")
    assert got.json()["published_version_id"] == published.json()["id"]
    assert [f["name"] for f in (await client.get("/api/v1/flows")).json()] == ["Karşılama 2"]

    # Deleting a flow that is talking to someone hands them to people first.
    ayse = Customer(home)
    await ayse.says("merhaba")
    assert (await ayse.heard()) == ["Merhaba"]
    await client.patch(f"/api/v1/flows/{flow['id']}", json={"graph": {"start": "a", "nodes": {
        "a": {"type": "input", "text": "Adınız?", "save_to": "var.ad", "next": None}}}})
    await client.post(f"/api/v1/flows/{flow['id']}/publish")
    mehmet = Customer(home)
    await mehmet.says("merhaba")
    assert (await mehmet.conversation()).held_by_bot
    assert (await client.delete(f"/api/v1/flows/{flow['id']}")).status_code == 204
    assert not (await mehmet.conversation()).held_by_bot
    assert (await mehmet.bot_events())[-1]["why"] == "flow_deleted"
    assert (await client.get(f"/api/v1/flows/{flow['id']}")).status_code == 404
    assert await mehmet.sessions() == []


@pytest.mark.parametrize(("graph", "field"), [
    ({"start": "a", "nodes": {}}, "graph.nodes"),
    ({"start": "zz", "nodes": {"a": M}}, "graph.start"),
    ({"start": "a", "nodes": {"a": {**M, "next": "zz"}}}, "graph.nodes.a.next"),
    ({"start": "a", "nodes": {"a": q(4)}}, "graph.nodes.a.options"),
    ({"start": "a", "nodes": {"a": q(0)}}, "graph.nodes.a.options"),
    ({"start": "a", "nodes": {"a": q(11, style="list")}}, "graph.nodes.a.options"),
    ({"start": "a", "nodes": {"a": q(2, title="Yirmi karakterden uzun")}},
     "graph.nodes.a.options.0.title"),
    ({"start": "a", "nodes": {"a": q(2, style="list", title="Yirmi dört karakteri aşan")}},
     "graph.nodes.a.options.0.title"),
    ({"start": "a", "nodes": {"a": {**q(2, style="list"), "button": ""}}},
     "graph.nodes.a.button"),
    ({"start": "a", "nodes": {"a": {**q(2), "options": [
        {"id": "x", "title": "Evet", "next": None}, {"id": "y", "title": "EVET", "next": None}]}}},
     "graph.nodes.a.options.1.title"),
    ({"start": "a", "nodes": {"a": {**q(1), "options": [
        {"id": "x", "title": "Evet", "next": "yok"}]}}}, "graph.nodes.a.options.0.next"),
    ({"start": "a", "nodes": {"a": {"type": "input", "text": "?", "save_to": "custom.yok"}}},
     "graph.nodes.a.save_to"),
    ({"start": "a", "nodes": {"a": {"type": "input", "text": "?", "save_to": "contact.phone"}}},
     "graph.nodes.a.validate"),
    ({"start": "a", "nodes": {"a": {"type": "input", "text": "?", "save_to": "var.x",
                                    "validate": "regex", "pattern": "(ab"}}},
     "graph.nodes.a.pattern"),
    ({"start": "a", "nodes": {"a": {"type": "input", "text": "?", "save_to": "var.x",
                                    "timeout_next": "a"}}}, "graph.nodes.a.timeout_minutes"),
    ({"start": "a", "nodes": {"a": {**M, "text": "Merhaba {{ contact.yas }}"}}},
     "graph.nodes.a.text"),
    ({"start": "a", "nodes": {"a": {**M, "text": "Merhaba {{ var.tanimsiz }}"}}},
     "graph.nodes.a.text"),
    ({"start": "a", "nodes": {"a": {"type": "handoff", "group_id": str(uuid.uuid4())}}},
     "graph.nodes.a.group_id"),
    ({"start": "a", "nodes": {"a": {"type": "appointment", "next": None}}},
     "graph.nodes.a.type"),
    ({"start": "a", "nodes": {"a": {"type": "http", "url": "ftp://x.example/a"}}},
     "graph.nodes.a.url"),
    ({"start": "a", "nodes": {"a": {"type": "set", "add_tags": ["yok-boyle"]}}},
     "graph.nodes.a.add_tags.0"),
    ({"start": "a", "nodes": {"a": {"type": "wait", "seconds": 0}}}, "graph.nodes.a.seconds"),
    ({"start": "a", "nodes": {"a": {"type": "condition", "branches": [
        {"when": {"field": "message.text", "op": "sounds_like", "value": "x"}, "next": None}]}}},
     "graph.nodes.a.branches.0.when"),
])
async def test_publishing_refuses_an_incomplete_graph_naming_the_field(world, graph, field):
    flow = await make_flow(world.home, graph, publish=False)
    response = await world.home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].startswith(field), response.text


@pytest.mark.parametrize(("graph", "field"), [
    ({"start": "a", "nodes": {"bad id!": M}}, "graph.nodes.bad id!"),
    ({"start": "a", "nodes": {"a": {"text": "tipsiz"}}}, "graph.nodes.a.type"),
    ({"start": "a", "nodes": {"a": {**M, "x": "sol"}}}, "graph.nodes.a.x"),
    ({"start": 5, "nodes": {}}, "graph.start"),
    ({"start": "a", "nodes": []}, "graph.nodes"),
])
async def test_drafts_are_checked_for_their_shape(world, graph, field):
    client = world.home.sevgi.client
    flow = (await client.post("/api/v1/flows", json={"name": "Taslak"})).json()
    response = await client.patch(f"/api/v1/flows/{flow['id']}", json={"graph": graph})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_each_template_publishes_as_it_is(world):
    client = world.home.sevgi.client
    listed = (await client.get("/api/v1/flow-templates")).json()
    assert [t["key"] for t in listed] == ["clinic", "hotel", "ecommerce"]
    for key in FLOW_TEMPLATES:
        created = await client.post("/api/v1/flows", json={"name": key, "template": key})
        assert created.status_code == 201, created.text
        published = await client.post(f"/api/v1/flows/{created.json()['id']}/publish")
        assert published.status_code == 201, (key, published.text)


async def test_the_test_panel_runs_the_draft_without_sending_or_writing(world):
    home = world.home
    client = home.sevgi.client
    flow = (await client.post("/api/v1/flows", json={"name": "Klinik",
                                                     "template": "clinic"})).json()

    async def turn(state, **said):
        response = await client.post(f"/api/v1/flows/{flow['id']}/test",
                                     json={"state": state, **said})
        assert response.status_code == 200, response.text
        return response.json()

    first = await turn(None)
    assert first["replies"][0]["text"].startswith("Merhaba ! Test Kliniği")
    assert [c["title"] for c in first["replies"][1]["choices"]] == [
        "Fiyat bilgisi", "Randevu almak", "Başka bir konu"]
    assert first["state"]["status"] == "waiting" and first["ended"] is None
    step = await turn(first["state"], choice_id="menu:fiyat")
    assert step["replies"][0]["choices"][1]["title"] == "İmplant"
    step = await turn(step["state"], text="2")
    assert step["replies"][0]["text"].startswith("İmplant ücretlerimiz")
    step = await turn(step["state"], text="Ayşe Kaya")
    assert {"node": "name", "type": "", "detail": "would save contact.name = Ayşe Kaya"} \
        in step["trail"]
    step = await turn(step["state"], text="12")
    assert step["replies"] == [{"text": "Lütfen geçerli bir telefon numarası yazın "
                                "(örneğin 0532 123 45 67).", "choices": None,
                                "attachment_id": None}]
    step = await turn(step["state"], text="0532 123 45 67")
    step = await turn(step["state"], timeout=True)  # the date question times out
    assert step["ended"] == "handed_off"
    assert step["handoff"]["note"] == (
        "Randevu talebi\nTedavi: İmplant\nAd soyad: Ayşe Kaya\nTelefon: +905321234567\n"
        "Tercih edilen tarih: ")
    assert step["replies"][0]["text"].startswith("Teşekkürler Ayşe!")
    again = await turn(step["state"])  # an ended state starts over
    assert again["state"]["node"] == "menu"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
        assert await session.scalar(select(func.count()).select_from(Contact)) == 0


async def test_who_may_build_flows_and_who_may_take_over(world):
    home, charlie = world.home, world.charlie
    flow = await make_flow(home, {"start": "a", "nodes": {
        "a": {"type": "input", "text": "Adınız?", "save_to": "var.ad", "next": None}}})
    bora = home.bora.client
    for method, path, body in [
            ("get", "/api/v1/flows", None), ("post", "/api/v1/flows", {"name": "x"}),
            ("get", f"/api/v1/flows/{flow['id']}", None),
            ("patch", f"/api/v1/flows/{flow['id']}", {"name": "y"}),
            ("post", f"/api/v1/flows/{flow['id']}/publish", None),
            ("post", f"/api/v1/flows/{flow['id']}/test", {}),
            ("get", f"/api/v1/flows/{flow['id']}/versions", None),
            ("put", f"/api/v1/flows/{flow['id']}/enabled", {"enabled": False}),
            ("delete", f"/api/v1/flows/{flow['id']}", None),
            ("get", "/api/v1/flow-templates", None), ("get", "/api/v1/flow-step-kinds", None),
            ("get", "/api/v1/bot-settings", None)]:
        response = await bora.request(method.upper(), path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    admin = home.ayla.client
    assert (await admin.get(f"/api/v1/flows/{flow['id']}")).status_code == 200
    assert (await home.sevgi.client.get("/api/v1/bot-settings")).json() == {
        "escape_words": ["agent", "insan", "temsilci", "operatör", "human"]}
    # Charlie's company sees none of it.
    theirs = charlie.people["ayla"].client
    assert (await theirs.get(f"/api/v1/flows/{flow['id']}")).status_code == 404
    assert (await theirs.post(f"/api/v1/flows/{flow['id']}/publish")).status_code == 404
    assert (await theirs.get("/api/v1/flows")).json() == []
    # An agent who sees the conversation may take it over; one who does not, may not.
    ayse = Customer(home)
    await ayse.says("Merhaba")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox import service as inbox

        await inbox.transfer(session, home.system, ayse.conversation_id, user_id=None,
                             group_id=home.group_id)
    deniz = home.deniz.client  # in no group: Resepsiyon's queue is not his
    path = f"/api/v1/conversations/{ayse.conversation_id}/bot"
    assert (await deniz.get(path)).status_code == 404
    assert (await deniz.post(path + "/take-over")).status_code == 404
    assert (await theirs.post(path + "/take-over")).status_code == 404
    taken = await bora.post(path + "/take-over")
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee_id"] == str(home.bora.user_id)


async def test_the_test_panel_takes_a_half_drawn_draft_without_breaking(world):
    """The panel runs drafts, which are only checked for their shape: whatever a node holds,
    the turn answers (a person would take over where the flow cannot go on)."""
    client = world.home.sevgi.client
    flow = (await client.post("/api/v1/flows", json={"name": "Yarım"})).json()
    junk = {"start": "a", "nodes": {
        "a": {"type": "set", "fields": "x", "add_tags": "abc", "next": ["b"]},
        "b": {"type": "question", "text": {"x": 1}, "options": {"o": 1}},
        "c": {"type": "condition", "branches": "x", "else_next": {"n": 1}},
        "d": {"type": "input", "validate": ["regex"], "pattern": {"p": 1}, "save_to": 5},
        "e": {"type": "http", "url": "ftp://x", "headers": [1], "save": [1]}}}
    for start in ("a", "b", "c", "d", "e"):
        saved = await client.patch(f"/api/v1/flows/{flow['id']}",
                                   json={"graph": {**junk, "start": start}})
        assert saved.status_code == 200, saved.text
        first = await client.post(f"/api/v1/flows/{flow['id']}/test", json={})
        assert first.status_code == 200, (start, first.text)
        second = await client.post(f"/api/v1/flows/{flow['id']}/test", json={
            "state": first.json()["state"], "text": "1", "choice_id": "b:o"})
        assert second.status_code == 200, (start, second.text)
    odd = await client.post(f"/api/v1/flows/{flow['id']}/test", json={
        "state": {"node": ["x"], "status": "waiting", "variables": [], "retries": -4}})
    assert odd.status_code == 200, odd.text

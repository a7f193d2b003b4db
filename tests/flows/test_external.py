"""Steps that call out, run by ``flows:advance`` outside the ingest's transaction: an HTTP
request against a local stub server (fields of its JSON answer kept, errors to the error
branch, an overtaken step changing nothing), the minute scan failing a step whose job never
came back, and a look-up an integration registers."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.flows import steps
from invekto.flows.steps import Lookup
from tests.flows.conftest import Customer, later, make_flow, tick
from tests.processes import serving

ORDERS = {"A-100": {"status": "Kargoda", "items": [{"name": "Kazak"}]}}


def shop() -> Starlette:
    seen: list[dict] = []

    async def order(request: Request):
        number = request.path_params["number"]
        key = request.headers.get("x-api-key", "").encode("latin-1").decode()  # sent in UTF-8
        seen.append({"path": request.scope["raw_path"].decode(), "key": key})
        if number not in ORDERS:
            return JSONResponse({"error": "yok"}, status_code=404)
        return JSONResponse({"data": ORDERS[number]})

    async def note(request: Request):
        seen.append({"body": (await request.body()).decode()})
        return JSONResponse({"ok": True, "ticket": 42})

    async def slow(request: Request):
        await asyncio.sleep(3)
        return JSONResponse({})

    app = Starlette(routes=[Route("/orders/{number:path}", order), Route("/notes", note,
                                                                     methods=["POST"]),
                            Route("/slow", slow)])
    app.state.seen = seen
    return app


@pytest.fixture
async def stub():
    app = shop()
    async with serving(app) as url:
        yield url, app.state.seen


def order_flow(url: str) -> dict:
    return {"start": "ask", "nodes": {
        "ask": {"type": "input", "text": "Sipariş numaranız?", "save_to": "var.siparis",
                "next": "fetch"},
        "fetch": {"type": "http", "method": "GET", "url": url + "/orders/{{ var.siparis }}",
                  "headers": {"X-Api-Key": "gizli-{{ company.name }}"},
                  "save": {"durum": "data.status", "urun": "data.items.0.name"},
                  "timeout_seconds": 2, "next": "tell", "error_next": "sorry"},
        "tell": {"type": "message", "text": "{{ var.siparis }}: {{ var.durum }} "
                 "({{ var.urun }})", "next": "log"},
        "log": {"type": "http", "method": "POST", "url": url + "/notes",
                "body": '{"siparis": "{{ var.siparis }}"}', "save": {"bilet": "ticket"},
                "next": "bye"},
        "bye": {"type": "end", "text": "Kayıt no {{ var.bilet }}"},
        "sorry": {"type": "handoff", "note": "Sipariş bulunamadı: {{ var.siparis }}",
                  "text": "Sizi bir temsilciye aktarıyorum."}}}


async def test_an_http_step_keeps_fields_of_the_answer_and_errors_take_the_error_branch(
        world, stub):
    url, seen = stub
    home = world.home
    await make_flow(home, order_flow(url))
    ayse = Customer(home)
    await ayse.says("Merhaba")
    await ayse.says("A-100")
    # The request waits for its job: the ingest's transaction never calls out.
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.node_id) == ("running", "fetch")
    assert seen == []
    assert await ayse.advance()
    assert seen[0] == {"path": "/orders/A-100", "key": "gizli-Test Kliniği"}
    assert (await ayse.session()).node_id == "log"
    assert await ayse.advance()
    assert seen[1] == {"body": '{"siparis": "A-100"}'}
    assert await ayse.heard() == ["Sipariş numaranız?", "A-100: Kargoda (Kazak)",
                                  "Kayıt no 42"]
    flow_session = await ayse.session()
    assert flow_session.end_reason == "completed"
    assert flow_session.variables == {"siparis": "A-100", "durum": "Kargoda", "urun": "Kazak",
                                      "bilet": 42}

    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    await mehmet.says("B 7/7")  # quoted into the address: no other path is reached
    assert await mehmet.advance()
    assert seen[2]["path"] == "/orders/B%207%2F7"
    assert (await mehmet.heard())[-1] == "Sizi bir temsilciye aktarıyorum."
    assert await mehmet.notes() == ["Sipariş bulunamadı: B 7/7"]
    assert (await mehmet.session()).end_reason == "handed_off"
    assert any(t["detail"] == "HTTP 404" for t in (await mehmet.session()).trail)


async def test_a_step_overtaken_before_its_job_changes_nothing(world, stub):
    url, seen = stub
    home = world.home
    await make_flow(home, order_flow(url))
    ayse = Customer(home)
    await ayse.says("Merhaba")
    await ayse.says("A-100")
    pending = await ayse.session()
    await ayse.says("temsilci")  # escapes while the request waits
    from invekto.flows import tasks

    assert not await tasks.advance(tenant_id=str(home.tenant_id), session_id=str(pending.id),
                                   step=pending.step)
    assert seen == []
    assert (await ayse.session()).end_reason == "escaped"
    assert await ayse.heard() == ["Sipariş numaranız?"]


async def test_a_slow_answer_times_out_and_a_lost_job_is_failed_by_the_scan(world, stub):
    url, _seen = stub
    home = world.home
    await make_flow(home, {"start": "ask", "nodes": {
        "ask": {"type": "input", "text": "Sipariş?", "save_to": "var.s", "next": "fetch"},
        "fetch": {"type": "http", "url": url + "/slow", "timeout_seconds": 1, "next": None}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    await ayse.says("A-1")
    assert await ayse.advance()
    flow_session = await ayse.session()
    assert (flow_session.end_reason, flow_session.trail[-2]["detail"]) == ("failed",
                                                                           "timed out")
    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    await mehmet.says("A-2")
    assert await tick(home, later(seconds=30)) == 0
    assert await tick(home, later(minutes=5)) == 1  # its job never ran
    assert (await mehmet.session()).end_reason == "failed"
    assert not (await mehmet.conversation()).held_by_bot


@pytest.fixture
def order_lookup_restored():
    """The integrations' own order look-up is registered at import: the test puts its stand-in
    in its place, and the real one back afterwards."""
    real = steps._LOOKUPS.get("order_status")
    yield
    if real is not None:
        steps.register_lookup(real)


async def test_an_integrations_look_up_answers_or_hands_off(world, order_lookup_restored):
    home = world.home
    asked: list[tuple] = []

    async def find(tenant_id, query):
        asked.append((tenant_id, query))
        return {"summary": "Siparişiniz teslim edildi."} if query == "1234" else None

    steps.register_lookup(Lookup("order_status", "Sipariş durumu", find))
    try:
        created = await home.sevgi.client.post("/api/v1/flows", json={
            "name": "Mağaza", "template": "ecommerce"})
        assert created.status_code == 201, created.text
        flow = created.json()
        assert flow["draft"]["nodes"]["lookup"]["capability"] == "order_status"
        published = await home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/publish")
        assert published.status_code == 201, published.text
        kinds = (await home.sevgi.client.get("/api/v1/flow-step-kinds")).json()
        assert "lookup" in [k["kind"] for k in kinds]

        ayse = Customer(home)
        await ayse.says("Merhaba")
        await ayse.taps("menu:siparis", "Sipariş durumu")
        await ayse.says("1234")
        assert await ayse.advance()
        assert asked == [(home.tenant_id, "1234")]
        assert (await ayse.heard())[-2:] == [
            "Siparişiniz teslim edildi.",
            "Başka bir sorunuz olursa yazmanız yeterli. İyi günler!"]

        mehmet = Customer(home)
        await mehmet.says("Merhaba")
        await mehmet.says("1")  # the first option, by its number
        await mehmet.says("9999")
        assert await mehmet.advance()
        assert (await mehmet.session()).end_reason == "handed_off"
        assert await mehmet.notes() == ["Sipariş durumu soruluyor\nSipariş no: 9999"]
    finally:
        steps.unregister_lookup("order_status")
    # Without the integration the template hands off with the number, and the look-up is gone
    # from the palette; a graph using it cannot be published.
    kinds = (await home.sevgi.client.get("/api/v1/flow-step-kinds")).json()
    assert "lookup" not in [k["kind"] for k in kinds]
    published = await home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert published.status_code == 422
    assert published.json()["error"]["field"] == "graph.nodes.lookup.type"


async def test_the_test_panel_really_calls_http_steps_and_skips_delays(world, stub):
    url, seen = stub
    home = world.home
    graph = order_flow(url)
    graph["nodes"]["ask"]["next"] = "pause"
    graph["nodes"]["pause"] = {"type": "wait", "seconds": 600, "next": "fetch"}
    flow = await make_flow(home, graph, publish=False)
    client = home.sevgi.client
    first = await client.post(f"/api/v1/flows/{flow['id']}/test", json={})
    assert [r["text"] for r in first.json()["replies"]] == ["Sipariş numaranız?"]
    done = await client.post(f"/api/v1/flows/{flow['id']}/test", json={
        "state": first.json()["state"], "text": "A-100"})
    assert done.status_code == 200, done.text
    assert [r["text"] for r in done.json()["replies"]] == ["A-100: Kargoda (Kazak)",
                                                          "Kayıt no 42"]
    assert [s.get("path", "") for s in seen] == ["/orders/A-100", ""]
    details = [t["detail"] for t in done.json()["trail"]]
    assert "waiting 600 s" in details and "delay over" in details and "HTTP 200" in details
    assert done.json()["ended"] == "completed"

"""A flow's HTTP step never reaches inside our network (core/outbound.py): with private
addresses not allowed (production's default), a plainly private URL is refused when the draft
is saved or published, naming the step's field, and a step whose address turns out private when
called (in a conversation or the test panel) takes its error branch, no request made. With
them allowed (the test suite's setting), the stub server is reached."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.flows.conftest import Customer, make_flow
from tests.processes import serving


@pytest.fixture
def private_urls_off(settings, monkeypatch):
    """Production's setting, for this test only; returns a switch to turn them on again."""
    monkeypatch.setattr(settings, "allow_private_urls", False)
    return lambda allowed: monkeypatch.setattr(settings, "allow_private_urls", allowed)


@pytest.fixture
async def stub():
    seen: list[str] = []

    async def status(request: Request):
        seen.append(request.url.path)
        return JSONResponse({"status": "Kargoda"})

    async with serving(Starlette(routes=[Route("/status", status)])) as url:
        yield url, seen


def status_flow(url: str) -> dict:
    return {"start": "fetch", "nodes": {
        "fetch": {"type": "http", "method": "GET", "url": url, "save": {"durum": "status"},
                  "timeout_seconds": 2, "next": "tell", "error_next": "sorry"},
        "tell": {"type": "end", "text": "Durum: {{ var.durum }}"},
        "sorry": {"type": "handoff", "text": "Sizi bir temsilciye aktarıyorum."}}}


async def test_a_step_calling_a_private_address_is_refused_when_saved(world, private_urls_off):
    client = world.home.sevgi.client
    flow = await make_flow(world.home, status_flow("https://api.example.com/status"))
    for url in ("http://169.254.169.254/latest/meta-data/", "http://localhost:5432/",
                "http://[::1]/status", "http://[::ffff:10.0.0.1]/status",
                "http://192.168.0.10/status?siparis={{ var.siparis }}"):
        saved = await client.patch(f"/api/v1/flows/{flow['id']}",
                                   json={"graph": status_flow(url)})
        assert saved.status_code == 422, (url, saved.text)
        assert saved.json()["error"]["field"] == "graph.nodes.fetch.url", url
    # A draft saved while they were allowed is refused when published.
    private_urls_off(True)
    saved = await client.patch(f"/api/v1/flows/{flow['id']}",
                               json={"graph": status_flow("http://127.0.0.1:8000/status")})
    assert saved.status_code == 200, saved.text
    private_urls_off(False)
    published = await client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert published.status_code == 422, published.text
    assert published.json()["error"]["field"] == "graph.nodes.fetch.url"


async def test_a_step_whose_address_is_inside_takes_its_error_branch(
        world, stub, private_urls_off):
    url, seen = stub
    home = world.home
    port = url.rsplit(":", 1)[1]
    private_urls_off(True)
    # "localhost": not refused by its look when saved, only by where it resolves when called.
    flow = await make_flow(home, status_flow(f"http://localhost:{port}/status"))
    private_urls_off(False)
    ayse = Customer(home)
    await ayse.says("Merhaba")
    assert await ayse.advance()
    assert await ayse.heard() == ["Sizi bir temsilciye aktarıyorum."]
    flow_session = await ayse.session()
    assert flow_session.end_reason == "handed_off"
    assert any(t["detail"] == "address not allowed" for t in flow_session.trail)
    # The builder's test panel runs the draft the same way.
    turn = await home.sevgi.client.post(f"/api/v1/flows/{flow['id']}/test", json={})
    assert turn.status_code == 200, turn.text
    assert [r["text"] for r in turn.json()["replies"]] == ["Sizi bir temsilciye aktarıyorum."]
    assert "address not allowed" in [t["detail"] for t in turn.json()["trail"]]
    assert seen == []
    # Allowed: the stub server is reached.
    private_urls_off(True)
    mehmet = Customer(home)
    await mehmet.says("Merhaba")
    assert await mehmet.advance()
    assert await mehmet.heard() == ["Durum: Kargoda"]
    assert seen == ["/status"]

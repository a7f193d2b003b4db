"""A rule's webhook never reaches inside our network (core/outbound.py): with private addresses
not allowed (production's default), a plainly private URL is refused when the rule is saved,
naming the action's field, and a webhook whose address turns out private when called (a name
that resolves to 127.0.0.1, a rule saved before) fails its run, with the reason in the log and
no request made. With them allowed (the test suite's setting), the stub server is reached."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.automation import tasks
from tests.automation.conftest import make_rule, runs
from tests.processes import serving

API = "/api/v1/automation"
PRIVATE_URLS = [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/hook", "https://192.168.1.20/hook", "http://2130706433/hook",
]


@pytest.fixture
def private_urls_off(settings, monkeypatch):
    """Production's setting, for this test only; returns a switch to turn them on again."""
    monkeypatch.setattr(settings, "allow_private_urls", False)
    return lambda allowed: monkeypatch.setattr(settings, "allow_private_urls", allowed)


@pytest.fixture
async def stub():
    received: list[bytes] = []

    async def hook(request: Request):
        received.append(await request.body())
        return JSONResponse({})

    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield url, received


async def test_a_rule_calling_a_private_address_is_refused_when_saved(world, private_urls_off):
    home = world.home
    for url in PRIVATE_URLS:
        response = await home.sevgi.client.post(f"{API}/rules", json={
            "name": "Kanca", "event": "message_received", "actions": [
                {"type": "add_note", "body": "Not"}, {"type": "call_webhook", "url": url}]})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["field"] == "actions.1.url", url
    assert (await home.sevgi.client.get(f"{API}/rules")).json() == []
    public = await make_rule(home, event="message_received", actions=[
        {"type": "call_webhook", "url": "https://hooks.example.com/invekto"}])
    # Changed to a private address: refused too, and the rule keeps its address.
    response = await home.sevgi.client.put(f"{API}/rules/{public['id']}", json={
        "name": public["name"], "event": "message_received",
        "actions": [{"type": "call_webhook", "url": "http://127.0.0.1/"}]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "actions.0.url"
    kept = (await home.sevgi.client.get(f"{API}/rules/{public['id']}")).json()
    assert [a["url"] for a in kept["actions"]] == ["https://hooks.example.com/invekto"]
    # Allowed (development, the tests' stub servers): saved.
    private_urls_off(True)
    await make_rule(home, event="message_received", actions=[
        {"type": "call_webhook", "url": "http://127.0.0.1:8000/hook"}])


async def _queued_webhook(home, url: str) -> tuple[uuid.UUID, dict]:
    """A rule calling ``url`` (saved while private addresses are allowed, as by a rule saved
    before the setting was turned off), fired by a customer's message: its run and the
    webhook job it queued."""
    rule = await make_rule(home, event="message_received",
                           actions=[{"type": "call_webhook", "url": url}])
    await home.inbound("Merhaba")
    (run,) = await runs(home, rule["id"])
    async with home.rt.db.transaction() as session:
        (args,) = [row[0] for row in await session.execute(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'automation:call_webhook' "
            "AND args->>'run_id' = :run"), {"run": str(run.id)})]
    await home.sevgi.client.put(f"{API}/rules/{rule['id']}/enabled", json={"enabled": False})
    return run.rule_id, args


async def _deliver(args: dict) -> str:
    return await tasks.deliver_webhook(
        tenant_id=uuid.UUID(args["tenant_id"]), run_id=uuid.UUID(args["run_id"]),
        index=args["index"], url=args["url"], body=args["body"],
        sealed_secret=args["sealed_secret"], final=False)


async def test_a_webhook_to_an_inside_address_fails_its_run_without_a_request(
        world, stub, private_urls_off):
    home = world.home
    url, received = stub
    port = url.rsplit(":", 1)[1]
    private_urls_off(True)
    # 127.0.0.1 written out; "localhost", a name the resolver (/etc/hosts) answers with it.
    queued = [await _queued_webhook(home, f"{url}/hook"),
              await _queued_webhook(home, f"http://localhost:{port}/hook")]
    private_urls_off(False)
    for rule_id, args in queued:
        # Final at once: no retry of an address we do not call.
        assert await _deliver(args) == "failed"
        (run,) = await runs(home, rule_id)
        assert (run.status, run.results[0]["status"]) == ("failed", "failed")
        assert run.results[0]["detail"].startswith("address not allowed:"), run.results
        assert "not a public internet address" in run.error
    assert received == []
    # Allowed: the stub server is reached, by its name too.
    private_urls_off(True)
    rule_id, args = await _queued_webhook(home, f"http://localhost:{port}/hook")
    assert await _deliver(args) == "done"
    (run,) = await runs(home, rule_id)
    assert (run.status, run.results[0]["detail"]) == ("done", "HTTP 200")
    assert len(received) == 1

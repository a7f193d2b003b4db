"""API keys narrowed by scopes, and each key's requests-a-minute budget (decisions/0024),
counted in the database as every server process would count them."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import select

from invekto.audit.models import AuditEvent

API = "/api/v1"


async def make_key(company, **fields) -> dict:
    fields.setdefault("name", f"Anahtar {uuid.uuid4().hex[:6]}")
    response = await company.ayla.client.post(f"{API}/api-keys", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def _clear_of_the_minutes_end() -> None:
    """A budget is a clock minute: a test counting up to its limit starts with time to spare."""
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.5)


async def test_a_scoped_key_can_do_only_what_both_its_role_and_its_scopes_allow(world):
    home = world.home
    key = await make_key(home, role="admin", scopes=["contacts.manage", "conversations.handle",
                                                      "contacts.see_personal_data"])
    assert key["scopes"] == ["contacts.manage", "contacts.see_personal_data",
                             "conversations.handle"]
    async with home.api_client(key["key"]) as api:
        assert (await api.get(f"{API}/contacts")).status_code == 200
        # The admin role could, but the key was not given settings or users.
        refused = await api.get(f"{API}/webhook-subscriptions")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        assert (await api.post(f"{API}/users", json={
            "username": "yeni", "display_name": "Yeni", "role": "agent",
            "password": "correct-horse-battery"})).status_code == 403
    # No scopes: everything the role allows.
    plain = await make_key(home, role="admin")
    assert plain["scopes"] == []
    async with home.api_client(plain["key"]) as api:
        assert (await api.get(f"{API}/webhook-subscriptions")).status_code == 200
    listed = {k["id"]: k for k in (await home.ayla.client.get(f"{API}/api-keys")).json()}
    assert listed[key["id"]]["scopes"] == key["scopes"]


async def test_scopes_are_checked_and_name_the_field(world):
    admin = world.home.ayla.client
    unknown = await admin.post(f"{API}/api-keys", json={"name": "x", "scopes": ["everything"]})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "scopes")
    beyond = await admin.post(f"{API}/api-keys", json={"name": "x", "role": "agent",
                                                       "scopes": ["settings.manage"]})
    assert (beyond.status_code, beyond.json()["error"]["field"]) == (422, "scopes")
    limit = await admin.post(f"{API}/api-keys", json={"name": "x", "rate_limit_per_minute": 0})
    assert (limit.status_code, limit.json()["error"]["field"]) == (422,
                                                                   "rate_limit_per_minute")


async def test_scopes_and_limit_can_be_changed_later_and_are_audited(world):
    home = world.home
    key = await make_key(home, role="supervisor")
    response = await home.ayla.client.patch(f"{API}/api-keys/{key['id']}", json={
        "scopes": ["reports.see"], "rate_limit_per_minute": 120})
    assert response.status_code == 200, response.text
    assert (response.json()["scopes"], response.json()["rate_limit_per_minute"]) == (
        ["reports.see"], 120)
    async with home.api_client(key["key"]) as api:
        # A supervisor may manage rules, but the key is narrowed to reports.
        refused = await api.get(f"{API}/automation/rules")
        assert refused.status_code == 403
        assert refused.headers["x-ratelimit-limit"] == "120"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        audited = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "api_key.updated",
            AuditEvent.target_id == uuid.UUID(key["id"])))).all()
    assert audited and audited[0].after == {"scopes": ["reports.see"],
                                            "rate_limit_per_minute": 120}


async def test_past_its_limit_a_key_gets_429_with_retry_after_and_others_keep_their_budget(
        world):
    home = world.home
    limited = await make_key(home, rate_limit_per_minute=3)
    other = await make_key(home)
    await _clear_of_the_minutes_end()
    async with home.api_client(limited["key"]) as api, home.api_client(other["key"]) as spare:
        answers = [await api.get(f"{API}/contacts") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        assert {r.headers["x-ratelimit-limit"] for r in answers} == {"3"}
        assert all(1 <= int(r.headers["x-ratelimit-reset"]) <= 60 for r in answers)
        refused = await api.get(f"{API}/contacts")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # A write is refused before it does anything.
        made = await api.post(f"{API}/contacts", json={"name": "Fazla İstek"})
        assert made.status_code == 429
        # Another key of the same company has its own budget.
        fine = await spare.get(f"{API}/contacts")
        assert fine.status_code == 200
        assert fine.headers["x-ratelimit-remaining"] == "599"
    names = {c["name"] for c in (await home.ayla.client.get(f"{API}/contacts")).json()["items"]}
    assert "Fazla İstek" not in names


async def test_browser_sessions_and_bad_keys_are_not_counted(world):
    home = world.home
    response = await home.ayla.client.get(f"{API}/contacts")
    assert response.status_code == 200
    assert "x-ratelimit-limit" not in response.headers
    async with home.api_client(f"ivk_{home.tenant_id.hex}_not-a-key") as api:
        refused = await api.get(f"{API}/contacts")
    assert refused.status_code == 401
    assert "x-ratelimit-limit" not in refused.headers

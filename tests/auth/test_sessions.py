"""Sessions: one's own listed and ended (one, or all but this one), another user's for who
manages users, each taking effect on the next request; the company's idle and absolute limits,
the expiry sliding within the absolute one, and the cookie's age following it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from invekto.auth.models import UserSession
from invekto.auth.sessions import device_of
from tests.auth.support import ME, assert_error, audit_actions, fresh_client, password_login
from tests.factories import PASSWORD

MINE = "/api/v1/me/sessions"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/126.0.0.0 Safari/537.36")


async def login_from(company, username: str, user_agent: str):
    client = fresh_client(company, headers={"user-agent": user_agent})
    response = await password_login(client, company, username)
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    return client


async def security_settings(company, **changes) -> None:
    body = {"require_two_factor": False, "session_idle_minutes": 720,
            "session_absolute_hours": 336, "password_min_length": 10,
            "password_needs_letters_and_digits": False, **changes}
    response = await company.ayla.client.put("/api/v1/settings/security", json=body)
    assert response.status_code == 200, response.text


async def age(company, client, **columns: timedelta) -> None:
    """Move the client's session back in time (``created_at``/``last_seen_at`` minus...)."""
    own = [s for s in (await client.get(MINE)).json() if s["current"]]
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await session.execute(update(UserSession).where(
            UserSession.id == uuid.UUID(own[0]["id"])).values(**{
                name: getattr(UserSession, name) - delta for name, delta in columns.items()}))


def test_devices_are_named_from_the_user_agent():
    assert device_of(CHROME_WINDOWS) == "Chrome · Windows"
    assert device_of(FIREFOX) == "Firefox · Linux"
    assert device_of("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605"
                     ".1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1") == \
        "Safari · iOS"
    assert device_of("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/"
                     "537.36 Edg/126.0") == "Edge · Windows"
    assert device_of("") == "Unknown device"


async def test_own_sessions_are_listed_with_the_current_one_marked(world):
    home = world.home
    laptop = await login_from(home, "deniz", CHROME_WINDOWS)
    other = await login_from(home, "deniz", FIREFOX)
    listed = (await laptop.get(MINE)).json()
    # The fixture's own session, and these two.
    assert len(listed) == 3
    [current] = [s for s in listed if s["current"]]
    assert current["device"] == "Chrome · Windows" and current["user_agent"] == CHROME_WINDOWS
    assert current["ip"] == "127.0.0.1"
    assert {s["device"] for s in listed} >= {"Chrome · Windows", "Firefox · Linux"}
    for s in listed:
        created = datetime.fromisoformat(s["created_at"])
        expires = datetime.fromisoformat(s["expires_at"])
        # The default idle limit: 12 hours after it was last seen.
        assert expires - datetime.fromisoformat(s["last_seen_at"]) == timedelta(hours=12)
        assert created <= datetime.now(UTC)
    # Another person's list holds none of these.
    theirs = {s["id"] for s in (await home.bora.client.get(MINE)).json()}
    assert not theirs & {s["id"] for s in listed}
    await laptop.aclose()
    await other.aclose()


async def test_ending_a_session_takes_effect_on_its_next_request(world):
    home = world.home
    laptop = await login_from(home, "deniz", CHROME_WINDOWS)
    phone = await login_from(home, "deniz", FIREFOX)
    [phone_session] = [s for s in (await phone.get(MINE)).json() if s["current"]]
    assert (await phone.get(ME)).status_code == 200

    response = await laptop.delete(f"{MINE}/{phone_session['id']}")
    assert response.status_code == 204, response.text
    assert_error(await phone.get(ME), 401, "unauthenticated")
    assert (await laptop.get(ME)).status_code == 200
    # Gone: a second time, and someone else's id, are 404 and end nothing.
    assert_error(await laptop.delete(f"{MINE}/{phone_session['id']}"), 404, "not_found")
    [bora_session] = (await home.bora.client.get(MINE)).json()
    assert_error(await laptop.delete(f"{MINE}/{bora_session['id']}"), 404, "not_found")
    assert (await home.bora.client.get(ME)).status_code == 200
    [event] = await audit_actions(home, "auth.session_ended")
    assert event.data == {"session_id": phone_session["id"]}
    await laptop.aclose()
    await phone.aclose()


async def test_ending_all_other_sessions_keeps_this_one(world):
    home = world.home
    laptop = await login_from(home, "deniz", CHROME_WINDOWS)
    phone = await login_from(home, "deniz", FIREFOX)
    response = await laptop.post(f"{MINE}/end-others")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert (await laptop.get(ME)).status_code == 200
    assert_error(await phone.get(ME), 401, "unauthenticated")
    assert_error(await home.deniz.client.get(ME), 401, "unauthenticated")
    assert [s["current"] for s in (await laptop.get(MINE)).json()] == [True]
    # Another person's sessions are untouched.
    assert (await home.bora.client.get(ME)).status_code == 200
    await laptop.aclose()
    await phone.aclose()


async def test_who_manages_users_lists_and_ends_another_users_sessions(world):
    home = world.home
    phone = await login_from(home, "bora", FIREFOX)
    path = f"/api/v1/users/{home.bora.user_id}/sessions"
    listed = (await home.ayla.client.get(path)).json()
    assert len(listed) == 2 and not any(s["current"] for s in listed)
    for outsider in (home.sevgi.client, home.deniz.client):
        assert_error(await outsider.get(path), 403, "forbidden")
        assert_error(await outsider.delete(f"{path}/{listed[0]['id']}"), 403, "forbidden")
        assert_error(await outsider.delete(path), 403, "forbidden")
    assert_error(await world.charlie.ayla.client.get(path), 404, "not_found")
    assert len((await home.ayla.client.get(path)).json()) == 2

    [phone_session] = [s for s in listed if s["device"] == "Firefox · Linux"]
    assert (await home.ayla.client.delete(f"{path}/{phone_session['id']}")).status_code == 204
    assert_error(await phone.get(ME), 401, "unauthenticated")
    assert (await home.bora.client.get(ME)).status_code == 200
    # A session id of someone else under Bora's path is not found.
    [deniz_session] = (await home.deniz.client.get(MINE)).json()
    assert_error(await home.ayla.client.delete(f"{path}/{deniz_session['id']}"), 404,
                 "not_found")

    ended = await home.ayla.client.delete(path)
    assert ended.status_code == 200 and ended.json() == {"ended": 1}
    assert_error(await home.bora.client.get(ME), 401, "unauthenticated")
    assert (await home.deniz.client.get(ME)).status_code == 200
    await phone.aclose()


async def test_an_api_key_has_no_sessions_of_its_own(world):
    async with world.home.api_client() as key:
        assert_error(await key.get(MINE), 422, "validation_failed")
        assert_error(await key.post(f"{MINE}/end-others"), 422, "validation_failed")
        assert_error(await key.delete(f"{MINE}/{uuid.uuid4()}"), 404, "not_found")


# ---- the company's limits ----------------------------------------------------------------------

async def test_a_session_idle_longer_than_the_companys_limit_has_ended(world):
    home = world.home
    await security_settings(home, session_idle_minutes=30)
    client = await login_from(home, "deniz", FIREFOX)
    await age(client=client, company=home, last_seen_at=timedelta(minutes=25))
    assert (await client.get(ME)).status_code == 200  # and seen now again
    await age(client=client, company=home, last_seen_at=timedelta(minutes=31))
    assert_error(await client.get(ME), 401, "unauthenticated")
    # A longer limit set afterwards does not bring it back... but it governs the others.
    other = await login_from(home, "deniz", FIREFOX)
    await age(client=other, company=home, last_seen_at=timedelta(minutes=31))
    await security_settings(home, session_idle_minutes=60)
    assert (await other.get(ME)).status_code == 200
    await client.aclose()
    await other.aclose()


async def test_the_absolute_limit_ends_even_a_busy_session(world):
    home = world.home
    await security_settings(home, session_idle_minutes=60, session_absolute_hours=8)
    client = await login_from(home, "deniz", FIREFOX)
    await age(client=client, company=home, created_at=timedelta(hours=7, minutes=50),
              last_seen_at=timedelta(minutes=10))
    assert (await client.get(ME)).status_code == 200
    # Slid forward as it was used, but never past eight hours after it began.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await session.scalar(select(UserSession).where(
            UserSession.user_agent == FIREFOX, UserSession.user_id == home.deniz.user_id))
    assert row.expires_at == row.created_at + timedelta(hours=8)
    assert datetime.now(UTC) - row.last_seen_at < timedelta(minutes=1)
    await age(client=client, company=home, created_at=timedelta(minutes=11))
    assert_error(await client.get(ME), 401, "unauthenticated")
    await client.aclose()


async def test_the_sliding_expiry_follows_the_idle_limit(world):
    home = world.home
    client = await login_from(home, "deniz", FIREFOX)
    await age(client=client, company=home, last_seen_at=timedelta(hours=11))
    assert (await client.get(ME)).status_code == 200
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await session.scalar(select(UserSession).where(
            UserSession.user_agent == FIREFOX, UserSession.user_id == home.deniz.user_id))
    assert row.expires_at - row.last_seen_at == timedelta(hours=12)
    await client.aclose()


async def test_the_cookie_lives_as_long_as_the_companys_absolute_limit(world):
    home = world.home
    await security_settings(home, session_absolute_hours=24)
    async with fresh_client(home) as browser:
        response = await password_login(browser, home, "deniz", PASSWORD)
        cookie = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith("invekto_session="))
    assert f"Max-Age={24 * 3600}" in cookie


async def test_the_limits_are_checked_and_only_who_manages_security_changes_them(world):
    home = world.home
    path = "/api/v1/settings/security"
    body = {"require_two_factor": False, "session_idle_minutes": 720,
            "session_absolute_hours": 336, "password_min_length": 10,
            "password_needs_letters_and_digits": False}
    for changes, field in (({"session_idle_minutes": 5}, "session_idle_minutes"),
                           ({"session_absolute_hours": 0}, "session_absolute_hours"),
                           ({"session_absolute_hours": 5000}, "session_absolute_hours"),
                           ({"password_min_length": 8}, "password_min_length"),
                           ({"session_idle_minutes": 600, "session_absolute_hours": 8},
                            "session_idle_minutes")):
        assert_error(await home.ayla.client.put(path, json={**body, **changes}), 422,
                     "validation_failed", field=field)
    assert_error(await home.sevgi.client.put(path, json=body), 403, "forbidden")
    assert_error(await home.sevgi.client.get(path), 403, "forbidden")
    assert await audit_actions(home, "security.") == []

    saved = await home.ayla.client.put(path, json={**body, "session_idle_minutes": 60})
    assert saved.status_code == 200 and saved.json()["session_idle_minutes"] == 60
    read = (await home.ayla.client.get(path)).json()
    assert read["policy"] == {**body, "session_idle_minutes": 60}
    # Charlie's company keeps the defaults.
    assert (await world.charlie.ayla.client.get(path)).json()["policy"] == body
    [event] = await audit_actions(home, "security.settings_changed")
    assert (event.before, event.after) == ({"session_idle_minutes": 720},
                                           {"session_idle_minutes": 60})

"""Login, throttling, logout, password change, CSRF, API keys and deactivation, through the HTTP
API and checked against what the database holds (sessions, login attempts, audit trail)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from invekto.audit.models import AuditEvent
from invekto.auth import totp
from invekto.auth.models import ApiKey, LoginAttempt, UserSession
from invekto.core import security
from invekto.users.models import User
from tests.factories import PASSWORD

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
FAILED_MESSAGE = "company, username or password is wrong"


# ---- helpers -------------------------------------------------------------------------------------

def new_client(app, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver", **kwargs)


async def login(client: httpx.AsyncClient, company, username: str,
                password: str = PASSWORD) -> httpx.Response:
    slug = company if isinstance(company, str) else company.slug
    return await client.post(LOGIN, json={"company": slug, "username": username,
                                          "password": password})


def assert_error(response: httpx.Response, status: int, code: str, *,
                 field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"], error
    if field is not None:
        assert error.get("field") == field, error
    return error


def session_cookie(response: httpx.Response) -> str | None:
    """The raw Set-Cookie header for the session cookie, if the response sets one."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("invekto_session="):
            return header
    return None


async def audit_events(company, action: str) -> list[AuditEvent]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action)
            .order_by(AuditEvent.occurred_at, AuditEvent.id))).all())


async def attempts(company, username: str) -> list[LoginAttempt]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(
            select(LoginAttempt).where(LoginAttempt.username == username)
            .order_by(LoginAttempt.attempted_at))).all())


async def session_count(company, user_id: uuid.UUID) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.user_id == user_id))


async def login_status(app, company, username: str, password: str = PASSWORD) -> int:
    """A login from a fresh browser (no cookies), closed again; returns the status code."""
    async with new_client(app) as fresh:
        return (await login(fresh, company, username, password)).status_code


async def fail_logins(client: httpx.AsyncClient, company, username: str, times: int) -> None:
    for attempt in range(times):
        response = await login(client, company, username, f"wrong-password-{attempt}")
        assert_error(response, 401, "login_failed")


# ---- login ---------------------------------------------------------------------------------------

async def test_login_sets_an_httponly_lax_session_cookie_and_returns_user_and_csrf(
        world, client):
    home = world.home
    response = await login(client, home, "sevgi")
    assert response.status_code == 200, response.text

    cookie = session_cookie(response)
    assert cookie is not None
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={14 * 86400}"
    value = client.cookies["invekto_session"]
    tenant_part, _, secret = value.partition(".")
    assert tenant_part == str(home.tenant_id) and len(secret) >= 40

    body = response.json()
    assert body["user"]["id"] == str(home.sevgi.user_id)
    assert body["user"]["username"] == "sevgi"
    assert body["user"]["role"] == "supervisor"
    assert body["tenant_id"] == str(home.tenant_id)
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    assert "password" not in response.text and "hash" not in response.text

    # The cookie is a working session, and only the digest of its secret is stored.
    me = await client.get(ME)
    assert me.status_code == 200 and me.json()["user"]["id"] == str(home.sevgi.user_id)
    assert me.json()["csrf_token"] == body["csrf_token"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = (await session.scalars(select(UserSession).where(
            UserSession.user_id == home.sevgi.user_id))).all()
        user = await session.get(User, home.sevgi.user_id)
    assert security.token_digest(secret) in {s.token_hash for s in stored}
    assert all(secret.encode() not in s.token_hash for s in stored)
    assert user.last_login_at is not None
    logins = [e for e in await audit_events(home, "auth.login")
              if e.actor_id == home.sevgi.user_id]
    assert logins and logins[-1].target_id == home.sevgi.user_id


async def test_login_ignores_case_and_surrounding_spaces_of_the_username(world, client):
    response = await login(client, world.home, "  SEVGI ")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "sevgi"


async def test_wrong_password_unknown_user_and_unknown_company_look_the_same(world, client):
    home = world.home
    responses = [
        await login(client, home, "sevgi", "not-the-password"),
        await login(client, home, "kimse-yok"),
        await login(client, f"yok-{uuid.uuid4().hex[:8]}", "sevgi"),
        # another company's user is unknown here
        await login(client, world.charlie, "sevgi"),
    ]
    for response in responses:
        error = assert_error(response, 401, "login_failed")
        assert error["message"] == FAILED_MESSAGE
        assert set(error) == {"code", "message"}
        assert session_cookie(response) is None
    assert "invekto_session" not in client.cookies
    assert (await client.get(ME)).status_code == 401


async def test_missing_login_fields_are_422(client):
    response = await client.post(LOGIN, json={"company": "x", "username": "y"})
    assert_error(response, 422, "validation_failed", field="password")


# ---- throttling ----------------------------------------------------------------------------------

async def test_sixth_attempt_after_five_failures_is_locked_even_with_the_right_password(
        world, client):
    home = world.home
    await fail_logins(client, home, "bora", 5)

    locked = await login(client, home, "bora")  # the right password
    error = assert_error(locked, 429, "login_locked")
    retry_after = int(locked.headers["retry-after"])
    assert 14 * 60 < retry_after <= 15 * 60
    assert "15 minutes" in error["message"]
    assert session_cookie(locked) is None
    # Still locked on the next try; the blocked tries are not counted as password checks.
    assert_error(await login(client, home, "bora"), 429, "login_locked")
    assert [a.succeeded for a in await attempts(home, "bora")][-5:] == [False] * 5
    assert len([a for a in await attempts(home, "bora") if not a.succeeded]) == 5

    # The audit trail tells the story.
    failed = [e for e in await audit_events(home, "auth.login_failed")
              if e.data == {"username": "bora"}]
    locked_out = await audit_events(home, "auth.locked_out")
    blocked = await audit_events(home, "auth.login_blocked")
    assert len(failed) == 5
    assert [e.data for e in locked_out] == [{"username": "bora"}]
    assert [e.data for e in blocked] == [{"username": "bora"}] * 2
    assert all(str(e.ip) == "127.0.0.1" and e.actor_kind == "system"
               for e in failed + locked_out + blocked)
    # The lockout came with the fifth failure, not before.
    assert locked_out[0].occurred_at >= failed[-1].occurred_at


async def test_lockout_of_one_username_leaves_others_and_other_companies_alone(world, client):
    home = world.home
    await fail_logins(client, home, "bora", 5)
    assert_error(await login(client, home, "bora"), 429, "login_locked")

    assert await login_status(home.app, home, "deniz") == 200
    # Charlie's company has an "ayla" too; locking Ayla out at home does not touch hers.
    await fail_logins(client, home, "ayla", 5)
    assert_error(await login(client, home, "ayla"), 429, "login_locked")
    assert await login_status(home.app, world.charlie, "ayla") == 200
    # Sessions opened before the lockout are not ended by it.
    assert (await home.bora.client.get(ME)).status_code == 200


async def test_unknown_username_is_throttled_the_same_way(world, client):
    home = world.home
    await fail_logins(client, home, "hayalet", 5)
    response = await login(client, home, "hayalet")
    assert_error(response, 429, "login_locked")
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert len(await attempts(home, "hayalet")) == 5
    assert [e.data for e in await audit_events(home, "auth.locked_out")] == [
        {"username": "hayalet"}]
    assert [e.data for e in await audit_events(home, "auth.login_blocked")] == [
        {"username": "hayalet"}]


async def test_throttling_counts_the_normalised_username(world, client):
    home = world.home
    for variant in ("Bora", "BORA", " bora", "bOra ", "bora"):
        assert_error(await login(client, home, variant, "wrong-password-x"), 401, "login_failed")
    assert_error(await login(client, home, "bora"), 429, "login_locked")


async def test_success_before_the_threshold_resets_the_failure_count(world, client):
    home = world.home
    await fail_logins(client, home, "bora", 4)
    assert await login_status(home.app, home, "bora") == 200
    await fail_logins(client, home, "bora", 4)
    # Eight failures in the window, but only four since the last success.
    assert await login_status(home.app, home, "bora") == 200
    assert await audit_events(home, "auth.locked_out") == []
    # And the count really restarts: five more failures do lock.
    await fail_logins(client, home, "bora", 5)
    assert_error(await login(client, home, "bora"), 429, "login_locked")


async def test_lockout_ends_when_the_failures_leave_the_window(world, client):
    home = world.home
    await fail_logins(client, home, "deniz", 5)
    assert_error(await login(client, home, "deniz"), 429, "login_locked")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(LoginAttempt).where(LoginAttempt.username == "deniz")
                              .values(attempted_at=LoginAttempt.attempted_at
                                      - timedelta(minutes=16)))
    assert (await login(client, home, "deniz")).status_code == 200


# ---- two-factor authentication (tests/auth/test_two_factor.py has the rest) ----------------------

async def test_with_two_factor_the_password_answers_a_challenge_and_no_cookie(world, client):
    home = world.home
    setup = (await home.deniz.client.post("/api/v1/auth/2fa/setup")).json()
    enabled = await home.deniz.client.post("/api/v1/auth/2fa/enable", json={
        "code": totp.code_at(setup["secret"], datetime.now(UTC))})
    assert enabled.status_code == 200, enabled.text

    response = await login(client, home, "deniz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"two_factor", "pending_token", "expires_at", "secret", "otpauth_uri"}
    assert body["two_factor"] == "verify" and body["secret"] is None
    assert session_cookie(response) is None and "invekto_session" not in client.cookies
    done = await client.post("/api/v1/auth/login/2fa", json={
        "pending_token": body["pending_token"],
        "code": totp.code_at(setup["secret"], datetime.now(UTC) + timedelta(seconds=30))})
    assert done.status_code == 200, done.text
    assert session_cookie(done) is not None
    assert done.json()["user"]["username"] == "deniz"
    assert (await client.get(ME)).status_code == 200
    # A wrong password still looks like any other failure.
    error = assert_error(await login(client, home, "deniz", "not-the-password"), 401,
                         "login_failed")
    assert error["message"] == FAILED_MESSAGE


# ---- logout --------------------------------------------------------------------------------------

async def test_logout_ends_the_session_and_the_old_cookie_is_refused(world, app):
    home = world.home
    browser = await home.login("deniz")
    old_cookie = browser.cookies["invekto_session"]
    before = await session_count(home, home.deniz.user_id)

    response = await browser.post("/api/v1/auth/logout")
    assert response.status_code == 204, response.text
    deleted = session_cookie(response)
    assert deleted is not None and ('Max-Age=0' in deleted or 'expires=' in deleted.lower())
    assert await session_count(home, home.deniz.user_id) == before - 1

    async with new_client(app, cookies={"invekto_session": old_cookie}) as replay:
        assert_error(await replay.get(ME), 401, "unauthenticated")
        replay.headers["x-csrf-token"] = browser.headers["x-csrf-token"]
        assert_error(await replay.post("/api/v1/tags", json={"name": "x"}), 401,
                     "unauthenticated")
    # Deniz's other session (the fixture's) is untouched.
    assert (await home.deniz.client.get(ME)).status_code == 200
    logouts = await audit_events(home, "auth.logout")
    assert [e.actor_id for e in logouts] == [home.deniz.user_id]
    await browser.aclose()


async def test_logout_needs_the_csrf_token(world):
    home = world.home
    browser = await home.login("deniz")
    del browser.headers["x-csrf-token"]
    assert_error(await browser.post("/api/v1/auth/logout"), 403, "csrf_failed")
    assert (await browser.get(ME)).status_code == 200
    await browser.aclose()


# ---- password change -----------------------------------------------------------------------------

async def test_password_change_with_wrong_current_password_is_422(world, client):
    home = world.home
    response = await home.bora.client.post("/api/v1/auth/password", json={
        "current_password": "not-my-password", "new_password": "a-brand-new-password"})
    assert_error(response, 422, "validation_failed", field="current_password")
    assert (await login(client, home, "bora")).status_code == 200
    assert await login_status(home.app, home, "bora", "a-brand-new-password") == 401


async def test_weak_new_passwords_are_422_on_new_password(world, client):
    home = world.home
    for new_password in ("kisa", "123456789", "bora-is-my-name", PASSWORD):
        response = await home.bora.client.post("/api/v1/auth/password", json={
            "current_password": PASSWORD, "new_password": new_password})
        assert_error(response, 422, "validation_failed", field="new_password")
    assert (await login(client, home, "bora")).status_code == 200
    assert await audit_events(home, "auth.password_changed") == []


async def test_password_change_logs_out_other_sessions_but_not_this_one(world, app):
    home = world.home
    current = home.bora.client
    other = await home.login("bora")
    new_password = "yepyeni-bir-sifre-2024"

    response = await current.post("/api/v1/auth/password", json={
        "current_password": PASSWORD, "new_password": new_password})
    assert response.status_code == 204, response.text

    assert (await current.get(ME)).status_code == 200
    # The current session's CSRF token still works for writes.
    assert (await current.post("/api/v1/conversations/"
                               f"{uuid.uuid4()}/read")).status_code == 404
    assert_error(await other.get(ME), 401, "unauthenticated")
    assert await session_count(home, home.bora.user_id) == 1

    async with new_client(app) as fresh:
        assert_error(await login(fresh, home, "bora", PASSWORD), 401, "login_failed")
        assert (await login(fresh, home, "bora", new_password)).status_code == 200
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        user = await session.get(User, home.bora.user_id)
    assert user.password_changed_at is not None
    assert security.verify_password(user.password_hash, new_password)
    changed = await audit_events(home, "auth.password_changed")
    assert [(e.actor_id, e.target_id) for e in changed] == [
        (home.bora.user_id, home.bora.user_id)]
    await other.aclose()


async def test_an_api_key_has_no_password_to_change(world):
    async with world.home.api_client() as api:
        response = await api.post("/api/v1/auth/password", json={
            "current_password": PASSWORD, "new_password": "a-brand-new-password"})
    assert_error(response, 422, "validation_failed", field="current_password")


# ---- CSRF ----------------------------------------------------------------------------------------

async def tag_names(company) -> list[str]:
    async with company.api_client() as api:
        return [t["name"] for t in (await api.get("/api/v1/tags")).json()]


async def test_cookie_post_without_csrf_header_is_403_and_changes_nothing(world, app):
    home = world.home
    async with new_client(app, cookies=home.ayla.client.cookies) as no_token:
        assert (await no_token.get("/api/v1/tags")).status_code == 200  # reads need none
        error = assert_error(await no_token.post("/api/v1/tags", json={"name": "csrf"}), 403,
                             "csrf_failed")
        assert "csrf" in error["message"].lower()
        created = await home.ayla.client.post("/api/v1/tags", json={"name": "kalici"})
        tag_id = created.json()["id"]
        assert_error(await no_token.patch(f"/api/v1/tags/{tag_id}", json={"color": "#000000"}),
                     403, "csrf_failed")
        assert_error(await no_token.delete(f"/api/v1/tags/{tag_id}"), 403, "csrf_failed")
        no_token.headers["x-csrf-token"] = ""
        assert_error(await no_token.post("/api/v1/tags", json={"name": "csrf"}), 403,
                     "csrf_failed")
    assert await tag_names(home) == ["kalici"]


async def test_csrf_token_of_another_session_is_refused(world, app):
    home = world.home
    second_ayla = await home.login("ayla")
    assert second_ayla.headers["x-csrf-token"] != home.ayla.csrf
    last = home.ayla.csrf[-1]
    tampered = home.ayla.csrf[:-1] + ("1" if last == "0" else "0")
    for token in (home.sevgi.csrf, second_ayla.headers["x-csrf-token"], world.charlie.ayla.csrf,
                  tampered, home.ayla.csrf + "0", "0" * 64):
        assert token != home.ayla.csrf
        async with new_client(app, cookies=home.ayla.client.cookies,
                              headers={"x-csrf-token": token}) as forged:
            assert_error(await forged.post("/api/v1/tags", json={"name": "sahte"}), 403,
                         "csrf_failed")
    # Header bytes that are not ASCII (read as Latin-1) are refused, not a crash.
    async with new_client(app, cookies=home.ayla.client.cookies,
                          headers={"x-csrf-token": "şifre".encode()}) as forged:
        assert_error(await forged.post("/api/v1/tags", json={"name": "sahte"}), 403,
                     "csrf_failed")
    assert await tag_names(home) == []
    # The right token works, so the refusals above were about the token.
    assert (await home.ayla.client.post("/api/v1/tags", json={"name": "gercek"})
            ).status_code == 201
    await second_ayla.aclose()


async def test_bearer_api_key_needs_no_csrf_token(world):
    async with world.home.api_client() as api:
        assert "x-csrf-token" not in api.headers
        response = await api.post("/api/v1/tags", json={"name": "entegrasyon"})
    assert response.status_code == 201, response.text
    assert await tag_names(world.home) == ["entegrasyon"]


# ---- API keys ------------------------------------------------------------------------------------

async def test_admin_creates_an_api_key_whose_secret_is_shown_once(world):
    home = world.home
    admin = home.ayla.client
    response = await admin.post("/api/v1/api-keys", json={"name": "Muhasebe", "role": "agent"})
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["key"]
    assert key.startswith(f"ivk_{home.tenant_id.hex}_")
    secret = key.split("_", 2)[2]
    assert len(secret) >= 40
    assert created["display_prefix"] == f"ivk_…{secret[-4:]}"
    assert (created["name"], created["role"], created["revoked_at"]) == ("Muhasebe", "agent",
                                                                          None)

    listing = await admin.get("/api/v1/api-keys")
    assert listing.status_code == 200
    (row,) = [k for k in listing.json() if k["id"] == created["id"]]
    assert "key" not in row and row["display_prefix"] == created["display_prefix"]
    assert secret not in listing.text and secret[:12] not in listing.text
    assert all("key" not in k for k in listing.json())

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = await session.get(ApiKey, uuid.UUID(created["id"]))
    assert stored.secret_hash == security.token_digest(secret)
    assert stored.created_by_id == home.ayla.user_id
    assert secret not in stored.display_prefix

    async with home.api_client(key) as api:
        assert (await api.get("/api/v1/users")).status_code == 200
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.get(ApiKey, stored.id)).last_used_at is not None
    events = await audit_events(home, "api_key.created")
    assert any(e.target_id == stored.id and e.data == {"name": "Muhasebe", "role": "agent"}
               for e in events)


async def test_revoked_api_key_is_401(world):
    home = world.home
    admin = home.ayla.client
    created = (await admin.post("/api/v1/api-keys", json={"name": "Gecici"})).json()
    async with home.api_client(created["key"]) as api:
        assert (await api.get("/api/v1/users")).status_code == 200
        assert (await admin.delete(f"/api/v1/api-keys/{created['id']}")).status_code == 204
        assert_error(await api.get("/api/v1/users"), 401, "unauthenticated")
        assert_error(await api.post("/api/v1/tags", json={"name": "x"}), 401, "unauthenticated")
    (row,) = [k for k in (await admin.get("/api/v1/api-keys")).json()
              if k["id"] == created["id"]]
    assert row["revoked_at"] is not None
    assert_error(await admin.delete(f"/api/v1/api-keys/{created['id']}"), 404, "not_found")
    # The company's other key is unaffected.
    async with home.api_client() as api:
        assert (await api.get("/api/v1/users")).status_code == 200


async def test_malformed_or_wrong_authorization_header_is_401(world, app):
    home = world.home
    charlie_secret = world.charlie.api_key.split("_", 2)[2]
    values = [
        "Basic YXlsYTpwYXNzd29yZA==", "Bearer", "Bearer ", "Token " + home.api_key,
        "Bearer not-a-key", "Bearer ivk_", "Bearer ivk_nothex_secret",
        f"Bearer ivk_{home.tenant_id.hex}", f"Bearer ivk_{home.tenant_id.hex}_",
        f"Bearer ivk_{home.tenant_id.hex}_wrong-secret",
        f"Bearer ivk_{uuid.uuid4().hex}_{home.api_key.split('_', 2)[2]}",
        # Charlie's real secret, presented as Ayla's company's key
        f"Bearer ivk_{home.tenant_id.hex}_{charlie_secret}",
        f"Bearer {home.api_key}x", ("Bearer " + "ş" * 50).encode(),
    ]
    for value in values:
        async with new_client(app, headers={"Authorization": value}) as api:
            assert_error(await api.get("/api/v1/users"), 401, "unauthenticated")
    # A bad Authorization header is not rescued by a valid session cookie beside it.
    async with new_client(app, cookies=home.ayla.client.cookies,
                          headers={"Authorization": "Bearer nonsense",
                                   "x-csrf-token": home.ayla.csrf}) as both:
        assert_error(await both.get("/api/v1/users"), 401, "unauthenticated")
    # The scheme is case-insensitive, so the right key under "bearer" works.
    async with new_client(app, headers={"Authorization": f"bearer {home.api_key}"}) as api:
        assert (await api.get("/api/v1/users")).status_code == 200


async def test_only_admins_manage_api_keys(world):
    home = world.home
    for person in (home.bora, home.deniz, home.sevgi):
        assert_error(await person.client.post("/api/v1/api-keys", json={"name": "benim"}), 403,
                     "forbidden")
        assert_error(await person.client.get("/api/v1/api-keys"), 403, "forbidden")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        names = (await session.scalars(select(ApiKey.name))).all()
    assert names == ["provisioning"]


async def test_agent_role_api_key_cannot_create_users(world):
    home = world.home
    created = (await home.ayla.client.post("/api/v1/api-keys", json={
        "name": "Bot", "role": "agent"})).json()
    async with home.api_client(created["key"]) as api:
        response = await api.post("/api/v1/users", json={
            "username": "sizma", "display_name": "Sızma", "role": "admin",
            "password": "long-enough-password"})
        assert_error(response, 403, "forbidden")
        assert_error(await api.post("/api/v1/api-keys", json={"name": "daha"}), 403, "forbidden")
        assert (await api.get("/api/v1/users")).status_code == 200  # reading is allowed
        assert_error(await api.get(ME), 401, "unauthenticated")  # a key is no person
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(User).where(User.username == "sizma")) is None


# ---- deactivation --------------------------------------------------------------------------------

async def test_deactivated_user_is_logged_out_and_cannot_log_in(world, client):
    home = world.home
    second = await home.login("deniz")
    assert await session_count(home, home.deniz.user_id) == 2

    response = await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                            json={"is_active": False})
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False

    assert_error(await home.deniz.client.get(ME), 401, "unauthenticated")
    assert_error(await second.get(ME), 401, "unauthenticated")
    assert await session_count(home, home.deniz.user_id) == 0
    error = assert_error(await login(client, home, "deniz"), 401, "login_failed")
    assert error["message"] == FAILED_MESSAGE
    assert "invekto_session" not in client.cookies

    # Reactivated, the same password works again.
    response = await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                            json={"is_active": True})
    assert response.status_code == 200
    assert (await login(client, home, "deniz")).status_code == 200
    await second.aclose()


async def test_admin_cannot_deactivate_themself(world):
    home = world.home
    response = await home.ayla.client.patch(f"/api/v1/users/{home.ayla.user_id}",
                                            json={"is_active": False})
    assert_error(response, 422, "validation_failed")
    assert (await home.ayla.client.get(ME)).status_code == 200

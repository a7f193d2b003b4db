"""Single sign-on through OpenID Connect, against the stub provider (``auth.oidc_stub``) over
real HTTP: the whole flow a browser goes through (our login page → the provider's authorize
endpoint → our callback, where the code is exchanged with PKCE and the ID token verified), who
is let in (a linked subject, a verified e-mail, a user created just in time) and everything
refused on the way: a wrong state, nonce, audience, issuer, an expired or tampered token, an
unknown person. Also the settings (the client secret encrypted and write-only) and "single
sign-on only"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from invekto.auth.models import SsoIdentity
from invekto.auth.oidc_stub import CLIENT_ID, CLIENT_SECRET, OidcStub
from invekto.core.crypto import secret_box
from invekto.users.models import User
from tests.auth.support import ME, assert_error, audit_actions, fresh_client, password_login
from tests.processes import serving

SSO_SETTINGS = "/api/v1/settings/security/sso"


@pytest.fixture
async def provider():
    stub = OidcStub()
    async with serving(stub) as url:
        stub.issuer = url
        yield stub


async def configure(company, stub: OidcStub, **changes) -> httpx.Response:
    response = await company.ayla.client.put(SSO_SETTINGS, json={
        "enabled": True, "display_name": "Kurum Girişi", "issuer": stub.issuer,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "create_users": False,
        "default_role": "agent", "sso_only": False, **changes})
    assert response.status_code == 200, response.text
    return response


async def give_email(company, username: str, email: str) -> None:
    response = await company.ayla.client.patch(
        f"/api/v1/users/{company.people[username].user_id}", json={"email": email})
    assert response.status_code == 200, response.text


async def to_provider(company, browser: httpx.AsyncClient) -> str:
    """Our side of the start: the address of the provider's authorize endpoint."""
    start = await browser.get("/login/sso", params={"company": company.slug})
    assert start.status_code == 303, start.text
    return start.headers["location"]


async def at_provider(authorize_url: str) -> str:
    """The provider's side (a real HTTP request): where it sends the browser back."""
    async with httpx.AsyncClient() as outside:
        answer = await outside.get(authorize_url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def sign_in(company, browser: httpx.AsyncClient) -> httpx.Response:
    return await browser.get(await at_provider(await to_provider(company, browser)))


async def failures(company) -> list[dict]:
    return [e.data for e in await audit_actions(company, "auth.sso_failed")]


async def assert_refused(company, browser: httpx.AsyncClient, response: httpx.Response,
                         reason: str) -> None:
    assert response.status_code in (400, 401), response.text
    assert 'id="login-error"' in response.text
    assert "invekto_session" not in browser.cookies
    assert_error(await browser.get(ME), 401, "unauthenticated")
    assert (await failures(company))[-1]["reason"] == reason


# ---- the flow ----------------------------------------------------------------------------------

async def test_a_verified_email_signs_in_through_the_provider_and_links_the_subject(
        world, provider):
    home = world.home
    await configure(home, provider)
    await give_email(home, "bora", "ayla@example.com")  # the stub's person
    async with fresh_client(home) as browser:
        start = await browser.get("/login/sso", params={"company": home.slug})
        assert start.status_code == 303, start.text
        authorize_url = start.headers["location"]
        query = parse_qs(urlsplit(authorize_url).query)
        assert authorize_url.startswith(f"{provider.issuer}/authorize?")
        assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
        assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 40
        assert query["nonce"] and query["scope"] == ["openid email profile"]
        assert query["redirect_uri"] == ["http://testserver/login/sso/callback"]
        flow_cookie = next(h for h in start.headers.get_list("set-cookie")
                           if h.startswith("invekto_sso="))
        assert "httponly" in flow_cookie.lower() and "samesite=lax" in flow_cookie.lower()
        assert query["state"][0] not in flow_cookie  # encrypted

        done = await browser.get(await at_provider(authorize_url))
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/inbox"
        me = await browser.get(ME)
        assert me.status_code == 200 and me.json()["user"]["username"] == "bora"
    # The code went back with its PKCE verifier and the client's secret (HTTP Basic).
    [exchange] = provider.state.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    assert "client_secret" not in exchange
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        [link] = (await session.scalars(select(SsoIdentity))).all()
    assert (link.user_id, link.issuer, link.subject) == (home.bora.user_id, provider.issuer,
                                                         "stub-user-0001")
    [login] = [e for e in await audit_actions(home, "auth.login")
               if e.data.get("method") == "sso"]
    assert login.actor_id == home.bora.user_id
    assert len(await audit_actions(home, "auth.sso_linked")) == 1

    # Next time the subject decides, whatever the e-mail says now.
    provider.user = {**provider.user, "email": "baska@example.com"}
    async with fresh_client(home) as browser:
        assert (await sign_in(home, browser)).status_code == 303
        assert (await browser.get(ME)).json()["user"]["username"] == "bora"


async def test_an_unknown_person_is_refused_unless_users_are_created_on_first_sign_in(
        world, provider):
    home = world.home
    await configure(home, provider)
    async with fresh_client(home) as browser:
        await assert_refused(home, browser, await sign_in(home, browser), "sso_no_user")
    # An unverified e-mail matches nobody, even a user who has it.
    await give_email(home, "deniz", "ayla@example.com")
    provider.user = {**provider.user, "email_verified": False}
    async with fresh_client(home) as browser:
        await assert_refused(home, browser, await sign_in(home, browser), "sso_no_user")

    provider.user = {**provider.user, "email": "yeni.kisi@example.com", "email_verified": True,
                     "preferred_username": "deniz", "sub": "stub-user-0002",
                     "name": "Yeni Kişi"}
    await configure(home, provider, create_users=True, client_secret="")
    async with fresh_client(home) as browser:
        assert (await sign_in(home, browser)).status_code == 303
        me = (await browser.get(ME)).json()["user"]
    # "deniz" is taken: the next free name; the company's default role.
    assert (me["username"], me["role"], me["display_name"], me["email"]) == (
        "deniz-2", "agent", "Yeni Kişi", "yeni.kisi@example.com")
    [created] = await audit_actions(home, "auth.sso_user_created")
    assert created.target_id is not None and str(created.target_id) == me["id"]


async def test_a_deactivated_user_is_refused(world, provider):
    home = world.home
    await configure(home, provider)
    await give_email(home, "bora", "ayla@example.com")
    response = await home.ayla.client.patch(f"/api/v1/users/{home.bora.user_id}",
                                            json={"is_active": False})
    assert response.status_code == 200
    async with fresh_client(home) as browser:
        await assert_refused(home, browser, await sign_in(home, browser), "sso_inactive")


@pytest.mark.parametrize(("tamper", "detail"), [
    ("nonce", "nonce"), ("audience", "audience"), ("issuer", "issuer"),
    ("expired", "expired"), ("signature", "signature"), ("key", "signature")])
async def test_a_spoilt_id_token_is_refused(world, provider, tamper, detail):
    home = world.home
    await configure(home, provider)
    await give_email(home, "bora", "ayla@example.com")
    provider.tamper = tamper
    async with fresh_client(home) as browser:
        await assert_refused(home, browser, await sign_in(home, browser), "sso_invalid")
    assert detail in (await failures(home))[-1]["detail"].lower()
    assert len(provider.state.token_requests) == 1
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.scalars(select(SsoIdentity))).all() == []


async def test_a_wrong_or_missing_state_is_refused_before_the_code_is_used(world, provider):
    home = world.home
    await configure(home, provider)
    await give_email(home, "bora", "ayla@example.com")
    async with fresh_client(home) as browser:
        callback = await at_provider(await to_provider(home, browser))
        forged = callback.replace("state=", "state=x")
        await assert_refused(home, browser, await browser.get(forged), "sso_state")
    # The callback in another browser (no cookie of the flow): refused too.
    async with fresh_client(home) as starter, fresh_client(home) as stranger:
        callback = await at_provider(await to_provider(home, starter))
        response = await stranger.get(callback)
        assert response.status_code == 400 and "invekto_session" not in stranger.cookies
    assert provider.state.token_requests == []


async def test_a_code_stolen_from_another_sign_in_fails_its_pkce_check(world, provider):
    """An attacker's code slipped into a victim's callback (with the victim's own state): the
    victim's PKCE verifier does not match the challenge the code was issued for."""
    home = world.home
    await configure(home, provider)
    await give_email(home, "bora", "ayla@example.com")
    async with fresh_client(home) as attacker, fresh_client(home) as victim:
        stolen = parse_qs(urlsplit(await at_provider(await to_provider(home, attacker))).query)
        own = await at_provider(await to_provider(home, victim))
        state = parse_qs(urlsplit(own).query)["state"][0]
        injected = await victim.get("/login/sso/callback",
                                    params={"code": stolen["code"][0], "state": state})
        await assert_refused(home, victim, injected, "sso_invalid")
    assert "invalid_grant" in (await failures(home))[-1]["detail"]


async def test_the_provider_saying_no_is_refused(world, provider):
    home = world.home
    await configure(home, provider)
    provider.deny = True
    async with fresh_client(home) as browser:
        await assert_refused(home, browser, await sign_in(home, browser), "sso_denied")


# ---- the login page ----------------------------------------------------------------------------

async def test_the_login_page_shows_the_companys_button(world, provider):
    home = world.home
    async with fresh_client(home) as browser:
        page = (await browser.get("/login", params={"company": home.slug, "lang": "en"})).text
        assert 'id="sso-button"' not in page and 'id="sso-link"' in page
        await configure(home, provider)
        page = (await browser.get("/login", params={"company": home.slug})).text
        assert "Sign in with Kurum Girişi" in page
        assert f'href="/login/sso?company={home.slug}"' in page
        # Asked for single sign-on for a company without it.
        response = await browser.get("/login", params={"company": world.charlie.slug,
                                                       "sso": "1"})
        assert response.status_code == 404
        assert "This company does not use single sign-on." in response.text
        response = await browser.get("/login/sso", params={"company": world.charlie.slug})
        assert response.status_code == 404 and "invekto_sso" not in browser.cookies


async def test_single_sign_on_only_refuses_passwords_but_to_who_manages_security(
        world, provider):
    home = world.home
    await configure(home, provider, sso_only=True)
    async with fresh_client(home) as browser:
        for username in ("bora", "kimse-yok"):
            assert_error(await password_login(browser, home, username), 401, "sso_required")
        # The break-glass: an admin still logs in with a password.
        assert (await password_login(browser, home, "ayla")).status_code == 200
    async with fresh_client(home) as browser:
        token = (await browser.get("/login")).cookies.get("invekto_csrf") or \
            browser.cookies["invekto_csrf"]
        page = await browser.post("/login", data={
            "company": home.slug, "username": "bora", "password": "correct-horse-battery",
            "csrf_token": token, "lang": "en"})
        assert page.status_code == 401
        assert "Your company signs in with Kurum Girişi." in page.text
        assert 'id="sso-button"' in page.text
    assert [e.data for e in await audit_actions(home, "auth.login_refused")][:1] == [
        {"username": "bora", "reason": "sso_only"}]


# ---- the settings ------------------------------------------------------------------------------

async def test_the_client_secret_is_encrypted_and_never_shown(world, provider):
    home = world.home
    saved = (await configure(home, provider)).json()
    assert saved["has_client_secret"] is True and CLIENT_SECRET not in str(saved)
    assert saved["redirect_uri"] == "http://testserver/login/sso/callback"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        [encrypted] = (await session.execute(text(
            "SELECT client_secret_encrypted FROM sso_settings"))).scalars().all()
        trail = (await session.execute(text(
            "SELECT data::text || coalesce(after::text, '') FROM audit_events "
            "WHERE action = 'sso.settings_changed'"))).scalars().all()
    assert CLIENT_SECRET not in encrypted
    assert secret_box().decrypt_json(encrypted) == {"client_secret": CLIENT_SECRET}
    assert trail and all(CLIENT_SECRET not in entry for entry in trail)
    read = await home.ayla.client.get("/api/v1/settings/security")
    assert read.json()["sso"]["issuer"] == provider.issuer and CLIENT_SECRET not in read.text
    page = await home.ayla.client.get("/settings/security")
    assert page.status_code == 200 and CLIENT_SECRET not in page.text
    assert 'data-secret-state="set"' in page.text

    # Saved again without it: kept; the provider is still asked for a token with it.
    await configure(home, provider, client_secret=None, display_name="Yeni Ad")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.execute(text(
            "SELECT client_secret_encrypted FROM sso_settings"))).scalar() == encrypted


async def test_bad_settings_are_refused_on_their_field(world, provider):
    home = world.home
    base = {"enabled": True, "display_name": "X", "issuer": provider.issuer,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "create_users": False,
            "default_role": "agent", "sso_only": False}
    for changes, field in (
            ({"issuer": "ftp://login.example.com"}, "issuer"),
            ({"issuer": "not a url"}, "issuer"),
            ({"issuer": provider.issuer + "/nowhere"}, "issuer"),  # no discovery there
            ({"client_id": " "}, "client_id"),
            ({"client_secret": None}, "client_secret"),
            ({"enabled": False, "sso_only": True}, "sso_only"),
            ({"default_role": "admin"}, "default_role")):
        response = await home.ayla.client.put(SSO_SETTINGS, json={**base, **changes})
        assert_error(response, 422, "validation_failed", field=field)
    # The discovery document must name the issuer it was asked for.
    provider.issuer = "https://impostor.example.com"
    assert_error(await home.ayla.client.put(SSO_SETTINGS, json={
        **base, "issuer": f"http://{urlsplit(base['issuer']).netloc}"}),
        422, "validation_failed", field="issuer")
    assert_error(await home.sevgi.client.put(SSO_SETTINGS, json=base), 403, "forbidden")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.scalar(text("SELECT count(*) FROM sso_settings"))) == 0
        assert (await session.scalars(select(User).where(User.username == "x"))).all() == []

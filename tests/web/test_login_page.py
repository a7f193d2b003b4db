"""The server-rendered login page: language, its double-submit CSRF token, errors, redirect to the
landing page, escaping of everything a visitor can type, and the second step of two-step
verification (a code, or setting the app up when the company requires it)."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import func, select

from invekto.auth import totp
from invekto.auth.models import LoginAttempt, UserSession
from tests.factories import PASSWORD

FAILED_TR = "Firma kodu, kullanıcı adı veya şifre hatalı."
FAILED_EN = "Company code, username or password is wrong."
CSRF_TR = "Oturum formu süresi doldu; sayfayı yenileyip tekrar deneyin."


@pytest.fixture
async def browser(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        yield http


def form_token(page: str) -> str:
    match = re.search(r'<input type="hidden" name="csrf_token" value="([^"]*)">', page)
    assert match, page
    return match.group(1)


def set_cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


def input_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert match, name
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


async def open_form(browser: httpx.AsyncClient, path: str = "/login") -> str:
    response = await browser.get(path)
    assert response.status_code == 200, response.text
    return form_token(response.text)


async def submit(browser: httpx.AsyncClient, company: str, username: str, password: str,
                 **extra: str) -> httpx.Response:
    token = await open_form(browser)
    return await browser.post("/login", data={
        "company": company, "username": username, "password": password,
        "csrf_token": token, **extra})


async def attempt_count(company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(LoginAttempt))


# ---- language ------------------------------------------------------------------------------------

async def test_login_page_is_turkish_by_default(browser):
    response = await browser.get("/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert '<html lang="tr">' in page
    assert "<title>Giriş yap · Invekto</title>" in page
    for text in ("Firma kodu", "Kullanıcı adı", "Şifre"):
        assert text in page
    assert "Log in" not in page and "Company code" not in page
    assert "lang=tr" in set_cookie(response, "lang")


async def test_login_page_is_english_with_lang_en_and_remembers_it(browser):
    page = (await browser.get("/login", params={"lang": "en"})).text
    assert '<html lang="en">' in page
    assert "<title>Log in · Invekto</title>" in page and "Company code" in page
    assert "Giriş yap" not in page and "Firma kodu" not in page
    assert input_value(page, "lang") == "en"
    # The choice is kept in the lang cookie; ?lang=tr switches back.
    assert '<html lang="en">' in (await browser.get("/login")).text
    assert "Giriş yap" in (await browser.get("/login", params={"lang": "tr"})).text


async def test_browser_language_is_used_without_a_choice(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"accept-language": "en-GB,en;q=0.9"}) as english:
        assert "Log in" in (await english.get("/login")).text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"accept-language": "de-DE"}) as german:
        assert "Giriş yap" in (await german.get("/login")).text


# ---- the form's CSRF token -----------------------------------------------------------------------

async def test_form_token_matches_the_httponly_strict_csrf_cookie(browser, app):
    response = await browser.get("/login")
    token = form_token(response.text)
    assert len(token) >= 24
    assert browser.cookies["invekto_csrf"] == token
    cookie = set_cookie(response, "invekto_csrf").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # The same browser keeps its token; another browser gets its own.
    assert form_token((await browser.get("/login")).text) == token
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as other:
        assert form_token((await other.get("/login")).text) != token


async def test_post_without_or_with_a_wrong_csrf_token_is_403_even_with_the_right_password(
        world, browser, app):
    home = world.home
    before = await attempt_count(home)
    token = await open_form(browser)
    credentials = {"company": home.slug, "username": "sevgi", "password": PASSWORD}
    for data in (credentials, {**credentials, "csrf_token": ""},
                 {**credentials, "csrf_token": token + "x"},
                 {**credentials, "csrf_token": "başka-bir-token"}):
        response = await browser.post("/login", data=data)
        assert response.status_code == 403
        assert set_cookie(response, "invekto_session") is None
        assert CSRF_TR in response.text
        # The form comes back usable: same company and username, a token to retry with.
        assert input_value(response.text, "company") == home.slug
        assert input_value(response.text, "username") == "sevgi"
        assert form_token(response.text) == token
    # A token without its cookie (a forged cross-site form) is refused too.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as forger:
        response = await forger.post("/login", data={**credentials, "csrf_token": token})
        assert response.status_code == 403
        assert set_cookie(response, "invekto_session") is None
    assert "invekto_session" not in browser.cookies
    # No password was even checked.
    assert await attempt_count(home) == before


# ---- failing and succeeding ----------------------------------------------------------------------

async def test_wrong_password_rerenders_in_turkish_with_401_keeping_company_and_username(
        world, browser):
    home = world.home
    secret = "Gizli-Şifrem-987"
    response = await submit(browser, home.slug, "sevgi", secret)
    assert response.status_code == 401
    page = response.text
    assert f'<div class="alert alert-danger" role="alert" id="login-error">{FAILED_TR}</div>' in \
        html.unescape(page)
    assert input_value(page, "company") == home.slug
    assert input_value(page, "username") == "sevgi"
    assert input_value(page, "password") is None
    assert secret not in page and html.escape(secret) not in page
    assert set_cookie(response, "invekto_session") is None
    # Unknown company reads the same.
    response = await submit(browser, "boyle-bir-firma-yok", "sevgi", PASSWORD)
    assert response.status_code == 401 and FAILED_TR in html.unescape(response.text)


async def test_wrong_password_in_english_when_the_form_was_english(world, browser):
    await browser.get("/login", params={"lang": "en"})
    response = await submit(browser, world.home.slug, "sevgi", "wrong-password-1", lang="en")
    assert response.status_code == 401
    assert FAILED_EN in response.text and FAILED_TR not in html.unescape(response.text)


async def test_successful_login_redirects_home_and_shows_the_display_name(world, browser):
    home = world.home
    created = await home.ayla.client.post("/api/v1/users", json={
        "username": "sukru", "display_name": "Şükrü Çağlar", "role": "agent",
        "password": PASSWORD})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    response = await submit(browser, home.slug, "sukru", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
    cookie = set_cookie(response, "invekto_session")
    assert cookie is not None
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert browser.cookies["invekto_session"].startswith(f"{home.tenant_id}.")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sessions = await session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.user_id == created.json()["id"]))
    assert sessions == 1

    landing = await browser.get("/inbox")
    assert landing.status_code == 200
    page = landing.text
    assert "Şükrü Çağlar · Temsilci" in page
    # The page's CSRF token is the session's, the same one the API hands out.
    me = await browser.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["user"]["id"] == user_id
    assert f'<meta name="csrf-token" content="{me.json()["csrf_token"]}">' in page
    assert form_token(page) == me.json()["csrf_token"]


async def test_home_without_a_valid_session_redirects_to_login(app, browser):
    response = await browser.get("/")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    for cookie in (b"invekto_session=garbage", b"invekto_session=" + "çöp.değer".encode(),
                   f"invekto_session={uuid.uuid4()}.not-a-secret".encode()):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver",
                                     headers={"cookie": cookie}) as forged:
            response = await forged.get("/inbox")
            assert response.status_code == 303, (cookie, response.text)
            assert response.headers["location"] == "/login"


async def test_lockout_shows_the_turkish_message_with_429(world, browser):
    home = world.home
    for attempt in range(5):
        response = await submit(browser, home.slug, "bora", f"wrong-password-{attempt}")
        assert response.status_code == 401
    response = await submit(browser, home.slug, "bora", PASSWORD)
    assert response.status_code == 429
    assert "Çok fazla hatalı deneme. 15 dakika sonra tekrar deneyin." in response.text
    assert set_cookie(response, "invekto_session") is None


async def test_logout_form_ends_the_session(world, browser, app):
    home = world.home
    assert (await submit(browser, home.slug, "deniz", PASSWORD)).status_code == 303
    session_value = browser.cookies["invekto_session"]
    token = form_token((await browser.get("/inbox")).text)

    # A wrong token does not end the session (a cross-site logout is not honoured).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 cookies={"invekto_session": session_value}) as forged:
        response = await forged.post("/logout", data={"csrf_token": "yanlis"})
        assert response.status_code == 303
    response = await browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "invekto_session" not in browser.cookies
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 cookies={"invekto_session": session_value}) as replay:
        assert (await replay.get("/api/v1/auth/me")).status_code == 401
        assert (await replay.get("/inbox")).headers["location"] == "/login"


async def test_logout_form_after_the_session_already_ended_still_redirects(world, browser):
    home = world.home
    assert (await submit(browser, home.slug, "deniz", PASSWORD)).status_code == 303
    token = form_token((await browser.get("/inbox")).text)
    # The session ends elsewhere: an admin deactivates Deniz.
    response = await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                            json={"is_active": False})
    assert response.status_code == 200
    response = await browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login"
    assert "invekto_session" not in browser.cookies


# ---- escaping ------------------------------------------------------------------------------------

async def test_typed_company_and_username_are_escaped(world, browser):
    script = "<script>alert(1)</script>"
    breakout = '"><img src=x onerror=alert(2)>'
    response = await submit(browser, breakout, script, "whatever-password")
    assert response.status_code == 401
    page = response.text
    assert script not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert input_value(page, "username") == script
    assert input_value(page, "company") == breakout
    # A NUL character (which PostgreSQL cannot take) is just a failed login.
    response = await submit(browser, world.home.slug, "ay\x00la", PASSWORD)
    assert response.status_code == 401 and FAILED_TR in html.unescape(response.text)
    # Also when it is a real company and the name is merely odd.
    response = await submit(browser, world.home.slug, script, "whatever-password")
    assert response.status_code == 401 and script not in response.text


async def test_display_name_is_escaped_on_the_landing_page(world, browser):
    home = world.home
    name = '<b onmouseover="alert(3)">Kötü & Çirkin</b>'
    created = await home.ayla.client.post("/api/v1/users", json={
        "username": "kotu", "display_name": name, "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert (await submit(browser, home.slug, "kotu", PASSWORD)).status_code == 303
    page = (await browser.get("/inbox")).text
    assert name not in page and "<b onmouseover" not in page
    assert str(escape(name)) in page
    assert f"{escape(name)} · Temsilci" in page


# ---- two-step verification -----------------------------------------------------------------------

async def turn_on_two_factor(person) -> str:
    secret = (await person.client.post("/api/v1/auth/2fa/setup")).json()["secret"]
    response = await person.client.post("/api/v1/auth/2fa/enable",
                                        json={"code": totp.code_at(secret, datetime.now(UTC))})
    assert response.status_code == 200, response.text
    return secret


def next_code(secret: str) -> str:
    # The step after the one used to turn it on (a code is good once).
    return totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30))


async def test_with_two_factor_the_password_leads_to_the_code_form_not_a_session(world, browser):
    home = world.home
    secret = await turn_on_two_factor(home.deniz)
    response = await submit(browser, home.slug, "deniz", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/login/2fa"
    assert set_cookie(response, "invekto_session") is None
    pending = set_cookie(response, "invekto_pending").lower()
    assert "httponly" in pending and "samesite=strict" in pending and "path=/login" in pending
    assert "max-age=600" in pending
    # The pending cookie opens no page.
    assert (await browser.get("/inbox")).headers["location"] == "/login"

    page = await browser.get("/login/2fa", params={"lang": "en"})
    assert page.status_code == 200
    assert "Two-step verification" in page.text and 'name="code"' in page.text
    token = form_token(page.text)
    wrong = "000000" if next_code(secret) != "000000" else "111111"
    refused = await browser.post("/login/2fa", data={"code": wrong, "csrf_token": token,
                                                     "lang": "en"})
    assert refused.status_code == 401
    assert "The code is wrong or has expired" in refused.text
    assert "invekto_session" not in browser.cookies
    # Without the form's token nothing is checked.
    assert (await browser.post("/login/2fa", data={"code": next_code(secret)})).status_code \
        == 403

    done = await browser.post("/login/2fa", data={"code": next_code(secret), "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    assert set_cookie(done, "invekto_session") is not None
    assert "invekto_pending" not in browser.cookies
    assert (await browser.get("/inbox")).status_code == 200


async def test_a_company_requiring_two_factor_shows_the_app_to_set_up_then_the_codes(
        world, browser):
    home = world.home
    response = await home.ayla.client.put("/api/v1/settings/security", json={
        "require_two_factor": True, "session_idle_minutes": 720,
        "session_absolute_hours": 336, "password_min_length": 10,
        "password_needs_letters_and_digits": False})
    assert response.status_code == 200
    assert (await submit(browser, home.slug, "bora", PASSWORD)).status_code == 303
    page = (await browser.get("/login/2fa", params={"lang": "en"})).text
    assert "Set up two-step verification" in page and "<svg" in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    done = await browser.post("/login/2fa", data={
        "code": totp.code_at(secret, datetime.now(UTC)), "csrf_token": form_token(page),
        "lang": "en"})
    assert done.status_code == 200, done.text
    codes = re.findall(r'data-code="([a-z0-9-]+)"', done.text)
    assert len(codes) == 10 and "They will not be shown again." in done.text
    assert set_cookie(done, "invekto_session") is not None
    assert (await browser.get("/inbox")).status_code == 200


async def test_the_code_form_without_a_pending_login_sends_back_to_the_password(world, app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as nobody:
        response = await nobody.get("/login/2fa")
        assert response.status_code == 303 and response.headers["location"] == "/login"
    # A pending login that has expired (or never was): the password again, saying why.
    stale = f"{world.home.tenant_id}.no-such-pending-login"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 cookies={"invekto_pending": stale}) as late:
        response = await late.get("/login/2fa", params={"lang": "en"})
        assert response.status_code == 401
        assert "The login has expired; log in with your password again." in response.text
        assert 'name="password"' in response.text
        assert "invekto_pending=" in response.headers["set-cookie"]  # dropped

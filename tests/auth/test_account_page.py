"""The "My account" page: reached from the user menu; two-step verification set up with its QR
code and secret, the recovery codes shown once, turned off with a code; the password changed;
one's sessions listed and ended. Every form needs the page's CSRF token."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from invekto.auth import totp
from invekto.auth.models import TwoFactor
from tests.auth.support import ME, assert_error, failed_attempts, fresh_client, password_login
from tests.factories import PASSWORD


async def english(person) -> None:
    response = await person.client.post("/me/language", data={"language": "en"})
    assert response.status_code == 303


CODE = r'data-code="((?:[a-z0-9]{4}-){3}[a-z0-9]{4})"'


def secret_on(page: str) -> str:
    match = re.search(r'data-secret="([A-Z2-7]{32})"', page)
    assert match, page
    return match.group(1)


async def test_the_user_menu_leads_to_the_account_page(world):
    home = world.home
    await english(home.bora)
    inbox = (await home.bora.client.get("/inbox")).text
    assert 'href="/account" id="my-account-link"' in inbox
    page = await home.bora.client.get("/account")
    assert page.status_code == 200
    assert 'id="account-username">bora<' in page.text
    assert 'data-state="off"' in page.text and "Set up two-step verification" in page.text


async def test_setting_up_two_step_verification_from_the_page(world):
    home = world.home
    await english(home.bora)
    bora = home.bora.client
    started = await bora.post("/account/2fa/setup")
    assert started.status_code == 200, started.text
    assert 'data-state="setting-up"' in started.text and "<svg" in started.text
    secret = secret_on(started.text)
    # The page drawn again shows the same app to set up.
    assert secret_on((await bora.get("/account")).text) == secret

    refused = await bora.post("/account/2fa/enable", data={"code": "12"})
    assert refused.status_code == 422
    assert 'data-error-for="code"' in refused.text and secret_on(refused.text) == secret
    done = await bora.post("/account/2fa/enable",
                           data={"code": totp.code_at(secret, datetime.now(UTC))})
    assert done.status_code == 200, done.text
    codes = re.findall(CODE, done.text)
    assert len(codes) == 10 and 'data-done="enabled"' in done.text
    # Shown once: not on the page any more.
    again = (await bora.get("/account")).text
    assert 'data-state="on"' in again and not any(c in again for c in codes)
    assert "10 recovery codes left." in again

    # New codes with a code of the app; the old ones are gone.
    renewed = await bora.post("/account/2fa/recovery-codes", data={"code": codes[0]})
    assert renewed.status_code == 200
    fresh = re.findall(CODE, renewed.text)
    assert len(fresh) == 10 and not set(fresh) & set(codes)

    # Off with a wrong code: refused beside the field, the attempt counted (and committed).
    wrong = await bora.post("/account/2fa/disable", data={"code": "nope-nope"})
    assert wrong.status_code == 422 and 'data-error-for="code"' in wrong.text
    assert await failed_attempts(home, "bora") == 1
    off = await bora.post("/account/2fa/disable", data={
        "code": totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30))})
    assert off.status_code == 303 and off.headers["location"] == "/account?done=disabled"
    assert 'data-state="off"' in (await bora.get("/account")).text


async def test_forms_need_the_pages_csrf_token(world, app):
    home = world.home
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 cookies=httpx.Cookies(home.bora.client.cookies)) as forged:
        for path in ("/account/2fa/setup", "/account/sessions/end-others",
                     "/account/password"):
            response = await forged.post(path, data={"current_password": PASSWORD,
                                                     "new_password": "yepyeni-sifre-42",
                                                     "new_password_again": "yepyeni-sifre-42"})
            assert response.status_code == 403, path
    # Nothing was set up, nothing ended, the password is the same.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(TwoFactor).where(
            TwoFactor.user_id == home.bora.user_id)) is None
    assert (await home.bora.client.get(ME)).status_code == 200
    async with fresh_client(home) as browser:
        assert (await password_login(browser, home, "bora")).status_code == 200


async def test_changing_the_password_from_the_page(world):
    home = world.home
    await english(home.deniz)
    deniz = home.deniz.client
    other = fresh_client(home)
    assert (await password_login(other, home, "deniz")).status_code == 200

    mismatch = await deniz.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "yepyeni-sifre-42",
        "new_password_again": "baska-bir-sifre-42"})
    assert mismatch.status_code == 422 and 'data-error-for="new_password_again"' in mismatch.text
    weak = await deniz.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "kisa", "new_password_again": "kisa"})
    assert weak.status_code == 422 and 'data-error-for="new_password"' in weak.text
    wrong = await deniz.post("/account/password", data={
        "current_password": "yanlis-sifre-1", "new_password": "yepyeni-sifre-42",
        "new_password_again": "yepyeni-sifre-42"})
    assert wrong.status_code == 422 and 'data-error-for="current_password"' in wrong.text

    done = await deniz.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "yepyeni-sifre-42",
        "new_password_again": "yepyeni-sifre-42"})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
    assert (await deniz.get(ME)).status_code == 200
    assert_error(await other.get(ME), 401, "unauthenticated")
    await other.aclose()


async def test_sessions_are_listed_and_ended_from_the_page(world):
    home = world.home
    await english(home.deniz)
    deniz = home.deniz.client
    phone = fresh_client(home, headers={"user-agent": "Mozilla/5.0 (iPhone) Safari/604.1"})
    login = await password_login(phone, home, "deniz")
    phone.headers["x-csrf-token"] = login.json()["csrf_token"]

    page = (await deniz.get("/account")).text
    rows = re.findall(r'<tr data-session="([0-9a-f-]+)"( data-current="true")?>', page)
    assert len(rows) == 2 and [bool(current) for _, current in rows].count(True) == 1
    assert "Safari · iOS" in page and "This device" in page
    [phone_id] = [session_id for session_id, current in rows if not current]
    ended = await deniz.post(f"/account/sessions/{phone_id}/end")
    assert ended.status_code == 303 and ended.headers["location"] == "/account?done=session_ended"
    assert_error(await phone.get(ME), 401, "unauthenticated")

    # Ending this very session is logging out.
    [own_id] = [session_id for session_id, current in rows if current]
    out = await deniz.post(f"/account/sessions/{own_id}/end")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert_error(await deniz.get(ME), 401, "unauthenticated")
    await phone.aclose()


async def test_the_page_says_when_the_company_requires_two_step_verification(world):
    home = world.home
    await english(home.bora)
    response = await home.ayla.client.put("/api/v1/settings/security", json={
        "require_two_factor": True, "session_idle_minutes": 720,
        "session_absolute_hours": 336, "password_min_length": 10,
        "password_needs_letters_and_digits": False})
    assert response.status_code == 200
    page = html.unescape((await home.bora.client.get("/account")).text)
    assert 'id="two-factor-required"' in page

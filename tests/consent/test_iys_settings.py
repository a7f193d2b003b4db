"""A company's İYS settings (``/api/v1/settings/iys`` and Settings → Consent and İYS): the
password encrypted and never shown, each refusal naming its field, a login test, for those who
manage settings only, and another company's apart."""

from __future__ import annotations

from markupsafe import escape
from sqlalchemy import text

from invekto.consent.simulator import PASSWORD, USERNAME
from invekto.core.crypto import secret_box
from tests.consent.support import enable_iys

HX = {"hx-request": "true"}


async def raw_rows(company) -> list[tuple]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return (await session.execute(text(
            "SELECT enabled, iys_code, username, password_encrypted, token_encrypted "
            "FROM iys_settings"))).all()


async def test_the_password_is_stored_encrypted_and_never_shown(world, iys_stub):
    home = world.home
    saved = await enable_iys(home, iys_stub.url)
    assert saved["has_password"] is True and "password" not in saved
    assert (saved["enabled"], saved["pushes"], saved["failures"]) == (
        True, {"pending": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0}, [])
    [(enabled, code, username, encrypted, token)] = await raw_rows(home)
    assert (enabled, code, username) == (True, "612345", USERNAME)
    assert PASSWORD not in encrypted
    assert secret_box().decrypt_json(encrypted) == {"password": PASSWORD}
    assert token is None
    # Saved again without one, the password stays.
    again = await home.ayla.client.put("/api/v1/settings/iys", json={
        **{k: saved[k] for k in ("enabled", "base_url", "iys_code", "brand_code",
                                 "username", "recipient_type")}, "password": ""})
    assert again.status_code == 200 and again.json()["has_password"] is True
    html = (await home.ayla.client.get("/settings/iys")).text
    assert 'data-section="iys"' in html and 'data-secret-state="set"' in html
    assert PASSWORD not in html and str(escape(PASSWORD)) not in html
    api = await home.ayla.client.get("/api/v1/settings/iys")
    assert PASSWORD not in api.text


async def test_the_login_test_says_whether_iys_took_it(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    ok = (await home.ayla.client.post("/api/v1/settings/iys/test")).json()
    assert (ok["ok"], ok["error_code"]) == (True, None)
    [(*_, token)] = await raw_rows(home)
    assert token is not None and "access_token" in secret_box().decrypt_json(token)
    await enable_iys(home, iys_stub.url, password="yanlis-parola")
    wrong = (await home.ayla.client.post("/api/v1/settings/iys/test")).json()
    assert (wrong["ok"], wrong["error_code"]) == (False, "auth")
    page = await home.ayla.client.post("/settings/iys/test", headers={
        **HX, "x-csrf-token": home.ayla.csrf})
    assert 'id="iys-test-result" data-ok="false"' in page.text


async def test_bad_settings_are_refused_naming_the_field(world, iys_stub):
    home = world.home
    client = home.ayla.client
    cases = [
        ({"enabled": True, "iys_code": "", "brand_code": "1", "username": "u",
          "password": "p"}, "iys_code"),
        ({"enabled": True, "iys_code": "1", "brand_code": "1", "username": "u"}, "password"),
        ({"enabled": False, "iys_code": "abc"}, "iys_code"),
        ({"enabled": False, "base_url": "ftp://api.iys.org.tr"}, "base_url"),
    ]
    for body, field in cases:
        response = await client.put("/api/v1/settings/iys", json={"base_url": iys_stub.url,
                                                                  **body})
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, body
    assert await raw_rows(home) == []
    # The page draws the reason beside the field and keeps what was typed.
    page = await client.post("/settings/iys", headers={**HX, "x-csrf-token": home.ayla.csrf},
                             data={"enabled": "on", "base_url": iys_stub.url,
                                   "iys_code": "612345", "brand_code": "", "username": "u"})
    assert page.status_code == 422
    assert 'data-error-for="brand_code"' in page.text and 'value="612345"' in page.text


async def test_only_those_who_manage_settings_see_them(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    for person in ("sevgi", "bora"):
        client = home.people[person].client
        assert (await client.get("/api/v1/settings/iys")).status_code == 403
        assert (await client.put("/api/v1/settings/iys", json={"enabled": False})
                ).status_code == 403
    assert (await home.bora.client.get("/settings/iys")).status_code == 403
    charlie = await world.charlie.ayla.client.get("/api/v1/settings/iys")
    assert charlie.status_code == 200 and charlie.json()["configured"] is False

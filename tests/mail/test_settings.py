"""The mail settings (settings → E-mail, ``/api/v1/settings/email``): the password stored
encrypted and never shown or returned, each refusal naming its field (a 4xx for the API, the
reason beside the field on the page), admins only, and another company's settings apart."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import text

from invekto.core import i18n
from invekto.core.crypto import secret_box
from tests.mail.support import SMTP_PASSWORD, save_server, save_summary

HX = {"hx-request": "true"}
SERVER_FORM = {"host": "smtp.example.com", "port": "587", "security": "starttls",
               "username": "rapor@example.com", "password": SMTP_PASSWORD,
               "from_address": "rapor@example.com", "from_name": "Test Kliniği"}


async def raw_smtp_rows(company) -> list[tuple]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return (await session.execute(text(
            "SELECT host, port, security, username, password_encrypted, from_address, "
            "from_name FROM mail_smtp_settings"))).all()


async def test_the_password_is_stored_encrypted_and_never_shown(world):
    home = world.home
    saved = await save_server(home, 587, host="smtp.example.com", security="starttls")
    assert saved["has_password"] is True and "password" not in saved
    [(host, port, security, username, encrypted, sender, name)] = await raw_smtp_rows(home)
    assert (host, port, security, username, sender, name) == (
        "smtp.example.com", 587, "starttls", "rapor@example.com", "rapor@example.com",
        "Test Kliniği Raporları")
    assert SMTP_PASSWORD not in encrypted
    assert secret_box().decrypt_json(encrypted) == {"password": SMTP_PASSWORD}

    html = (await home.ayla.client.get("/settings/email")).text
    assert 'data-section="email"' in html and 'value="smtp.example.com"' in html
    assert 'data-secret-state="set"' in html
    assert SMTP_PASSWORD not in html and str(escape(SMTP_PASSWORD)) not in html
    api = await home.ayla.client.get("/api/v1/settings/email")
    assert api.status_code == 200 and SMTP_PASSWORD not in api.text
    assert api.json()["smtp"]["has_password"] is True

    # Saved again without one: the password stays; with "remove", it goes.
    await save_server(home, 2525, host="smtp.example.com", password=None)
    [row] = await raw_smtp_rows(home)
    assert row[1] == 2525 and secret_box().decrypt_json(row[4]) == {"password": SMTP_PASSWORD}
    response = await home.ayla.client.post("/settings/email/smtp", headers=HX, data={
        **SERVER_FORM, "password": "", "clear_password": "on"})
    assert response.status_code == 200, response.text
    assert 'data-secret-state="set"' not in response.text
    [row] = await raw_smtp_rows(home)
    assert row[4] is None

    # Nor is it in the audit trail.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        trail = (await session.execute(text(
            "SELECT data::text FROM audit_events WHERE action = 'mail.smtp_saved'"))).all()
    assert len(trail) == 3 and all(SMTP_PASSWORD not in data for (data,) in trail)


async def test_the_page_form_saves_and_a_refusal_keeps_what_was_typed_but_the_password(world):
    home = world.home
    response = await home.ayla.client.post("/settings/email/smtp", headers=HX,
                                           data=SERVER_FORM)
    assert response.status_code == 200, response.text
    assert 'id="email-saved"' in response.text
    # A bad port: the reason beside it, in the user's language; typed values kept, never the
    # password.
    response = await home.ayla.client.post("/settings/email/smtp", headers=HX, data={
        **SERVER_FORM, "host": "posta.example.com", "port": "70000",
        "password": "yeni-parola-99"})
    assert response.status_code == 422
    assert 'data-error-for="port"' in response.text
    assert str(escape(i18n.text("tr", "give a port from 1 to 65535"))) in response.text
    assert 'value="posta.example.com"' in response.text
    assert "yeni-parola-99" not in response.text
    [row] = await raw_smtp_rows(home)
    assert row[0] == "smtp.example.com"  # nothing of the refused form was kept
    assert secret_box().decrypt_json(row[4]) == {"password": SMTP_PASSWORD}


@pytest.mark.parametrize(("changes", "field"), [
    ({"port": "abc"}, "port"),
    ({"port": "0"}, "port"),
    ({"host": ""}, "host"),
    ({"host": "smtp example com"}, "host"),
    ({"from_address": "rapor-at-example.com"}, "from_address"),
    ({"from_address": ""}, "from_address"),
])
async def test_bad_server_settings_are_refused_beside_their_field(world, changes, field):
    response = await world.home.ayla.client.post("/settings/email/smtp", headers=HX,
                                                 data={**SERVER_FORM, **changes})
    assert response.status_code == 422, response.text
    assert f'data-error-for="{field}"' in response.text
    assert 'id="email-form-errors"' in response.text


@pytest.mark.parametrize(("changes", "field"), [
    ({"port": 70000}, "port"),
    ({"port": 0}, "port"),
    ({"host": "  "}, "host"),
    ({"from_address": "not an address"}, "from_address"),
])
async def test_bad_server_settings_are_a_422_naming_the_field(world, changes, field):
    response = await world.home.ayla.client.put("/api/v1/settings/email/smtp", json={
        "host": "smtp.example.com", "port": 587, "from_address": "rapor@example.com",
        **changes})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_a_private_address_is_refused_unless_allowed(world, settings, monkeypatch):
    monkeypatch.setattr(settings, "allow_private_urls", False)
    for host in ("127.0.0.1", "localhost", "10.0.0.5"):
        response = await world.home.ayla.client.put("/api/v1/settings/email/smtp", json={
            "host": host, "port": 25, "from_address": "rapor@example.com"})
        assert response.status_code == 422, (host, response.text)
        assert response.json()["error"]["field"] == "host"


async def test_a_private_address_is_refused_when_sending_too(world, smtp_stub, settings,
                                                              monkeypatch):
    await save_server(world.home, smtp_stub.port)  # saved while allowed
    monkeypatch.setattr(settings, "allow_private_urls", False)
    response = await world.home.ayla.client.post("/api/v1/settings/email/test",
                                                 json={"to": "ayla@example.com"})
    assert response.json()["error_code"] == "not_allowed"
    assert smtp_stub.received == []


async def test_summary_settings_round_trip_and_refusals(world, smtp_stub):
    home = world.home
    api = (await home.ayla.client.get("/api/v1/settings/email")).json()
    # Nothing saved: off, Monday 08:00, in the company's language.
    assert api["summary"] == {"enabled": False, "recipients": [], "weekday": 1, "hour": 8,
                              "language": "tr"}
    assert api["smtp"] is None and api["last_send"] is None
    # Turned on without a mail server: refused.
    response = await home.ayla.client.put("/api/v1/settings/email/summary", json={
        "enabled": True, "recipients": ["mudur@example.com"]})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "enabled"
    await save_server(home, smtp_stub.port)
    response = await home.ayla.client.put("/api/v1/settings/email/summary", json={
        "enabled": True, "recipients": ["mudur@example.com", "bozuk"]})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "recipients"
    assert "bozuk" in response.json()["error"]["message"]
    for changes, field in (({"weekday": 8}, "weekday"), ({"hour": 24}, "hour"),
                           ({"recipients": []}, "recipients")):
        response = await home.ayla.client.put("/api/v1/settings/email/summary", json={
            "enabled": True, "recipients": ["mudur@example.com"], **changes})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field

    # The page's form: one address a line (or commas), each once.
    response = await home.ayla.client.post("/settings/email/summary", headers=HX, data={
        "enabled": "on", "recipients": "mudur@example.com\nEkip@example.com, mudur@example.com",
        "weekday": "5", "hour": "17", "language": "en"})
    assert response.status_code == 200, response.text
    saved = (await home.ayla.client.get("/api/v1/settings/email")).json()["summary"]
    assert saved == {"enabled": True, "recipients": ["mudur@example.com", "Ekip@example.com"],
                     "weekday": 5, "hour": 17, "language": "en"}
    response = await home.ayla.client.post("/settings/email/summary", headers=HX, data={
        "enabled": "on", "recipients": "mudur@example.com\nyanlis@", "weekday": "1",
        "hour": "8", "language": "tr"})
    assert response.status_code == 422
    assert 'data-error-for="recipients"' in response.text
    assert "yanlis@" in response.text  # what was typed, kept


async def test_typed_values_are_escaped(world):
    evil = '<script>alert(1)</script>'
    await save_server(world.home, 25, from_name=evil)
    html = (await world.home.ayla.client.get("/settings/email")).text
    assert evil not in html and str(escape(evil)) in html


@pytest.mark.parametrize("username", ["sevgi", "bora", "deniz"])
async def test_only_admins_open_or_change_the_mail_settings(world, username):
    person = getattr(world.home, username)
    response = await person.client.get("/settings/email")
    assert response.status_code == 403
    assert 'id="settings-forbidden"' in response.text
    response = await person.client.get("/settings/email", headers=HX)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    for method, path, body in (
            ("get", "/api/v1/settings/email", None),
            ("put", "/api/v1/settings/email/smtp", {"host": "smtp.example.com", "port": 25,
                                                    "from_address": "a@example.com"}),
            ("put", "/api/v1/settings/email/summary", {"enabled": False}),
            ("post", "/api/v1/settings/email/test", {"to": "a@example.com"}),
            ("post", "/api/v1/settings/email/summary/send", None)):
        kwargs = {"json": body} if body is not None else {}
        response = await getattr(person.client, method)(path, **kwargs)
        assert response.status_code == 403, (path, response.text)
    for path, data in (("/settings/email/smtp", SERVER_FORM),
                       ("/settings/email/summary", {"weekday": "1", "hour": "8"}),
                       ("/settings/email/test", {"to": "a@example.com"}),
                       ("/settings/email/summary/send", {})):
        response = await person.client.post(path, headers=HX, data=data)
        assert response.status_code == 403, (path, response.text)
    assert await raw_smtp_rows(world.home) == []
    # The admin's nav lists the section; theirs does not.
    assert 'href="/settings/email"' in (await world.home.ayla.client.get("/settings/email")).text
    if username == "sevgi":
        assert 'href="/settings/email"' not in (
            await person.client.get("/settings/tags")).text


async def test_another_companys_settings_stay_apart(world, smtp_stub):
    await save_server(world.home, smtp_stub.port)
    await save_summary(world.home, ["mudur@example.com"])
    charlie = world.charlie
    api = (await charlie.ayla.client.get("/api/v1/settings/email")).json()
    assert api["smtp"] is None and api["summary"]["recipients"] == []
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        assert (await session.execute(text("SELECT count(*) FROM mail_smtp_settings"))
                ).scalar_one() == 0

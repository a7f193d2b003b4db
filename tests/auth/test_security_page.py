"""The settings section "Security": in the settings menu for who manages security only; the
policy form saves (HTMX answers with the section) and a refusal names its field with what was
typed; the single sign-on form never shows the secret; and the people logged in, logged out
everywhere from here."""

from __future__ import annotations

import re

from markupsafe import escape

from invekto.core import i18n
from tests.auth.support import ME, assert_error, audit_actions

HX = {"hx-request": "true"}
POLICY = {"require_two_factor": "on", "session_idle_minutes": "60",
          "session_absolute_hours": "24", "password_min_length": "12",
          "password_needs_letters_and_digits": "on"}


async def english(person) -> None:
    assert (await person.client.post("/me/language", data={"language": "en"})).status_code \
        == 303


async def test_the_section_is_for_who_manages_security(world):
    home = world.home
    await english(home.ayla)
    page = await home.ayla.client.get("/settings/security")
    assert page.status_code == 200
    assert 'data-section="security"' in page.text and 'id="security-policy-form"' in page.text
    assert 'href="/settings/security"' in (await home.ayla.client.get("/settings/users")).text
    # The redirect address to register at the provider.
    assert 'value="http://testserver/login/sso/callback"' in page.text
    # The defaults, chosen.
    assert re.search(r'<option value="720" selected>', page.text)
    assert re.search(r'<option value="336" selected>', page.text)

    refused = await home.sevgi.client.get("/settings/security")
    assert refused.status_code == 403
    assert 'href="/settings/security"' not in (await home.sevgi.client.get(
        "/settings/tags")).text
    assert_error(await home.sevgi.client.post("/settings/security/policy", headers=HX,
                                              data=POLICY), 403, "forbidden")


async def test_the_policy_form_saves_and_a_refusal_names_its_field(world):
    home = world.home
    await english(home.ayla)
    ayla = home.ayla.client
    saved = await ayla.post("/settings/security/policy", headers=HX, data=POLICY)
    assert saved.status_code == 200, saved.text
    assert 'id="security-saved"' in saved.text
    policy = (await ayla.get("/api/v1/settings/security")).json()["policy"]
    assert policy == {"require_two_factor": True, "session_idle_minutes": 60,
                      "session_absolute_hours": 24, "password_min_length": 12,
                      "password_needs_letters_and_digits": True}

    # Unticked boxes are "off"; a bad number is refused beside its field, what was typed kept.
    refused = await ayla.post("/settings/security/policy", headers=HX, data={
        "session_idle_minutes": "60", "session_absolute_hours": "24",
        "password_min_length": "abc"})
    assert refused.status_code == 422
    assert 'data-error-for="password_min_length"' in refused.text
    assert 'value="abc"' in refused.text
    refused = await ayla.post("/settings/security/policy", headers=HX, data={
        **POLICY, "password_min_length": "8"})
    assert refused.status_code == 422
    assert str(escape(i18n.text("en", "give a whole number from %(low)s to %(high)s",
                                low=10, high=128))) in refused.text
    assert (await ayla.get("/api/v1/settings/security")).json()["policy"] == policy
    assert len(await audit_actions(home, "security.settings_changed")) == 1


async def test_the_sso_form_keeps_the_secret_to_itself(world):
    home = world.home
    await english(home.ayla)
    ayla = home.ayla.client
    # Off, nothing is asked of the provider; on without an issuer, refused on the field.
    refused = await ayla.post("/settings/security/sso", headers=HX, data={
        "enabled": "on", "display_name": "Kurum", "issuer": "", "client_id": "abc",
        "client_secret": "cok-gizli-deger", "default_role": "agent"})
    assert refused.status_code == 422 and 'data-error-for="issuer"' in refused.text
    assert "cok-gizli-deger" not in refused.text and 'value="Kurum"' in refused.text
    saved = await ayla.post("/settings/security/sso", headers=HX, data={
        "display_name": "Kurum", "issuer": "https://login.example.com", "client_id": "abc",
        "client_secret": "cok-gizli-deger", "default_role": "supervisor"})
    assert saved.status_code == 200, saved.text
    assert 'data-secret-state="set"' in saved.text and "cok-gizli-deger" not in saved.text
    sso = (await ayla.get("/api/v1/settings/security")).json()["sso"]
    assert (sso["enabled"], sso["issuer"], sso["default_role"], sso["has_client_secret"]) == (
        False, "https://login.example.com", "supervisor", True)


async def test_everyone_logged_in_is_listed_and_logged_out_everywhere_from_here(world):
    home = world.home
    await english(home.ayla)
    page = (await home.ayla.client.get("/settings/security")).text
    assert f'data-user="{home.bora.user_id}"' in page
    # One's own row has no button.
    assert f'/settings/security/users/{home.ayla.user_id}/end-sessions' not in page
    ended = await home.ayla.client.post(
        f"/settings/security/users/{home.bora.user_id}/end-sessions", headers=HX)
    assert ended.status_code == 200 and 'id="security-sessions-ended"' in ended.text
    assert f'data-user="{home.bora.user_id}"' not in ended.text
    assert_error(await home.bora.client.get(ME), 401, "unauthenticated")
    assert (await home.deniz.client.get(ME)).status_code == 200

"""The API's refusals (each naming its field) and the pages: the contact card's panel, the
erasure's typed word, the export form, and Settings → Privacy (policy, preview, runs and
requests)."""

from __future__ import annotations

import io
import zipfile

import httpx
from markupsafe import escape

from invekto.core import i18n
from invekto.privacy.anonymise import ERASED_CONTACT
from tests.privacy.support import NAME, customer_with_history, sql

HX = {"hx-request": "true"}


async def test_erasure_without_the_right_confirmation_is_a_422_on_confirm(world):
    home = world.home
    history = await customer_with_history(home)
    url = f"/api/v1/privacy/contacts/{history.contact_id}/erase"
    for body in ({}, {"confirm": ""}, {"confirm": "evet"}, {"confirm": str(home.tenant_id)}):
        response = await home.ayla.client.post(url, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "confirm"
    assert await sql(home, "SELECT name FROM contacts WHERE id = :c",
                     c=history.contact_id) == [(NAME,)]


async def test_erasure_of_a_contact_still_in_conversation_is_a_409(world):
    home = world.home
    history = await customer_with_history(home, close=False)
    response = await home.ayla.client.post(
        f"/api/v1/privacy/contacts/{history.contact_id}/erase",
        json={"confirm": str(history.contact_id)})
    assert response.status_code == 409, response.text
    assert response.json()["error"] == {
        "code": "conversations_open", "field": "contact_id",
        "message": "close the contact's 1 open conversations first"}


async def test_requests_are_listed_newest_first_and_by_contact(world):
    home = world.home
    first = await customer_with_history(home)
    second = await customer_with_history(home, phone="+905329998877")
    ayla = home.ayla.client
    assert (await ayla.post(f"/api/v1/privacy/contacts/{first.contact_id}/export")
            ).status_code == 200
    response = await ayla.post(f"/api/v1/privacy/contacts/{second.contact_id}/erase",
                               json={"confirm": str(second.contact_id)})
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["contact_name"] == i18n.text("tr", ERASED_CONTACT)
    assert erased["summary"]["messages_anonymised"] == 4
    listed = (await ayla.get("/api/v1/privacy/requests")).json()
    assert [(r["kind"], r["contact_id"]) for r in listed] == [
        ("erasure", str(second.contact_id)), ("export", str(first.contact_id))]
    mine = (await ayla.get("/api/v1/privacy/requests",
                           params={"contact_id": str(first.contact_id)})).json()
    assert [r["kind"] for r in mine] == ["export"]
    assert (await world.charlie.ayla.client.get("/api/v1/privacy/requests")).json() == []


async def test_the_contact_card_offers_the_panel_to_security_managers_only(world):
    home = world.home
    history = await customer_with_history(home)
    card = f"/inbox/contacts/{history.contact_id}/card?c={history.conversation_id}"
    assert 'id="privacy-panel"' in (await home.ayla.client.get(card, headers=HX)).text
    for person in (home.sevgi, home.bora):
        assert 'id="privacy-panel"' not in (await person.client.get(card, headers=HX)).text
    panel = await home.ayla.client.get(
        f"/privacy/contacts/{history.contact_id}/panel?c={history.conversation_id}", headers=HX)
    assert panel.status_code == 200
    assert 'id="privacy-export-form"' in panel.text and 'id="privacy-erase-dialog"' in panel.text
    assert 'data-erased="false"' in panel.text
    refused = await home.sevgi.client.get(f"/privacy/contacts/{history.contact_id}/panel",
                                          headers=HX)
    assert refused.status_code == 403


async def test_the_page_erases_only_when_the_word_is_typed(world):
    home = world.home
    history = await customer_with_history(home)
    url = f"/privacy/contacts/{history.contact_id}/erase?c={history.conversation_id}"
    refused = await home.ayla.client.post(url, data={"confirm_word": "sil bunu"}, headers=HX)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "confirm_word"
    assert await sql(home, "SELECT name FROM contacts WHERE id = :c",
                     c=history.contact_id) == [(NAME,)]
    word = i18n.text("tr", "ERASE").lower()  # typed in any case
    response = await home.ayla.client.post(url, data={"confirm_word": word}, headers=HX)
    assert response.status_code == 200, response.text
    assert 'id="contact-card"' in response.text
    assert str(escape(i18n.text("tr", ERASED_CONTACT))) in response.text
    assert NAME not in response.text
    panel = await home.ayla.client.get(f"/privacy/contacts/{history.contact_id}/panel",
                                       headers=HX)
    assert 'data-erased="true"' in panel.text and 'id="privacy-erase"' not in panel.text


async def test_the_export_form_downloads_the_archive(world):
    home = world.home
    history = await customer_with_history(home)
    # A plain form post, as the browser sends it: the token in the form, no header.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=home.app),
                                 base_url="http://testserver",
                                 cookies=home.ayla.client.cookies) as browser:
        response = await browser.post(f"/privacy/contacts/{history.contact_id}/export",
                                      data={"csrf_token": home.ayla.csrf})
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive_file:
            assert "contact.json" in archive_file.namelist()
        forged = await browser.post(f"/privacy/contacts/{history.contact_id}/export",
                                    data={"csrf_token": "not-the-token"})
        assert forged.status_code == 403


async def test_settings_privacy_saves_previews_and_lists(world):
    home = world.home
    history = await customer_with_history(home)
    ayla = home.ayla.client
    assert (await ayla.post(f"/api/v1/privacy/contacts/{history.contact_id}/export")
            ).status_code == 200
    page = await ayla.get("/settings/privacy")
    assert page.status_code == 200
    assert 'data-section="privacy"' in page.text and 'id="privacy-retention-form"' in page.text
    assert 'class="privacy-request" data-kind="export"' in page.text
    assert 'id="privacy-no-runs"' in page.text

    refused = await ayla.post("/settings/privacy/retention", headers=HX, data={
        "attachment_days": "10", "conversation_months": "", "audit_days": "365"})
    assert refused.status_code == 422
    assert 'data-error-for="attachment_days"' in refused.text
    assert 'value="10"' in refused.text  # what was typed stays
    typo = await ayla.post("/settings/privacy/retention", headers=HX, data={
        "attachment_days": "on beş", "conversation_months": "", "audit_days": ""})
    assert typo.status_code == 422 and 'data-error-for="attachment_days"' in typo.text
    assert await sql(home, "SELECT count(*) FROM privacy_retention_policies") == [(0,)]

    saved = await ayla.post("/settings/privacy/retention", headers=HX, data={
        "attachment_days": "90", "conversation_months": "12", "audit_days": ""})
    assert saved.status_code == 200 and 'id="privacy-saved"' in saved.text
    assert await sql(home, "SELECT attachment_days, conversation_months, audit_days "
                           "FROM privacy_retention_policies") == [(90, 12, None)]

    preview = await ayla.post("/settings/privacy/preview", headers=HX, data={
        "attachment_days": "30", "conversation_months": "", "audit_days": "180"})
    assert preview.status_code == 200
    assert 'data-attachments="0"' in preview.text and 'data-conversations="0"' in preview.text
    bad = await ayla.post("/settings/privacy/preview", headers=HX, data={
        "attachment_days": "", "conversation_months": "1", "audit_days": ""})
    assert bad.status_code == 422 and 'id="privacy-preview-error"' in bad.text

    forbidden = await home.sevgi.client.get("/settings/privacy")
    assert forbidden.status_code == 403

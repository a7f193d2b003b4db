"""Consent in the pages: the contact card's consent part (current state, a change recorded by a
person, the history with who and how), for those who can see the contact; the settings' import
form."""

from __future__ import annotations

from invekto.inbox import service as inbox
from tests.consent.support import consent_of

HX = {"hx-request": "true"}


def hx(person) -> dict[str, str]:
    return {**HX, "x-csrf-token": person.csrf}


async def test_the_card_loads_the_consent_part_and_a_person_records_a_change(world):
    home = world.home
    message = await home.inbound("Merhaba", handle="ziyaretci-9", phone="+905321112233",
                                 name="Ayşe")
    contact_id = message.contact_id
    card = (await home.bora.client.get(f"/inbox/contacts/{contact_id}/card", headers=HX)).text
    assert f'hx-get="/inbox/contacts/{contact_id}/consents"' in card

    part = (await home.bora.client.get(f"/inbox/contacts/{contact_id}/consents",
                                       headers=HX)).text
    assert 'data-consent-type="message" data-granted="none"' in part
    assert 'value="true"' not in part  # an agent records withdrawals only
    withdrawn = await home.bora.client.post(
        f"/inbox/contacts/{contact_id}/consents", headers=hx(home.bora),
        data={"consent_type": "message", "granted": "false", "iys_source": "HS_MESAJ",
              "note": "Sohbette istemediğini yazdı"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert 'data-consent-type="message" data-granted="false"' in withdrawn.text
    assert "Sohbette istemediğini yazdı" in withdrawn.text and "Bora" in withdrawn.text

    refused = await home.bora.client.post(
        f"/inbox/contacts/{contact_id}/consents", headers=hx(home.bora),
        data={"consent_type": "message", "granted": "true"})
    assert refused.status_code == 403
    given = await home.sevgi.client.post(
        f"/inbox/contacts/{contact_id}/consents", headers=hx(home.sevgi),
        data={"consent_type": "call", "granted": "true", "iys_source": "HS_CAGRI_MERKEZI"})
    assert 'data-consent-type="call" data-granted="true"' in given.text
    assert 'value="true"' in given.text
    assert (await consent_of(home, contact_id, "call")).granted is True
    assert given.text.count('data-event-id="') == 2


async def test_a_contact_the_agent_cannot_see_is_not_found(world):
    home = world.home
    message = await home.inbound("Merhaba", handle="ziyaretci-10", name="Gizli")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.assign(session, home.system, message.conversation_id, home.bora.user_id)
    path = f"/inbox/contacts/{message.contact_id}/consents"
    assert (await home.deniz.client.get(path, headers=HX)).status_code == 404
    posted = await home.deniz.client.post(path, headers=hx(home.deniz),
                                          data={"consent_type": "message", "granted": "false"})
    assert posted.status_code == 404
    assert await consent_of(home, message.contact_id) is None


async def test_the_settings_page_imports_a_file(world):
    home = world.home
    page = (await home.ayla.client.get("/settings/iys")).text
    assert 'id="consent-import-form"' in page and 'id="iys-off"' in page
    imported = await home.ayla.client.post(
        "/settings/iys/import", headers=hx(home.ayla),
        data={"consent_type": "message", "iys_source": "HS_ISLAK_IMZA"},
        files={"file": ("izin.csv", b"Telefon;Onay\n05321112233;evet\n")})
    assert imported.status_code == 200, imported.text
    assert 'id="consent-import-result" data-changed="1"' in imported.text
    no_file = await home.ayla.client.post("/settings/iys/import", headers=hx(home.ayla),
                                          data={"consent_type": "message"})
    assert no_file.status_code == 422 and 'data-error-for="file"' in no_file.text

"""A contact's consent and its history (``/api/v1/contacts/{id}/consents``): every change kept
with its source, time, who made it and the evidence; repeats and stale changes changing nothing;
who may record what; another company's contacts apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from invekto.audit.models import AuditEvent
from tests.consent.support import consent_of, events_of, new_contact, rows, set_consent


async def history(company, contact_id, person="sevgi") -> list[dict]:
    response = await company.people[person].client.get(
        f"/api/v1/contacts/{contact_id}/consents/history")
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_change_is_kept_with_who_how_and_the_evidence(world):
    home = world.home
    contact_id = await new_contact(home)
    given = await set_consent(home, contact_id, True, iys_source="HS_CAGRI_MERKEZI",
                              note="Telefonda kampanyalara onay verdi")
    assert given.status_code == 200, given.text
    assert (given.json()["granted"], given.json()["source"]) == (True, "manual")
    withdrawn = await set_consent(home, contact_id, False, person="bora")
    assert withdrawn.json()["granted"] is False

    newest, oldest = await history(home, contact_id)
    assert (oldest["granted"], oldest["source"], oldest["actor_kind"]) == (True, "manual", "user")
    assert oldest["actor_id"] == str(home.sevgi.user_id)
    assert oldest["iys_source"] == "HS_CAGRI_MERKEZI"
    assert oldest["recipient"] == "+905321112233"
    assert oldest["evidence"] == {"note": "Telefonda kampanyalara onay verdi"}
    assert (newest["granted"], newest["actor_id"]) == (False, str(home.bora.user_id))
    assert newest["iys_push"] is None  # İYS is off for this company
    current = (await home.bora.client.get(f"/api/v1/contacts/{contact_id}/consents")).json()
    assert [(c["consent_type"], c["granted"]) for c in current] == [("message", False)]
    audited = await rows(home, select(AuditEvent).where(
        AuditEvent.action == "contact.consent_set", AuditEvent.target_id == contact_id
    ).order_by(AuditEvent.occurred_at))
    assert [(a.before, a.after["granted"]) for a in audited] == [
        (None, True), ({"granted": True, "source": "manual", "iys_status": None}, False)]


async def test_a_repeat_or_an_older_change_changes_nothing(world):
    home = world.home
    contact_id = await new_contact(home)
    await set_consent(home, contact_id, False, person="bora")
    again = await set_consent(home, contact_id, False, person="bora")
    assert again.status_code == 200 and again.json()["granted"] is False
    stale = await set_consent(home, contact_id, True, occurred_at=(
        datetime.now(UTC) - timedelta(days=30)).isoformat())
    assert stale.status_code == 200 and stale.json()["granted"] is False
    assert [e.granted for e in await events_of(home, contact_id)] == [False]


async def test_an_agent_records_a_withdrawal_but_not_a_consent(world):
    home = world.home
    contact_id = await new_contact(home)
    refused = await set_consent(home, contact_id, True, person="bora")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    also_refused = await set_consent(home, contact_id, False, person="bora", iys_status="ONAY")
    assert also_refused.status_code == 403
    assert await consent_of(home, contact_id) is None
    assert (await set_consent(home, contact_id, False, person="bora")).status_code == 200


async def test_bad_input_names_its_field(world):
    home = world.home
    contact_id = await new_contact(home)
    future = await set_consent(home, contact_id, True, occurred_at=(
        datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert future.status_code == 422 and future.json()["error"]["field"] == "occurred_at"
    unknown = await home.sevgi.client.put(f"/api/v1/contacts/{contact_id}/consents/fax",
                                          json={"granted": True})
    assert unknown.status_code == 422
    source = await set_consent(home, contact_id, True, iys_source="HS_KAMPANYA_KATILIM")
    assert source.status_code == 422
    assert await events_of(home, contact_id) == []


async def test_another_companys_contact_is_not_found(world):
    home, charlie = world.home, world.charlie
    contact_id = await new_contact(home)
    await set_consent(home, contact_id, True)
    client = charlie.ayla.client
    for path in (f"/api/v1/contacts/{contact_id}/consents",
                 f"/api/v1/contacts/{contact_id}/consents/history"):
        assert (await client.get(path)).status_code == 404
    put = await client.put(f"/api/v1/contacts/{contact_id}/consents/message",
                           json={"granted": False})
    assert put.status_code == 404
    assert (await consent_of(home, contact_id)).granted is True


async def test_without_the_personal_data_permission_the_number_is_masked(world):
    home = world.home
    contact_id = await new_contact(home)
    await set_consent(home, contact_id, True)
    role = await home.ayla.client.post("/api/v1/roles", json={
        "name": "Pazarlama", "permissions": ["contacts.manage", "conversations.handle"]})
    assert role.status_code == 201, role.text
    created = await home.ayla.client.post("/api/v1/users", json={
        "username": "pazarlama", "display_name": "Pazarlama", "role": "agent",
        "custom_role_id": role.json()["id"], "password": "uzun-bir-parola-123"})
    assert created.status_code == 201, created.text
    client = await home.login("pazarlama", "uzun-bir-parola-123")
    try:
        (masked,) = (await client.get(f"/api/v1/contacts/{contact_id}/consents/history")).json()
    finally:
        await client.aclose()
    assert masked["recipient"] == "+90 532 *** ** 33"
    (clear,) = await history(home, contact_id)
    assert clear["recipient"] == "+905321112233"

"""Personal data masked for people without "see personal data": in API answers, the contact card,
exports and logs; revealing one contact is an audited act; and what is masked cannot be
overwritten blind."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from invekto.audit.models import AuditEvent
from invekto.core import masking
from invekto.core.actor import Actor, Permission
from tests.api.test_auth import assert_error
from tests.api.test_roles import make_role, person_with_role

API = "/api/v1"
PHONE = "+905321234567"
MASKED_PHONE = "+90 532 *** ** 67"


# ---- the masks themselves ----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "masked"), [
    ("+905321234567", "+90 532 *** ** 67"),
    ("05321234567", "+90 532 *** ** 67"),  # a Turkish number as written at home
    ("+442071838750", "+44 20 7*** **50"),
    ("12345", "***45"),  # not a number we can group: all but the last two
])
def test_phone_numbers_keep_the_operator_code_and_the_last_two_digits(value, masked):
    assert masking.phone(value) == masked


def test_emails_other_values_and_handles():
    assert masking.email("ayse.yilmaz@gmail.com") == "a***@gmail.com"
    assert masking.text("12345678901") == "1***"
    assert masking.handle("905321234567") == MASKED_PHONE  # a WhatsApp id is the number
    assert masking.handle("ig_481516") == "i***"
    assert masking.phone(None) is None and masking.email("") == ""


def test_logs_carry_no_number_or_address_but_keep_dates_and_ids():
    event = {"event": "send_failed", "to": "+90 532 123 45 67",
             "detail": "ayse@example.com yazdı; 05329876543 arayın",
             "request_id": "0193a1b2", "at": "2026-11-27 10:00:00", "count": 3}
    out = masking.redact_log_values(None, "info", dict(event))
    assert out["to"] == MASKED_PHONE
    assert out["detail"] == "a***@example.com yazdı; +90 532 *** ** 43 arayın"
    assert out["at"] == "2026-11-27 10:00:00" and out["count"] == 3
    assert out["request_id"] == "0193a1b2"


def test_the_mask_follows_the_permission():
    tenant = uuid.uuid4()
    agent = Actor(tenant_id=tenant, role="agent")
    blind = Actor(tenant_id=tenant, role="agent",
                  granted=frozenset({Permission.HANDLE_CONVERSATIONS}))
    assert masking.Masker(agent).phone(PHONE) == PHONE
    assert masking.Masker(blind).phone(PHONE) == MASKED_PHONE
    assert masking.Masker(blind, ["tc_kimlik"]).custom_fields(
        {"tc_kimlik": "12345678901", "sehir": "İzmir"}) == {"tc_kimlik": "1***", "sehir": "İzmir"}
    assert masking.Masker(None).active  # nobody known: masked


# ---- through the API ---------------------------------------------------------------------------

async def _contact_with_personal_data(home) -> str:
    ayla = home.ayla.client
    for key, personal in (("tc_kimlik", True), ("sehir", False)):
        response = await ayla.post(f"{API}/custom-fields", json={
            "key": key, "label": key, "field_type": "text", "is_personal": personal})
        assert response.status_code == 201, response.text
        assert response.json()["is_personal"] is personal
    message = await home.inbound("Merhaba", phone=PHONE, name="Ayşe Yılmaz")
    response = await ayla.patch(f"{API}/contacts/{message.contact_id}", json={
        "email": "ayse.yilmaz@gmail.com",
        "custom_fields": {"tc_kimlik": "12345678901", "sehir": "İzmir"}})
    assert response.status_code == 200, response.text
    return str(message.contact_id)


async def _masked_person(home, username: str, extra: tuple[str, ...] = ()) -> httpx.AsyncClient:
    role_id = await make_role(home, f"Maskeli {username}", [
        "conversations.handle", "conversations.see_unassigned", *extra])
    return await person_with_role(home, username, role_id)


async def test_without_the_permission_the_api_masks_and_reveal_is_audited(world):
    home = world.home
    contact_id = await _contact_with_personal_data(home)
    client = await _masked_person(home, "stajyer")
    try:
        shown = (await client.get(f"{API}/contacts/{contact_id}")).json()
        assert shown["masked"] is True
        assert shown["phone"] == MASKED_PHONE and shown["email"] == "a***@gmail.com"
        assert shown["custom_fields"] == {"tc_kimlik": "1***", "sehir": "İzmir"}
        assert shown["name"] == "Ayşe Yılmaz"
        listed = (await client.get(f"{API}/contacts", params={"q": "Ayşe"})).json()["items"]
        assert [c["phone"] for c in listed] == [MASKED_PHONE]

        # Nothing masked may be overwritten blind; the rest of the card may.
        assert_error(await client.patch(f"{API}/contacts/{contact_id}",
                                        json={"phone": "+905551112233"}),
                     403, "forbidden", field="phone")
        assert_error(await client.patch(f"{API}/contacts/{contact_id}", json={
            "custom_fields": {"tc_kimlik": "1"}}), 403, "forbidden",
            field="custom_fields.tc_kimlik")
        response = await client.patch(f"{API}/contacts/{contact_id}", json={
            "custom_fields": {"sehir": "Ankara"}})
        assert response.status_code == 200 and response.json()["phone"] == MASKED_PHONE

        revealed = (await client.post(f"{API}/contacts/{contact_id}/reveal")).json()
        assert revealed["masked"] is False and revealed["phone"] == PHONE
        assert revealed["custom_fields"]["tc_kimlik"] == "12345678901"
    finally:
        await client.aclose()
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        events = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "contact.personal_data_revealed"))).all()
    assert [(e.target_id, e.actor_kind) for e in events] == [(uuid.UUID(contact_id), "user")]
    assert events[0].user_agent  # which client asked is kept with the reveal


async def test_with_the_permission_nothing_is_masked_and_nothing_audited(world):
    home = world.home
    contact_id = await _contact_with_personal_data(home)
    shown = (await home.bora.client.get(f"{API}/contacts/{contact_id}")).json()
    assert shown["masked"] is False and shown["phone"] == PHONE
    assert (await home.bora.client.post(f"{API}/contacts/{contact_id}/reveal")).status_code == 200
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "contact.personal_data_revealed"))).all() == []


async def test_an_export_shows_no_more_than_the_screen(world):
    home = world.home
    contact_id = await _contact_with_personal_data(home)
    client = await _masked_person(home, "disaktarici", ("data.export",))
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox.models import Conversation

        conversation_id = await session.scalar(select(Conversation.id).where(
            Conversation.contact_id == uuid.UUID(contact_id)))
    try:
        exported = await client.get(f"{API}/conversations/{conversation_id}/export",
                                    params={"format": "json"})
        assert exported.status_code == 200, exported.text
        (conversation,) = exported.json()["conversations"]
        assert conversation["contact"]["phone"] == MASKED_PHONE
        assert conversation["contact"]["email"] == "a***@gmail.com"
        for fmt in ("csv", "html"):
            body = (await client.get(f"{API}/conversations/{conversation_id}/export",
                                     params={"format": fmt})).text
            assert "5321234567" not in body and "532 123 45 67" not in body
            assert "ayse.yilmaz" not in body
    finally:
        await client.aclose()


async def test_the_contact_card_masks_and_reveals(world):
    home = world.home
    contact_id = await _contact_with_personal_data(home)
    client = await _masked_person(home, "resepsiyon")
    hx = {"hx-request": "true"}
    try:
        card = (await client.get(f"/inbox/contacts/{contact_id}/card", headers=hx)).text
        assert MASKED_PHONE in card and PHONE not in card
        assert 'name="phone"' not in card and 'id="reveal-button"' in card
        assert "12345678901" not in card and 'id="cf-tc_kimlik"' in card
        card = (await client.post(f"/inbox/contacts/{contact_id}/reveal", headers=hx)).text
        assert f'value="{PHONE}"' in card and "12345678901" in card
        assert 'id="reveal-button"' not in card
    finally:
        await client.aclose()
    # An agent with the permission gets the editable card straight away.
    card = (await home.bora.client.get(f"/inbox/contacts/{contact_id}/card", headers=hx)).text
    assert f'value="{PHONE}"' in card and 'id="reveal-button"' not in card

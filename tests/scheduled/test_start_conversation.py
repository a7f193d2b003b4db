"""Writing first ("New message"): to a new phone number or a known contact, on a channel that
allows it; the contact's open conversation is reused; WhatsApp needs an approved template when
the customer has not written within 24 hours; blocked and opted-out customers are refused."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from invekto.contacts import service as contacts
from invekto.contacts.models import Contact, SmsOptOut
from invekto.contacts.schemas import ContactCreate
from invekto.inbox.models import Conversation, Message

API = "/api/v1/conversations"


async def _start(person, channel_id, message, **who):
    return await person.client.post(API, json={
        "channel_id": str(channel_id), "message": message,
        **{k: str(v) for k, v in who.items()}})


async def _contact(home, **fields) -> uuid.UUID:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await contacts.create_contact(session, home.system, ContactCreate(**fields))
    return contact.id


async def _count(home, query) -> int:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(query.subquery()))


async def test_a_new_number_becomes_a_contact_and_a_conversation_of_the_agent(world, sms):
    home = world.home
    response = await _start(home.bora, sms, {"body": "Randevunuz yarın 10:00'da."},
                            phone="0532 123 45 67")
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["conversation"]["assignee_id"] == str(home.bora.user_id)
    assert started["conversation"]["channel_id"] == str(sms)
    assert (started["message"]["body"], started["message"]["status"]) == (
        "Randevunuz yarın 10:00'da.", "pending")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.get_one(Contact, uuid.UUID(started["conversation"]["contact_id"]))
    assert contact.phone == "+905321234567"
    # The same number written another way is the same contact.
    again = await _start(home.bora, sms, {"body": "Bir hatırlatma daha"},
                         phone="+90 (532) 123-4567")
    assert again.json()["conversation"]["id"] == started["conversation"]["id"]


async def test_a_known_contact_is_written_to_and_their_open_conversation_reused(world, sms):
    home = world.home
    contact_id = await _contact(home, name="Ayşe Yılmaz", phone="05321112233")
    first = await _start(home.sevgi, sms, {"body": "Merhaba Ayşe Hanım"}, contact_id=contact_id)
    assert first.status_code == 201, first.text
    second = await _start(home.sevgi, sms, {"body": "Unutmadan: belgelerinizi getirin"},
                          contact_id=contact_id)
    assert second.status_code == 201, second.text
    assert second.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert await _count(home, select(Conversation).where(
        Conversation.contact_id == contact_id)) == 1
    assert await _count(home, select(Message).where(Message.contact_id == contact_id)) == 2


async def test_the_customers_own_open_conversation_is_used(world, telegram):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="tg-4242", channel_id=telegram)
    response = await _start(home.sevgi, telegram, {"body": "Size nasıl yardımcı olabilirim?"},
                            contact_id=inbound.contact_id)
    assert response.status_code == 201, response.text
    assert response.json()["conversation"]["id"] == str(inbound.conversation_id)


async def test_telegram_cannot_find_a_customer_who_never_wrote_to_the_bot(world, telegram):
    contact_id = await _contact(world.home, phone="05321112244")
    response = await _start(world.home.bora, telegram, {"body": "Merhaba"},
                            contact_id=contact_id)
    assert (response.status_code, response.json()["error"]["field"]) == (422, "channel_id")


async def test_web_chat_waits_for_the_customer(world):
    response = await _start(world.home.bora, world.home.channel_id, {"body": "Merhaba"},
                            phone="05321112255")
    assert (response.status_code, response.json()["error"]["field"]) == (422, "channel_id")


async def test_whatsapp_needs_an_approved_template_to_write_first(world, whatsapp):
    home = world.home
    refused = await _start(home.bora, whatsapp, {"body": "Merhaba"}, phone="05321234500")
    assert refused.status_code == 409
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "template_required", "template")
    assert await _count(home, select(Conversation).where(
        Conversation.channel_id == whatsapp)) == 0  # nothing left behind
    response = await _start(home.bora, whatsapp, {
        "content_kind": "template", "template": {
            "name": "randevu_hatirlatma", "language": "tr",
            "parameters": {"1": "Ayşe Hanım", "2": "28 Kasım"}}}, phone="05321234500")
    assert response.status_code == 201, response.text
    assert "28 Kasım" in response.json()["message"]["body"]


async def test_whatsapp_free_text_is_fine_while_the_customer_window_is_open(world, whatsapp):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="905321234501", phone="905321234501",
                                 channel_id=whatsapp)
    response = await _start(home.sevgi, whatsapp, {"body": "Buyurun"},
                            contact_id=inbound.contact_id)
    assert response.status_code == 201, response.text


async def test_a_blocked_contact_is_refused(world, sms):
    home = world.home
    contact_id = await _contact(home, phone="05321112266")
    await home.sevgi.client.put(f"/api/v1/contacts/{contact_id}/block")
    response = await _start(home.sevgi, sms, {"body": "Merhaba"}, contact_id=contact_id)
    assert response.status_code == 409
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
        "contact_blocked", "contact_id")


async def test_a_number_that_opted_out_of_sms_is_refused(world, sms):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        session.add(SmsOptOut(tenant_id=home.tenant_id, phone="+905321112277", keyword="STOP"))
    response = await _start(home.bora, sms, {"body": "Kampanya!"}, phone="0532 111 22 77")
    assert response.status_code == 409
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
        "sms_opted_out", "phone")


async def test_an_invalid_number_names_the_phone_field(world, sms):
    response = await _start(world.home.bora, sms, {"body": "Merhaba"}, phone="12")
    assert (response.status_code, response.json()["error"]["field"]) == (422, "phone")


async def test_a_double_click_sends_once(world, sms):
    home = world.home
    message = {"body": "Tek sefer", "client_message_id": uuid.uuid4().hex}
    first = await _start(home.bora, sms, message, phone="05321112288")
    again = await _start(home.bora, sms, message, phone="05321112288")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert await _count(home, select(Message).where(Message.channel_id == sms)) == 1

"""The pages' side: the "New message" dialog (from the inbox and from the contact card) and the
composer's "Schedule" control with the list of scheduled messages above it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from invekto.contacts.models import Contact
from invekto.inbox.models import Conversation, ScheduledMessage

HX = {"HX-Request": "true"}


async def test_the_dialog_offers_only_channels_that_can_write_first(world, sms, whatsapp,
                                                                    telegram):
    page = await world.home.bora.client.get("/inbox/new", headers=HX)
    assert page.status_code == 200, page.text
    assert f'value="{sms}"' in page.text and f'value="{whatsapp}"' in page.text
    # Web chat waits for visitors; a Telegram bot cannot find a number.
    assert str(world.home.channel_id) not in page.text and str(telegram) not in page.text
    assert 'name="phone"' in page.text


async def test_a_new_number_from_the_dialog_opens_its_conversation(world, sms):
    home = world.home
    response = await home.bora.client.post("/inbox/new", headers=HX, data={
        "channel": str(sms), "phone": "0532 987 65 43", "body": "Merhaba, Kliniğimizden",
        "client_message_id": uuid.uuid4().hex})
    assert response.status_code == 204, response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.scalar(select(Contact).where(Contact.phone == "+905329876543"))
        conversation = await session.scalar(select(Conversation).where(
            Conversation.contact_id == contact.id))
    assert response.headers["HX-Redirect"] == f"/inbox?c={conversation.id}"


async def test_the_contact_card_offers_a_template_on_whatsapp(world, whatsapp):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="905321239999", phone="905321239999")
    card = await home.bora.client.get(f"/inbox?c={inbound.conversation_id}")
    assert f'hx-get="/inbox/new?contact={inbound.contact_id}"' in card.text
    dialog = await home.bora.client.get("/inbox/new", headers=HX, params={
        "contact": str(inbound.contact_id), "channel": str(whatsapp),
        "template": "randevu_hatirlatma|tr"})
    assert 'name="param.1"' in dialog.text and 'name="param.2"' in dialog.text
    response = await home.bora.client.post("/inbox/new", headers=HX, data={
        "contact": str(inbound.contact_id), "channel": str(whatsapp),
        "template": "randevu_hatirlatma|tr", "param.1": "Ayşe Hanım", "param.2": "28 Kasım"})
    assert response.status_code == 204, response.text


async def test_the_composer_schedules_in_the_companys_time_and_cancels(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    page = await home.bora.client.get(f"/inbox?c={inbound.conversation_id}")
    assert 'id="schedule-button"' in page.text and 'id="schedule-at"' in page.text
    day = datetime.now(ZoneInfo("Europe/Istanbul")).date() + timedelta(days=1)
    listed = await home.bora.client.post(
        f"/inbox/c/{inbound.conversation_id}/scheduled", headers=HX,
        data={"body": "Sabah ararız", "send_at": f"{day}T09:00"})
    assert listed.status_code == 200, listed.text
    assert "Sabah ararız" in listed.text and 'data-action="cancel-scheduled"' in listed.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await session.scalar(select(ScheduledMessage).where(
            ScheduledMessage.conversation_id == inbound.conversation_id))
    assert row.send_at == datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)
    # Deniz sees the list (the shared queue) but may not cancel Bora's message.
    seen = await home.deniz.client.get(f"/inbox/c/{inbound.conversation_id}/scheduled",
                                       headers=HX)
    assert "Sabah ararız" in seen.text and "cancel-scheduled" not in seen.text
    emptied = await home.bora.client.post(
        f"/inbox/c/{inbound.conversation_id}/scheduled/{row.id}/cancel", headers=HX)
    assert emptied.status_code == 200 and "Sabah ararız" not in emptied.text


async def test_a_past_time_in_the_composer_is_refused(world):
    inbound = await world.home.inbound("Merhaba")
    response = await world.home.bora.client.post(
        f"/inbox/c/{inbound.conversation_id}/scheduled", headers=HX,
        data={"body": "Dün", "send_at": "2020-01-01T09:00"})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "send_at")

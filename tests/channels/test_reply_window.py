"""Meta's 24-hour customer-service window: free text only within 24 hours of the customer's last
message on that channel; the API refuses it after, and the composer says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate

HX = {"hx-request": "true"}


@pytest.fixture
async def whatsapp_channel(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id="109876543210987"))
    return channel.id


async def _inbound_at(world, channel_id, hours_ago: float, handle: str):
    from invekto.inbox import service as inbox
    from invekto.inbox.schemas import InboundMessage

    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        message, _ = await inbox.receive_inbound(session, home.tenant_id, InboundMessage(
            channel_id=channel_id, handle=handle, provider_message_id=f"wamid.{handle}",
            body="Merhaba", sent_at=datetime.now(UTC) - timedelta(hours=hours_ago)))
    return message


async def test_within_24_hours_free_text_is_sent(world, whatsapp_channel):
    message = await _inbound_at(world, whatsapp_channel, 23, "yeni")
    response = await world.home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/messages", json={"body": "Buyurun"})
    assert response.status_code == 201, response.text
    page = (await world.home.sevgi.client.get(f"/inbox/c/{message.conversation_id}",
                                              headers=HX)).text
    assert 'id="window-open"' in page and 'id="composer"' in page


async def test_after_24_hours_free_text_is_refused_with_a_clear_error(world, whatsapp_channel):
    message = await _inbound_at(world, whatsapp_channel, 25, "eski")
    path = f"/api/v1/conversations/{message.conversation_id}/messages"
    response = await world.home.sevgi.client.post(path, json={"body": "Buyurun"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("outside_reply_window", "body")
    assert "24 hours" in error["message"]
    # The page says it in the user's language and offers no free-text composer.
    page = (await world.home.sevgi.client.get(f"/inbox/c/{message.conversation_id}",
                                              headers=HX)).text
    assert 'id="window-closed"' in page and 'id="composer"' not in page
    assert "24 saatten fazla" in page
    web = await world.home.sevgi.client.post(f"/inbox/c/{message.conversation_id}/messages",
                                             data={"body": "Buyurun"}, headers=HX)
    assert web.status_code == 409 and "24 saatten fazla" in web.json()["error"]["message"]


async def test_a_new_customer_message_reopens_the_window(world, whatsapp_channel):
    old = await _inbound_at(world, whatsapp_channel, 30, "geri")
    home = world.home
    from invekto.inbox import service as inbox
    from invekto.inbox.schemas import InboundMessage

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.receive_inbound(session, home.tenant_id, InboundMessage(
            channel_id=whatsapp_channel, handle="geri", provider_message_id="wamid.geri-2",
            body="Tekrar merhaba"))
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{old.conversation_id}/messages", json={"body": "Buyurun"})
    assert response.status_code == 201, response.text


async def test_web_chat_has_no_window(world):
    message = await world.home.inbound("Merhaba")  # the company's web chat channel
    async with world.home.rt.db.tenant_session(world.home.tenant_id) as session:
        from sqlalchemy import update

        from invekto.inbox.models import Message
        await session.execute(update(Message).where(Message.id == message.id).values(
            created_at=datetime.now(UTC) - timedelta(days=3)))
    response = await world.home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/messages", json={"body": "Buyurun"})
    assert response.status_code == 201, response.text

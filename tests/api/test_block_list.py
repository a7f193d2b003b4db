"""The block list: a blocked contact's messages are stored but notify (no unread count, no live
event) and are assigned to no one; nothing can be sent to them; unblocking restores both; only
those who may read the contact can block them."""

from __future__ import annotations

from sqlalchemy import select

from invekto.audit.models import AuditEvent
from invekto.inbox.models import Conversation, Message
from invekto.users import service as users


async def _conversation(company, conversation_id) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, conversation_id)


async def test_a_blocked_contact_is_kept_quiet_and_cannot_be_written_to(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="spam", name="Spam Gönderen")
    response = await home.sevgi.client.put(f"/api/v1/contacts/{first.contact_id}/block")
    assert response.status_code == 200, response.text
    assert response.json()["blocked_at"] is not None
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        event = await session.scalar(select(AuditEvent).where(
            AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "contact.blocked",
            AuditEvent.target_id == first.contact_id))
    assert event.actor_id == home.sevgi.user_id

    # Routing is on and Bora is online, yet the blocked contact's new messages go to no one.
    await home.sevgi.client.put(f"/api/v1/channels/{home.channel_id}/routing",
                                json={"group_ids": [str(home.group_id)]})
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await users.touch_presence(session, home.tenant_id, home.bora.user_id)
    before = await _conversation(home, first.conversation_id)
    later = await home.inbound("Kampanya!!! Tıklayın", handle="spam")
    after = await _conversation(home, later.conversation_id)
    assert later.body == "Kampanya!!! Tıklayın"  # kept
    assert (after.unread_count, after.last_message_preview) == (
        before.unread_count, before.last_message_preview)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(
            Conversation.__table__.update().where(Conversation.id == later.conversation_id)
            .values(status="closed"))
    fresh = await home.inbound("Yeni kampanya", handle="spam")
    assert fresh.conversation_id != later.conversation_id
    assert (await _conversation(home, fresh.conversation_id)).assignee_id is None

    refused = await home.sevgi.client.post(
        f"/api/v1/conversations/{fresh.conversation_id}/messages", json={"body": "Merhaba"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "contact_blocked")

    unblocked = await home.sevgi.client.delete(f"/api/v1/contacts/{first.contact_id}/block")
    assert unblocked.json()["blocked_at"] is None
    sent = await home.sevgi.client.post(
        f"/api/v1/conversations/{fresh.conversation_id}/messages", json={"body": "Merhaba"})
    assert sent.status_code == 201, sent.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(Message.body).where(
            Message.id == sent.json()["id"])) == "Merhaba"


async def test_only_who_may_read_the_contact_blocks_them(world):
    home = world.home
    mine = await home.inbound("Merhaba", handle="kisi")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox import service as inbox

        await inbox.assign(session, home.system, mine.conversation_id, home.deniz.user_id)
    assert (await home.bora.client.put(f"/api/v1/contacts/{mine.contact_id}/block")
            ).status_code == 404  # Deniz's customer: Bora does not see them
    assert (await world.charlie.ayla.client.put(f"/api/v1/contacts/{mine.contact_id}/block")
            ).status_code == 404
    assert (await home.deniz.client.put(f"/api/v1/contacts/{mine.contact_id}/block")
            ).status_code == 200


async def test_the_contact_card_blocks_and_unblocks(world):
    home = world.home
    message = await home.inbound("Merhaba", handle="kart", name="Kart Kişi")
    hx = {"hx-request": "true"}
    url = f"/inbox/contacts/{message.contact_id}/block?c={message.conversation_id}"
    card = await home.sevgi.client.post(url, data={"blocked": "true"}, headers=hx)
    assert card.status_code == 200, card.text
    assert 'data-blocked="true"' in card.text and "beri engellendi" in card.text
    card = await home.sevgi.client.post(url, data={"blocked": "false"}, headers=hx)
    assert 'data-blocked="false"' in card.text

"""A channel's automatic steps, with the clock moved forward (the scans take ``now``): welcome
messages for new and returning customers, reassigning a customer an agent left waiting (both
agents told), and closing conversations that went quiet (open and pending on their own timers,
with the closing message). Every timer acts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Message, Notification
from invekto.inbox.schemas import MessageSend
from tests.routing.team import acting, assignees, route


async def _operate(company, **fields) -> None:
    response = await company.sevgi.client.put(
        f"/api/v1/channels/{company.channel_id}/operations", json=fields)
    assert response.status_code == 200, response.text


async def _outbound(company, conversation_id) -> list[str]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message.body).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound"
        ).order_by(Message.created_at))).all())


def later(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


async def _run(company, now, listed, act) -> list:
    """A timer's minute, as its job runs it, for this company only: the conversations it
    acted on."""
    async with company.rt.db.system_session() as session:
        found = await listed(session, now=now)
    done = []
    for tenant_id, conversation_id in found:
        if tenant_id != company.tenant_id:
            continue  # another test's company
        async with company.rt.db.tenant_session(tenant_id) as session:
            if await act(session, tenant_id, conversation_id, now=now):
                done.append(conversation_id)
    return done


async def _idle(company, now) -> list:
    return await _run(company, now, inbox.idle_conversations, inbox.reassign_idle)


async def _quiet(company, now) -> list:
    return await _run(company, now, inbox.quiet_conversations, inbox.auto_close)


async def test_new_and_returning_customers_get_their_welcome(team):
    await _operate(team, welcome_new="Hoş geldiniz! Size nasıl yardımcı olabiliriz?",
                   welcome_returning="Tekrar hoş geldiniz!")
    first = await team.inbound("Merhaba", handle="ilk")
    assert await _outbound(team, first.conversation_id) == [
        "Hoş geldiniz! Size nasıl yardımcı olabiliriz?"]
    again = await team.inbound("Bir sorum daha var", handle="ilk")  # same conversation
    assert await _outbound(team, again.conversation_id) == [
        "Hoş geldiniz! Size nasıl yardımcı olabiliriz?"]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.close(session, team.system, first.conversation_id)
    back = await team.inbound("Yine ben", handle="ilk")
    assert await _outbound(team, back.conversation_id) == ["Tekrar hoş geldiniz!"]


async def test_a_customer_left_waiting_goes_to_a_colleague_once(team):
    await route(team)
    await _operate(team, idle_minutes=10)
    waiting = await team.inbound("Cevap bekliyorum", handle="bekleyen")
    assert await assignees(team, [waiting]) == ["bora"]

    assert await _idle(team, later(minutes=9)) == []  # not yet
    moment = later(minutes=11)
    assert await _idle(team, moment) == [waiting.conversation_id]
    assert await assignees(team, [waiting]) == ["deniz"]
    assert await _idle(team, moment) == []  # the same run again: nothing twice
    assert await _idle(team, moment + timedelta(minutes=5)) == []  # Deniz has 10 minutes too
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        event = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == waiting.conversation_id,
            ConversationEvent.kind == "assigned").order_by(ConversationEvent.created_at))).all()[-1]
        told = {(n.user_id, n.kind) for n in (await session.scalars(select(Notification).where(
            Notification.conversation_id == waiting.conversation_id))).all()}
    assert event.data == {"assignee_id": str(team.deniz.user_id), "reason": "idle",
                          "from_user_id": str(team.bora.user_id)}
    assert told == {(team.bora.user_id, "idle_taken"), (team.deniz.user_id, "idle_given")}
    # Each sees it among their notifications, in their words.
    bora_page = (await team.bora.client.get("/inbox")).text
    deniz_page = (await team.deniz.client.get("/inbox")).text
    assert "Beklettiğiniz bir müşteri bir iş arkadaşınıza verildi" in bora_page
    assert "Bekletilen bir müşteri size verildi" in deniz_page


async def test_an_answered_or_unrouted_conversation_is_not_idle(team):
    await route(team)
    await _operate(team, idle_minutes=10)
    answered = await team.inbound("Merhaba", handle="cevaplanan")
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.send_message(session, acting(team, "bora"), answered.conversation_id,
                                 MessageSend(body="Buyurun"))
    assert await _idle(team, later(minutes=30)) == []
    # Nobody else available: the conversation stays with Bora rather than going nowhere.
    alone = await team.inbound("Merhaba", handle="yalniz")  # Deniz's turn
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        from invekto.users import service as users

        await users.set_presence(session, acting(team, "bora"), "away")
    assert await _idle(team, later(minutes=30)) == []
    assert await assignees(team, [alone]) == ["deniz"]


async def test_quiet_conversations_close_on_their_own_timers_with_the_closing_message(team):
    await _operate(team, auto_close_hours=24, auto_close_pending_hours=72,
                   closing_message="Görüşmemizi kapatıyoruz; yeniden yazabilirsiniz.")
    quiet = await team.inbound("Teşekkürler", handle="sessiz")
    pending = await team.inbound("Düşünüp döneceğim", handle="dusunen")
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.set_status(session, team.system, pending.conversation_id, "pending")

    assert await _quiet(team, later(hours=23)) == []
    assert await _quiet(team, later(hours=25)) == [quiet.conversation_id]
    assert await _quiet(team, later(hours=25)) == []  # closed once
    assert await _quiet(team, later(hours=73)) == [pending.conversation_id]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        closed = await session.get_one(Conversation, quiet.conversation_id)
        event = await session.scalar(select(ConversationEvent).where(
            ConversationEvent.conversation_id == quiet.conversation_id,
            ConversationEvent.kind == "closed"))
    assert closed.status == "closed" and event.data == {"reason": "auto_close"}
    assert await _outbound(team, quiet.conversation_id) == [
        "Görüşmemizi kapatıyoruz; yeniden yazabilirsiniz."]


async def test_a_customer_who_writes_again_keeps_the_conversation_open(team):
    await _operate(team, auto_close_hours=24)
    first = await team.inbound("Merhaba", handle="geri-yazan")
    await team.inbound("Hâlâ buradayım", handle="geri-yazan")
    # The clock counts from the customer's latest message, not the first.
    assert await _quiet(team, later(hours=23, minutes=59)) == []
    assert first.conversation_id in await _quiet(team, later(hours=25))


@pytest.mark.parametrize("fields", [{"idle_minutes": 0}, {"auto_close_hours": -1},
                                    {"closing_message": "x" * 1001}])
async def test_settings_out_of_range_are_refused(team, fields):
    response = await team.sevgi.client.put(
        f"/api/v1/channels/{team.channel_id}/operations", json=fields)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == next(iter(fields))


async def test_automatic_messages_fill_their_variables_and_bad_ones_are_refused(team):
    await _operate(team, welcome_new="Merhaba {{ contact.first_name }}, {{ company.name }} "
                                     "olarak hoş geldiniz diyoruz!")
    first = await team.inbound("Merhaba", handle="degisken", name="Zeynep Kaya")
    assert await _outbound(team, first.conversation_id) == [
        "Merhaba Zeynep, Test Kliniği olarak hoş geldiniz diyoruz!"]
    refused = await team.sevgi.client.put(
        f"/api/v1/channels/{team.channel_id}/operations",
        json={"welcome_new": "Merhaba {{ contact.soyad }}"})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "validation_failed", "field": "welcome_new",
        "message": "there is no variable contact.soyad"}

"""Routing new conversations through the real ingest path: each algorithm on a real team,
skips (offline, away, full), sticky returning customers, the group's queue and the away
message when nobody can take one, the reason kept in the thread, and the settings' API."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter

from sqlalchemy import select

from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Message
from invekto.inbox.schemas import InboundMessage
from invekto.users import service as users
from invekto.users.schemas import UserUpdate
from tests.routing.team import acting, assignees, conversation_of, join_group, online, route


async def test_round_robin_takes_turns_and_the_thread_says_why(team):
    await route(team)
    first = [await team.inbound(f"Merhaba {n}") for n in range(4)]
    assert await assignees(team, first) == ["bora", "deniz", "bora", "deniz"]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        event = await session.scalar(select(ConversationEvent).where(
            ConversationEvent.conversation_id == first[0].conversation_id,
            ConversationEvent.kind == "assigned"))
    assert event.data == {"assignee_id": str(team.bora.user_id), "reason": "round_robin"}
    assert event.actor_user_id is None  # routing, not a person
    conversation = await conversation_of(team, first[0])
    assert conversation.group_id == team.group_id


async def test_a_second_message_does_not_route_again(team):
    await route(team)
    first = await team.inbound("Merhaba", handle="ayse")
    again = await team.inbound("Orada mısınız?", handle="ayse")
    assert again.conversation_id == first.conversation_id
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        assigned = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == first.conversation_id,
            ConversationEvent.kind == "assigned"))).all()
    assert len(assigned) == 1


async def test_offline_away_and_full_agents_are_skipped(team):
    await route(team)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "away")
    assert await assignees(team, [await team.inbound("1"), await team.inbound("2")]) == [
        "bora", "bora"]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "online")
        await users.update_user(session, team.system, team.bora.user_id,
                                UserUpdate(max_open_conversations=2))
    assert await assignees(team, [await team.inbound("3")]) == ["deniz"]  # Bora is full


async def test_nobody_available_leaves_it_in_the_queue_with_the_away_message(team):
    await route(team, when_nobody="away_message",
                 away_message="Şu an tüm temsilcilerimiz dolu, en kısa sürede döneceğiz.")
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        for name in ("bora", "deniz"):
            await users.set_presence(session, acting(team, name), "away")
    waiting = await team.inbound("Merhaba")
    conversation = await conversation_of(team, waiting)
    assert (conversation.assignee_id, conversation.group_id) == (None, team.group_id)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        replies = (await session.scalars(select(Message.body).where(
            Message.conversation_id == waiting.conversation_id,
            Message.direction == "outbound"))).all()
        queued = await session.scalar(select(ConversationEvent).where(
            ConversationEvent.conversation_id == waiting.conversation_id,
            ConversationEvent.kind == "transferred"))
    assert replies == ["Şu an tüm temsilcilerimiz dolu, en kısa sürede döneceğiz."]
    assert queued.data["reason"] == "queue"


async def test_a_returning_customer_goes_back_to_their_agent(team):
    await route(team)
    first = await team.inbound("Merhaba", handle="kemal")
    assert await assignees(team, [first]) == ["bora"]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.close(session, team.system, first.conversation_id)
    await team.inbound("Başka biri", handle="zehra")  # Deniz's turn now
    back = await team.inbound("Yine ben", handle="kemal")
    assert back.conversation_id != first.conversation_id
    assert await assignees(team, [back]) == ["bora"]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        event = await session.scalar(select(ConversationEvent).where(
            ConversationEvent.conversation_id == back.conversation_id,
            ConversationEvent.kind == "assigned"))
    assert event.data["reason"] == "sticky"
    # Without sticky, the rotation decides: after Bora's turn comes Deniz's.
    await route(team, sticky=False)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.close(session, team.system, back.conversation_id)
    assert await assignees(team, [await team.inbound("Merhaba", handle="nur")]) == ["bora"]
    third = await team.inbound("Üçüncü kez", handle="kemal")
    assert await assignees(team, [third]) == ["deniz"]


async def test_least_today_and_longest_waiting_on_a_real_team(team):
    await route(team, "least_today")
    assert await assignees(team, [await team.inbound(str(n)) for n in range(4)]) == [
        "bora", "deniz", "bora", "deniz"]
    await route(team, "longest_waiting")
    # Bora answers a customer: Deniz has now waited longer since their last reply.
    conversation = (await team.inbound("Soru")).conversation_id
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.send_message(session, acting(team, "bora"), conversation,
                                 inbox.MessageSend(body="Buyurun"))
    assert await assignees(team, [await team.inbound("Yeni")]) == ["deniz"]


async def test_an_unrouted_channel_leaves_conversations_in_the_shared_queue(team):
    message = await team.inbound("Merhaba")
    conversation = await conversation_of(team, message)
    assert (conversation.assignee_id, conversation.group_id) == (None, None)


async def test_the_settings_api_refuses_what_cannot_work(team, world):
    url = f"/api/v1/channels/{team.channel_id}/routing"
    client = team.sevgi.client
    assert (await client.get(url)).status_code == 404  # not routed yet
    unknown = await client.put(url, json={"group_ids": [str(uuid.uuid4())]})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "group_ids")
    foreign = await client.put(url, json={"group_ids": [str(world.charlie.group_id)]})
    assert (foreign.status_code, foreign.json()["error"]["field"]) == (422, "group_ids")
    silent = await client.put(url, json={"group_ids": [str(team.group_id)],
                                         "when_nobody": "away_message"})
    assert (silent.status_code, silent.json()["error"]["field"]) == (422, "away_message")
    bad = await client.put(url, json={"group_ids": [str(team.group_id)],
                                      "algorithm": "alphabetical"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "algorithm")
    assert (await team.bora.client.put(url, json={"group_ids": [str(team.group_id)]})
            ).status_code == 403
    await route(team, "random")
    assert (await team.bora.client.get(url)).json()["algorithm"] == "random"


async def test_many_new_customers_at_once_are_each_assigned_once_and_fairly(team):
    """Hundreds of first messages ingested by several transactions at the same moment: the
    channel's routing row makes them take turns, so the rotation stays fair."""
    await join_group(team, "sevgi")
    await online(team, "sevgi")
    await route(team)

    async def worker(batch: int) -> None:
        async with team.rt.db.tenant_session(team.tenant_id) as session:
            await inbox.receive_inbound_batch(session, team.tenant_id, team.channel_id, [
                InboundMessage(channel_id=team.channel_id, handle=f"yarış-{batch}-{n}",
                               provider_message_id=f"yarış-{batch}-{n}", body="Merhaba")
                for n in range(30)])
    await asyncio.gather(*(worker(batch) for batch in range(8)))

    async with team.rt.db.tenant_session(team.tenant_id) as session:
        conversations = (await session.scalars(select(Conversation).where(
            Conversation.tenant_id == team.tenant_id,
            Conversation.channel_id == team.channel_id))).all()
        events = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.tenant_id == team.tenant_id,
            ConversationEvent.kind == "assigned"))).all()
    assert len(conversations) == 240
    assert all(c.assignee_id is not None for c in conversations)
    assert Counter(e.conversation_id for e in events).most_common(1)[0][1] == 1
    per_agent = Counter(c.assignee_id for c in conversations)
    assert len(per_agent) == 3 and max(per_agent.values()) - min(per_agent.values()) <= 1


async def test_the_thread_tells_how_routing_chose(team):
    await route(team)
    first = await team.inbound("Merhaba", handle="selin")
    response = await team.sevgi.client.get(f"/inbox/c/{first.conversation_id}",
                                           headers={"hx-request": "true"})
    assert response.status_code == 200
    assert "Yönlendirme konuşmayı Bora adlı kullanıcıya atadı (sırayla)" in response.text


async def _offer(company, username: str) -> int:
    """What the ``offer_waiting`` job does for an agent who became available."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await inbox.offer_waiting(session, company.tenant_id,
                                         company.people[username].user_id)


async def test_an_agent_who_comes_online_takes_the_queue_most_urgent_first(team):
    await route(team)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        for name in ("bora", "deniz"):
            await users.set_presence(session, acting(team, name), "away")
    waiting = [await team.inbound(f"Bekliyorum {n}") for n in range(3)]
    assert await assignees(team, waiting) == [None, None, None]
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.set_priority(session, team.system, waiting[2].conversation_id, "urgent")
        await users.update_user(session, team.system, team.deniz.user_id,
                                UserUpdate(max_open_conversations=2))
        await users.set_presence(session, acting(team, "deniz"), "online")
    # Coming online deferred the offer (the worker runs it); here it runs inline.
    assert await _offer(team, "deniz") == 2  # then Deniz is full
    assigned = await assignees(team, waiting)
    assert (assigned[2], assigned[0], assigned[1]) == ("deniz", "deniz", None)  # urgent first
    assert await _offer(team, "deniz") == 0  # full: nothing more, and nothing twice

    # Deniz closes one: the last waiting conversation is theirs at once.
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.close(session, acting(team, "deniz"), waiting[0].conversation_id)
    assert await _offer(team, "deniz") == 1
    assert (await assignees(team, waiting))[1] == "deniz"
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        event = await session.scalar(select(ConversationEvent).where(
            ConversationEvent.conversation_id == waiting[1].conversation_id,
            ConversationEvent.kind == "assigned"))
    assert event.data["reason"] == "queue"


async def test_coming_online_and_finishing_a_conversation_defer_the_offer(team):
    """The triggers themselves: each leaves an ``offer_waiting`` job for the agent."""
    await route(team)
    await _offer_jobs(team, "deniz", clear=True)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "away")
    assert await _offer_jobs(team, "deniz") == 0  # away: nothing to offer
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "online")
        await users.set_presence(session, acting(team, "deniz"), "away")
        await users.set_presence(session, acting(team, "deniz"), "online")
    assert await _offer_jobs(team, "deniz") == 1  # one waits, however often they came back

    mine = await team.inbound("Merhaba")  # round robin: Bora
    await _offer_jobs(team, "bora", clear=True)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.close(session, acting(team, "bora"), mine.conversation_id)
    assert await _offer_jobs(team, "bora") == 1


async def _offer_jobs(company, username: str, *, clear: bool = False) -> int:
    """The agent's waiting ``offer_waiting`` jobs (none left with ``clear``)."""
    from sqlalchemy import text

    where = ("task_name = 'inbox:offer_waiting' AND args->>'user_id' = :user "
             "AND status = 'todo'")
    user = {"user": str(company.people[username].user_id)}
    async with company.rt.db.system_session() as session:
        if clear:
            await session.execute(text(f"DELETE FROM procrastinate_jobs WHERE {where}"), user)
        return await session.scalar(text(f"SELECT count(*) FROM procrastinate_jobs "
                                         f"WHERE {where}"), user)


async def test_supervisors_see_each_queue_and_its_longest_wait(team):
    await route(team)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        for name in ("bora", "deniz"):
            await users.set_presence(session, acting(team, name), "away")
    await team.inbound("Bekliyorum")
    await team.inbound("Ben de")
    board = await team.sevgi.client.get("/monitor/board", headers={"hx-request": "true"})
    assert board.status_code == 200
    queue = board.text[board.text.index(f'id="queue-{team.group_id}"'):]
    queue = queue[:queue.index("</a>")]
    assert 'data-waiting="2"' in queue and "Resepsiyon" in queue
    assert re.search(r'title="En uzun bekleme">· \d+ sn\.', queue)  # the oldest's wait
    assert (await team.bora.client.get("/monitor/board")).status_code in (403, 303)

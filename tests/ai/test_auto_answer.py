"""Auto-answer: on a channel the company chose, the AI answers a new conversation's questions
from the knowledge base before people see it, and hands the conversation over — with a note of
what was asked — as soon as it is unsure. Customers write through the real ingest; the
``ai:auto_answer`` jobs it defers are run inline, as the worker would; the LLM is the
OpenAI-compatible stub server."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, text

from invekto.ai import tasks
from invekto.ai.models import AutoAnswerSession
from invekto.ai.simulator import openai as openai_stub
from invekto.inbox.models import Conversation, ConversationEvent, Message, Note
from tests.ai.support import CLINIC_FAQS, OPENAI_MODEL, add_faqs
from tests.factories import Company
from tests.processes import serving
from tests.routing.team import online, route

SETTINGS = "/api/v1/ai/settings"
MODEL = OPENAI_MODEL
FAQS = CLINIC_FAQS
PRICE = FAQS[0][1]
HOURS = FAQS[1][1]
PRICE_QUESTION = "implant fiyatlarınız nedir"
HOURS_QUESTION = "çalışma saatleriniz nedir"
UNCOVERED = "zirkonyum kaplama yaptırmak istiyorum, kaç seans sürüyor?"


# ---- helpers ---------------------------------------------------------------------------------


async def clinic(company: Company, *, auto_answer: bool = True, **settings) -> None:
    """The clinic's FAQs, searchable now; the AI answering first on its web chat."""
    await add_faqs(company)
    if auto_answer or settings:
        response = await company.ayla.client.put(SETTINGS, json={
            "auto_answer_channel_ids": [str(company.channel_id)] if auto_answer else [],
            **settings})
        assert response.status_code == 200, response.text


async def jobs_of(company: Company, conversation_id: uuid.UUID) -> list[dict]:
    """The ``ai:auto_answer`` jobs deferred for the conversation, oldest first."""
    async with company.rt.db.transaction() as session:
        return [dict(args) for args in await session.scalars(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'ai:auto_answer' "
            "AND args->>'conversation_id' = :conversation ORDER BY id"),
            {"conversation": str(conversation_id)})]


async def run_jobs(company: Company, conversation_id: uuid.UUID) -> list[str]:
    """Every deferred job of the conversation, run as the worker would."""
    return [await tasks.auto_answer(**args) for args in await jobs_of(company, conversation_id)]


async def outbound(company: Company, conversation_id: uuid.UUID) -> list[tuple[str, str]]:
    """(sender kind, text) of what the business sent, oldest first."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return [(m.sender_kind, m.body) for m in await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound"
        ).order_by(Message.created_at, Message.id))]


async def conversation(company: Company, conversation_id: uuid.UUID) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, conversation_id)


async def notes(company: Company, conversation_id: uuid.UUID) -> list[str]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(Note.body).where(
            Note.conversation_id == conversation_id).order_by(Note.created_at)))


async def bot_events(company: Company, conversation_id: uuid.UUID) -> list[dict]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return [e.data for e in await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id,
            ConversationEvent.kind == "bot").order_by(ConversationEvent.created_at,
                                                      ConversationEvent.id))]


async def state_of(company: Company, conversation_id: uuid.UUID) -> dict:
    response = await company.bora.client.get(
        f"/api/v1/conversations/{conversation_id}/auto-answer")
    assert response.status_code == 200, response.text
    return response.json()


# ---- answering -------------------------------------------------------------------------------


async def test_a_question_the_faq_answers_gets_the_faqs_text_from_the_bot(world):
    home = world.home
    await clinic(home)
    asked = await home.inbound(PRICE_QUESTION, handle="ayse")
    conversation_id = asked.conversation_id
    held = await conversation(home, conversation_id)
    assert held.held_by_bot and held.assignee_id is None
    # Nothing answered in the ingest's transaction: the answer is the job's.
    assert await outbound(home, conversation_id) == []
    assert [job["message_id"] for job in await jobs_of(home, conversation_id)] == [
        str(asked.id)]

    assert await run_jobs(home, conversation_id) == ["answered"]
    assert await outbound(home, conversation_id) == [("bot", PRICE)]
    after = await conversation(home, conversation_id)
    assert after.held_by_bot and after.assignee_id is None
    assert await state_of(home, conversation_id) | {"started_at": None} == {
        "conversation_id": str(conversation_id), "state": "answering", "answers": 1,
        "end_reason": None, "started_at": None, "ended_at": None}

    # A later question in the same conversation is answered too.
    await home.inbound(HOURS_QUESTION, handle="ayse")
    assert await run_jobs(home, conversation_id) == ["done", "answered"]
    assert await outbound(home, conversation_id) == [("bot", PRICE), ("bot", HOURS)]
    assert (await state_of(home, conversation_id))["answers"] == 2
    assert [e["action"] for e in await bot_events(home, conversation_id)] == ["started"]


async def test_the_same_job_run_twice_or_side_by_side_answers_once(world):
    home = world.home
    await clinic(home)
    asked = await home.inbound(PRICE_QUESTION)
    [job] = await jobs_of(home, asked.conversation_id)
    assert await tasks.auto_answer(**job) == "answered"
    assert await tasks.auto_answer(**job) == "done"  # a retry after it answered
    assert await outbound(home, asked.conversation_id) == [("bot", PRICE)]

    # Two workers on one message: one answers, the other finds it dealt with.
    again = await home.inbound(HOURS_QUESTION)
    [job] = await jobs_of(home, again.conversation_id)
    results = await asyncio.gather(tasks.auto_answer(**job), tasks.auto_answer(**job))
    assert sorted(results) == ["answered", "done"]
    assert await outbound(home, again.conversation_id) == [("bot", HOURS)]


async def test_a_burst_of_messages_is_one_question_answered_once(world):
    home = world.home
    await clinic(home)
    first = await home.inbound("merhaba", handle="ayse")
    await home.inbound("implant yaptırmak istiyorum", handle="ayse")
    await home.inbound("fiyatlarınız nedir", handle="ayse")
    # The older messages' jobs are overtaken by the newest one's, which reads all three.
    assert await run_jobs(home, first.conversation_id) == ["overtaken", "overtaken",
                                                            "answered"]
    assert await outbound(home, first.conversation_id) == [("bot", PRICE)]


# ---- handing off -----------------------------------------------------------------------------


async def test_a_question_the_knowledge_base_does_not_answer_goes_to_a_person(world):
    home = world.home
    await route(home)
    await online(home, "bora")
    await clinic(home)
    asked = await home.inbound(UNCOVERED, handle="mehmet")
    conversation_id = asked.conversation_id
    assert (await conversation(home, conversation_id)).assignee_id is None  # routing waits
    assert await run_jobs(home, conversation_id) == ["handed_off"]

    assert await outbound(home, conversation_id) == []  # nothing made up for the customer
    [note] = await notes(home, conversation_id)
    # The question, and the article the AI came closest to (the note is in the company's
    # language: only the customer's and the company's words are checked).
    assert UNCOVERED in note and FAQS[0][0] in note
    handed = await conversation(home, conversation_id)
    assert not handed.held_by_bot
    assert handed.assignee_id == home.bora.user_id  # routed as a new conversation
    assert handed.waiting_since is not None
    state = await state_of(home, conversation_id)
    assert (state["state"], state["end_reason"], state["answers"]) == ("handed_off", "unsure",
                                                                      0)
    assert [e["action"] for e in await bot_events(home, conversation_id)] == [
        "started", "handed_off"]

    # The AI never comes back: a later question is for the agent.
    await home.inbound(PRICE_QUESTION, handle="mehmet")
    assert len(await jobs_of(home, conversation_id)) == 1
    assert await outbound(home, conversation_id) == []


async def test_the_answers_limit_and_an_escape_word_hand_over(world):
    home = world.home
    await clinic(home)
    first = await home.inbound(PRICE_QUESTION, handle="ayse")
    conversation_id = first.conversation_id
    assert await run_jobs(home, conversation_id) == ["answered"]
    for _ in range(4):
        await home.inbound(HOURS_QUESTION, handle="ayse")
        assert (await run_jobs(home, conversation_id))[-1] == "answered"
    assert (await state_of(home, conversation_id))["answers"] == 5
    await home.inbound(PRICE_QUESTION, handle="ayse")
    assert (await run_jobs(home, conversation_id))[-1] == "handed_off"
    state = await state_of(home, conversation_id)
    assert (state["state"], state["end_reason"], state["answers"]) == ("handed_off", "limit",
                                                                      5)
    assert PRICE_QUESTION in (await notes(home, conversation_id))[-1]

    other = await home.inbound(HOURS_QUESTION, handle="zeynep")
    await home.inbound("bir temsilci ile görüşmek istiyorum", handle="zeynep")
    # Handed over in the ingest itself: the question's job finds the AI gone.
    state = await state_of(home, other.conversation_id)
    assert (state["state"], state["end_reason"]) == ("handed_off", "escape")
    assert not (await conversation(home, other.conversation_id)).held_by_bot
    assert await run_jobs(home, other.conversation_id) == ["ended"]
    assert await outbound(home, other.conversation_id) == []

    # Asking for a person in the first message: the AI does not take the conversation.
    direct = await home.inbound("temsilci lütfen", handle="kemal")
    assert not (await conversation(home, direct.conversation_id)).held_by_bot
    assert await jobs_of(home, direct.conversation_id) == []


async def test_small_talk_waits_after_the_welcome_and_goes_to_a_person_without_one(world):
    home = world.home
    await clinic(home)
    bare = await home.inbound("merhaba", handle="ayse")  # no welcome: nobody answered yet
    assert await run_jobs(home, bare.conversation_id) == ["handed_off"]

    response = await home.sevgi.client.put(
        f"/api/v1/channels/{home.channel_id}/operations",
        json={"welcome_new": "Hoş geldiniz! Size nasıl yardımcı olabiliriz?"})
    assert response.status_code == 200, response.text
    greeted = await home.inbound("merhaba", handle="mehmet")
    conversation_id = greeted.conversation_id
    assert await run_jobs(home, conversation_id) == ["waiting"]
    await home.inbound(PRICE_QUESTION, handle="mehmet")
    assert await run_jobs(home, conversation_id) == ["done", "answered"]
    await home.inbound("çok teşekkürler", handle="mehmet")
    assert (await run_jobs(home, conversation_id))[-1] == "waiting"
    assert await outbound(home, conversation_id) == [
        ("system", "Hoş geldiniz! Size nasıl yardımcı olabiliriz?"), ("bot", PRICE)]
    assert (await conversation(home, conversation_id)).held_by_bot


# ---- people ----------------------------------------------------------------------------------


async def test_a_person_writing_taking_over_or_closing_ends_it(world):
    home = world.home
    await clinic(home)
    asked = await home.inbound(PRICE_QUESTION, handle="ayse")
    conversation_id = asked.conversation_id
    # Bora answers before the job ran: the AI stops, and its job does nothing.
    response = await home.bora.client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": "Hemen bakıyorum."})
    assert response.status_code == 201, response.text
    assert await run_jobs(home, conversation_id) == ["ended"]
    assert [kind for kind, _ in await outbound(home, conversation_id)] == ["agent"]
    state = await state_of(home, conversation_id)
    assert (state["state"], state["end_reason"]) == ("ended", "takeover")
    assert not (await conversation(home, conversation_id)).held_by_bot
    assert (await bot_events(home, conversation_id))[-1]["reason"] == "taken_over"

    # The bot bar's "take over" works for the AI as for a flow.
    other = await home.inbound(HOURS_QUESTION, handle="mehmet")
    response = await home.bora.client.post(
        f"/api/v1/conversations/{other.conversation_id}/bot/take-over")
    assert response.status_code == 200, response.text
    assert response.json()["assignee_id"] == str(home.bora.user_id)
    assert (await state_of(home, other.conversation_id))["end_reason"] == "takeover"

    closed = await home.inbound(HOURS_QUESTION, handle="zeynep")
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{closed.conversation_id}/close")
    assert response.status_code == 200, response.text
    assert (await state_of(home, closed.conversation_id))["end_reason"] == "closed"
    assert await run_jobs(home, closed.conversation_id) == ["ended"]


async def test_off_by_default_the_usual_welcome_and_routing(world):
    home = world.home
    await route(home)
    await online(home, "bora")
    await clinic(home, auto_answer=False)
    asked = await home.inbound(PRICE_QUESTION)
    routed = await conversation(home, asked.conversation_id)
    assert not routed.held_by_bot and routed.assignee_id == home.bora.user_id
    assert await jobs_of(home, asked.conversation_id) == []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(AutoAnswerSession)) is None
    response = await home.bora.client.get(
        f"/api/v1/conversations/{asked.conversation_id}/auto-answer")
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "conversation_id"
    # Another company's people never read it.
    await clinic(home, auto_answer=True)
    mine = await home.inbound(PRICE_QUESTION)
    async with world.charlie.api_client() as other:
        response = await other.get(f"/api/v1/conversations/{mine.conversation_id}/auto-answer")
    assert response.status_code == 404


# ---- with an LLM -----------------------------------------------------------------------------


def verdict(answer: str, sources: list[int], answerable: bool = True) -> dict:
    return {"answerable": answerable, "answer": answer, "sources": sources}


async def test_an_llm_writes_the_answer_and_a_number_the_sources_lack_is_refused(world):
    home = world.home
    await clinic(home)
    stub = openai_stub.OpenAISimulator()
    written = "Merhaba! Tek implant üst yapısıyla 28.000 TL'den başlıyor."
    stub.chat_replies.data(verdict(written, [1]), usage=(300, 20))
    # A price the sources do not state: the builtin answer decides (the FAQ's own text).
    stub.chat_replies.data(verdict("İmplant 25.000 TL, hemen gelin!", [1]))
    # Answerable, citing a source that does not exist: refused too; the builtin model is
    # unsure of this question, so a person gets it.
    stub.chat_replies.data(verdict("Zirkonyum 2 seansta biter.", [9]))
    async with serving(stub) as url:
        response = await home.ayla.client.put(SETTINGS, json={
            "provider": "openai", "model": MODEL, "base_url": f"{url}/v1",
            "api_key": openai_stub.API_KEY, "auto_answer_channel_ids": [str(home.channel_id)]})
        assert response.status_code == 200, response.text
        first = await home.inbound("implant ne kadar", handle="ayse")
        assert await run_jobs(home, first.conversation_id) == ["answered"]
        second = await home.inbound(PRICE_QUESTION, handle="mehmet")
        assert await run_jobs(home, second.conversation_id) == ["answered"]
        third = await home.inbound(UNCOVERED, handle="zeynep")
        assert await run_jobs(home, third.conversation_id) == ["handed_off"]

    assert await outbound(home, first.conversation_id) == [("bot", written)]
    assert await outbound(home, second.conversation_id) == [("bot", PRICE)]
    assert await outbound(home, third.conversation_id) == []
    call = stub.requests[0]
    system = call.body["messages"][0]["content"]
    assert f"[1] {FAQS[0][0]}\n{PRICE}" in system
    assert call.body["messages"][1] == {"role": "user", "content": "implant ne kadar"}
    assert call.body["response_format"]["json_schema"]["strict"] is True
    assert len(stub.requests) == 3

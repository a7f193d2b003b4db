"""Summaries of a conversation and of a customer's whole history, through the API an agent's
inbox calls: the builtin one made of the thread's own sentences, the company's LLM's (through
the stub server) and the builtin one again when the LLM fails; and the internal note the
``ai:handover_summary`` job writes once per transfer."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text, update

from invekto.ai import summaries, tasks
from invekto.ai.simulator import openai as openai_stub
from invekto.core import i18n
from invekto.inbox.models import Conversation, Note, Notification
from tests.ai.support import use_openai_stub
from tests.processes import serving

# A clinic's chat, written for this test: who wrote each message, and what.
THREAD = [
    ("customer", "Merhaba"),
    ("customer", "Merhaba, implant yaptırmak istiyorum. Fiyatı ne kadar?"),
    ("agent", "Merhaba, hoş geldiniz! Tek implant 28.000 TL'den başlıyor."),
    ("customer", "Fiyat ne kadar acaba? Taksit var mı?"),
    ("agent", "Kredi kartına taksit yapabiliyoruz. Muayene için cuma 14:30 uygun mu?"),
    ("customer", "Cuma olur."),
    ("agent", "Randevunuzu cuma 14:30 olarak oluşturdum. Size SMS ile hatırlatma "
              "göndereceğiz."),
    ("customer", "Teşekkürler. Otopark var mı peki?"),
]


def tr(message: str, **values: object) -> str:
    """A label as the company (Turkish) reads it."""
    return i18n.text("tr", message, **values)


EXPECTED = "\n".join([
    tr("Topic: %(topic)s", topic="implant yaptırmak istiyorum."),
    tr("The customer asked or said:"),
    "- Fiyatı ne kadar?",
    "- Taksit var mı?",
    tr("The team answered or promised:"),
    "- Tek implant 28.000 TL'den başlıyor.",
    "- Randevunuzu cuma 14:30 olarak oluşturdum.",
    "- Size SMS ile hatırlatma göndereceğiz.",
    tr("Not answered yet: %(text)s", text="Otopark var mı peki?"),
])


async def chat(company, person, thread=THREAD, *, handle: str = "ayse") -> uuid.UUID:
    """The thread, the customer's messages arriving and ``person`` answering; its
    conversation."""
    conversation_id = None
    for who, body in thread:
        if who == "customer":
            message = await company.inbound(body, handle=handle, name="Ayşe Demir")
            conversation_id = message.conversation_id
        else:
            response = await person.client.post(
                f"/api/v1/conversations/{conversation_id}/messages", json={"body": body})
            assert response.status_code == 201, response.text
    assert conversation_id is not None
    return conversation_id


async def summary(person, conversation_id, *, scope: str | None = None,
                  expect: int = 200) -> dict:
    query = f"?scope={scope}" if scope else ""
    response = await person.client.get(
        f"/api/v1/conversations/{conversation_id}/summary{query}")
    assert response.status_code == expect, response.text
    return response.json()


async def test_the_builtin_summary_is_the_threads_own_sentences(world):
    home = world.home
    conversation_id = await chat(home, home.ayla)
    found = await summary(home.bora, conversation_id)
    assert found == {"text": EXPECTED, "scope": "conversation", "provider": "builtin",
                     "message_count": len(THREAD)}
    # Every point is a sentence someone wrote: nothing made up.
    bodies = " ".join(body for _who, body in THREAD)
    for line in found["text"].splitlines():
        if line.startswith("- "):
            assert line[2:] in bodies

    # Once the team answered the last question, nothing is waiting.
    response = await home.ayla.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Evet, binamızın altında ücretsiz otopark var."})
    assert response.status_code == 201, response.text
    found = await summary(home.bora, conversation_id)
    assert tr("Not answered yet: %(text)s", text="") not in found["text"]
    assert "- Otopark var mı peki?" in found["text"]
    assert found["message_count"] == len(THREAD) + 1


async def test_a_thread_of_greetings_has_nothing_to_summarise(world):
    home = world.home
    conversation_id = await chat(home, home.ayla, [("customer", "Merhaba"),
                                                   ("agent", "Merhaba, buyrun"),
                                                   ("customer", "Teşekkürler, iyi günler")])
    found = await summary(home.bora, conversation_id)
    assert found["text"] == tr("Nothing to summarise yet.")
    assert found["message_count"] == 3


async def test_the_whole_history_has_a_line_per_earlier_conversation(world):
    home = world.home
    response = await home.ayla.client.post("/api/v1/tags", json={"name": "fiyat"})
    assert response.status_code == 201, response.text
    earlier = await chat(home, home.ayla, [("customer", "Selam, diş beyazlatma kaç TL?"),
                                           ("agent", "4.500 TL, tek seans.")])
    response = await home.ayla.client.post(f"/api/v1/conversations/{earlier}/tags",
                                           json={"add": ["fiyat"]})
    assert response.status_code == 200, response.text
    response = await home.ayla.client.post(f"/api/v1/conversations/{earlier}/close")
    assert response.status_code == 200, response.text
    current = await chat(home, home.ayla)
    assert current != earlier
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        opened = await session.scalar(select(Conversation.opened_at).where(
            Conversation.id == earlier))

    found = await summary(home.bora, current, scope="contact")
    day = i18n.Formatter("tr", "Europe/Istanbul").date(opened)
    assert found["text"] == "\n".join([
        tr("Earlier conversations:"), f"- {day} · Web · diş beyazlatma kaç TL? · #fiyat", "",
        tr("This conversation:"), EXPECTED])
    assert (found["scope"], found["provider"]) == ("contact", "builtin")
    assert found["message_count"] == len(THREAD) + 1  # the earlier topic's one message
    # Without earlier conversations, the history is the conversation itself.
    alone = await chat(home, home.ayla, handle="mehmet")
    assert (await summary(home.bora, alone, scope="contact"))["text"] == EXPECTED

    error = (await summary(home.bora, current, scope="everything", expect=422))["error"]
    assert error["field"] == "scope"




async def test_the_llm_writes_it_and_a_failure_falls_back_to_the_builtin_one(world):
    home = world.home
    conversation_id = await chat(home, home.ayla)
    written = ("Ayşe Hanım implant fiyatını ve taksiti sordu; 28.000 TL'den başladığı "
               "söylendi, cuma 14:30 randevusu oluşturuldu. Otopark sorusu cevap bekliyor.")
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data({"summary": written}, usage=(400, 40))
    stub.chat_replies.text("Müşteri implant sordu.")  # not JSON
    stub.chat_replies.data({"summary": ""})  # empty: not the schema
    async with serving(stub) as url:
        await use_openai_stub(home.ayla, url)
        found = await summary(home.bora, conversation_id)
        fallbacks = [await summary(home.bora, conversation_id) for _ in range(2)]

    assert found == {"text": written, "scope": "conversation", "provider": "openai",
                     "message_count": len(THREAD)}
    assert fallbacks == [{"text": EXPECTED, "scope": "conversation", "provider": "builtin",
                          "message_count": len(THREAD)}] * 2
    assert len(stub.requests) == 3
    call = stub.requests[0]
    assert call.body["response_format"]["type"] == "json_schema"
    system, asked = call.body["messages"]
    assert "Test Kliniği" in system["content"] and "Turkish" in system["content"]
    assert asked["content"].splitlines() == [
        f"{'Customer' if who == 'customer' else 'Team'}: {body}" for who, body in THREAD]
    usage = (await home.ayla.client.get("/api/v1/ai/usage")).json()
    [counted] = [row for row in usage if row["provider"] == "openai"]
    assert (counted["requests"], counted["failures"], counted["fallbacks"]) == (3, 2, 2)
    assert (counted["input_tokens"], counted["output_tokens"]) == (400, 40)


async def test_the_llm_reads_the_last_messages_only(world):
    home = world.home
    long_thread = [("customer" if n % 2 == 0 else "agent", f"Mesaj numarası {n}: " + "ı" * 300)
                   for n in range(summaries.LLM_MESSAGES + 10)]
    conversation_id = await chat(home, home.ayla, long_thread)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data({"summary": "Uzun bir konuşma."})
    async with serving(stub) as url:
        await use_openai_stub(home.ayla, url)
        assert (await summary(home.bora, conversation_id))["text"] == "Uzun bir konuşma."
    [call] = stub.requests
    asked = call.body["messages"][-1]["content"]
    assert len(asked) <= summaries.LLM_CHARS
    assert f"Mesaj numarası {len(long_thread) - 1}:" in asked  # the newest is there
    assert "Mesaj numarası 0:" not in asked


async def test_only_who_may_see_the_conversation_gets_its_summary(world):
    home = world.home
    conversation_id = await chat(home, home.ayla)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(
            Conversation.id == conversation_id).values(group_id=home.group_id))
    assert (await summary(home.bora, conversation_id))["text"] == EXPECTED  # in his group
    await summary(home.deniz, conversation_id, expect=404)  # in no group
    await summary(home.deniz, conversation_id, scope="contact", expect=404)
    await summary(home.bora, uuid.uuid4(), expect=404)
    async with world.charlie.api_client() as other:
        response = await other.get(f"/api/v1/conversations/{conversation_id}/summary")
    assert response.status_code == 404


# ---- the handover note -------------------------------------------------------------------------


async def handover_jobs(company, conversation_id) -> list[dict]:
    """The summary jobs deferred for the conversation's transfers, oldest first."""
    async with company.rt.db.transaction() as session:
        rows = await session.execute(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'ai:handover_summary' "
            "AND args->>'conversation_id' = :id ORDER BY id"), {"id": str(conversation_id)})
        return [row[0] for row in rows]


async def transfer(person, conversation_id, to) -> None:
    response = await person.client.post(f"/api/v1/conversations/{conversation_id}/transfer",
                                        json={"user_id": str(to.user_id)})
    assert response.status_code == 200, response.text


async def notes_on(company, conversation_id) -> list[Note]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(Note).where(
            Note.conversation_id == conversation_id).order_by(Note.created_at)))


async def test_a_transfer_leaves_one_summary_note_for_whoever_receives_it(world):
    home = world.home
    thread = [*THREAD[:-1], ("customer", "Instagram'dan @bora hesabına da yazdım, otopark "
                                         "var mı?")]
    conversation_id = await chat(home, home.ayla, thread)
    await transfer(home.ayla, conversation_id, home.bora)
    [job] = await handover_jobs(home, conversation_id)
    assert await tasks.handover_summary(**job) is True
    assert await tasks.handover_summary(**job) is False  # run twice, written once

    [note] = await notes_on(home, conversation_id)
    assert note.author_id is None  # the system's
    heading = tr(summaries.HANDOVER_HEADING)
    assert note.body.split("\n", 1) == [heading, EXPECTED.replace(
        tr("Not answered yet: %(text)s", text="Otopark var mı peki?"),
        tr("Not answered yet: %(text)s",
           text="Instagram'dan ＠bora hesabına da yazdım, otopark var mı?"))]
    # The customer's "@bora" notifies no one.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert not list(await session.scalars(select(Notification).where(
            Notification.user_id == home.bora.user_id)))
    # Bora, who received it, reads it in the thread.
    response = await home.bora.client.get(f"/inbox/c/{conversation_id}",
                                          headers={"hx-request": "true"})
    assert response.status_code == 200, response.text
    assert heading in response.text and "Tek implant 28.000 TL" in response.text

    # Each transfer has its own; of two before the job ran, only the newer one writes.
    await transfer(home.bora, conversation_id, home.sevgi)
    await transfer(home.sevgi, conversation_id, home.deniz)
    first, second = (await handover_jobs(home, conversation_id))[1:]
    assert await tasks.handover_summary(**first) is False
    assert await tasks.handover_summary(**second) is True
    assert len(await notes_on(home, conversation_id)) == 2


async def test_a_short_or_closed_conversation_gets_no_note(world):
    home = world.home
    short = await chat(home, home.ayla, THREAD[1:4], handle="kisa")  # three messages
    await transfer(home.ayla, short, home.bora)
    [job] = await handover_jobs(home, short)
    assert await tasks.handover_summary(**job) is False
    assert await notes_on(home, short) == []

    closed = await chat(home, home.ayla)
    await transfer(home.ayla, closed, home.bora)
    response = await home.bora.client.post(f"/api/v1/conversations/{closed}/close")
    assert response.status_code == 200, response.text
    [job] = await handover_jobs(home, closed)
    assert await tasks.handover_summary(**job) is False
    assert await notes_on(home, closed) == []

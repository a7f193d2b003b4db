"""Reply suggestions from the knowledge base, quick replies and past agent answers, through the
API an agent's inbox calls; past answers learnt by the ``ai:learn`` job after a close."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from invekto.ai import tasks
from invekto.ai.models import AnswerMemory
from invekto.inbox import service as inbox
from invekto.inbox.schemas import MessageSend
from invekto.replies import service as replies
from tests.ai.support import CLINIC_FAQS, add_faqs

FAQS = CLINIC_FAQS


async def _knowledge(company) -> dict[str, uuid.UUID]:
    return await add_faqs(company)


async def _reply(person, conversation_id, body: str) -> None:
    response = await person.client.post(f"/api/v1/conversations/{conversation_id}/messages",
                                        json={"body": body})
    assert response.status_code == 201, response.text


async def _suggestions(person, conversation_id) -> dict:
    response = await person.client.get(f"/api/v1/conversations/{conversation_id}/suggestions")
    assert response.status_code == 200, response.text
    return response.json()


async def test_knowledge_answer_is_suggested_for_the_customers_question(world):
    home = world.home
    ids = await _knowledge(home)
    message = await home.inbound("merhaba implant fiyati ne kadar acaba")
    found = await _suggestions(home.ayla, message.conversation_id)
    assert found["question"] == "merhaba implant fiyati ne kadar acaba"
    first = found["items"][0]
    assert first["source"] == "knowledge"
    assert first["reference_id"] == str(ids["İmplant fiyatlarınız nedir?"])
    assert first["text"] == FAQS[0][1]
    assert len(found["items"]) <= 3
    relevances = [item["relevance"] for item in found["items"]]
    assert relevances == sorted(relevances, reverse=True)


async def test_only_the_customers_latest_messages_make_the_question(world):
    home = world.home
    await _knowledge(home)
    first = await home.inbound("implant yaptırmak istiyorum", handle="ayse")
    await _reply(home.ayla, first.conversation_id, "Tabii, size yardımcı olalım.")
    await home.inbound("saat kaça kadar açıksınız", handle="ayse")
    await home.inbound("cumartesi de", handle="ayse")
    found = await _suggestions(home.ayla, first.conversation_id)
    assert found["question"] == "saat kaça kadar açıksınız\ncumartesi de"
    assert found["items"][0]["title"] == "Çalışma saatleriniz nedir?"


async def test_quick_replies_and_past_answers_are_suggested_with_variables_filled(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="kargo", body=(
            "Merhaba {{ contact.first_name }}, siparişiniz 2 iş günü içinde kargoya verilir."))
        assert await tasks.sync_quick_replies(tenant_id=str(home.tenant_id)) == 0  # not yet
    assert await tasks.sync_quick_replies(tenant_id=str(home.tenant_id)) == 1
    # A past conversation: Ayşe asked, an agent answered by name, it was closed.
    asked = await home.inbound("iade nasıl yapılıyor, ürün olmadı", name="Ayşe Demir",
                               handle="ayse")
    await _reply(home.ayla, asked.conversation_id,
                 "Ayşe Hanım, iadeyi 14 gün içinde kargoyla ücretsiz gönderebilirsiniz.")
    await home.ayla.client.post(f"/api/v1/conversations/{asked.conversation_id}/close")
    # Mehmet now asks much the same, and when his order ships.
    mehmet = await home.inbound("ürünü iade etmek istiyorum nasıl olacak", name="Mehmet Kaya",
                                handle="mehmet")
    found = await _suggestions(home.ayla, mehmet.conversation_id)
    assert found["items"] == []  # nothing learnt yet, and shipping is not returning
    assert await tasks.learn(tenant_id=str(home.tenant_id),
                             conversation_id=str(asked.conversation_id)) == 1
    assert await tasks.learn(tenant_id=str(home.tenant_id),
                             conversation_id=str(asked.conversation_id)) == 0  # once
    found = await _suggestions(home.ayla, mehmet.conversation_id)
    past = [item for item in found["items"] if item["source"] == "past_answer"]
    assert past and past[0]["text"].startswith("Mehmet Hanım, iadeyi 14 gün")
    shipping = await home.inbound("siparişim ne zaman kargoya verilir", name="Mehmet Kaya",
                                  handle="mehmet")
    found = await _suggestions(home.ayla, shipping.conversation_id)
    quick = [item for item in found["items"] if item["source"] == "quick_reply"]
    assert quick and quick[0]["title"] == "kargo"
    assert quick[0]["text"].startswith("Merhaba Mehmet, siparişiniz 2 iş günü")


async def test_past_answers_keep_no_customer_name_and_skip_bot_messages(world):
    home = world.home
    asked = await home.inbound("fiyat listesi var mı", name="Zeynep Ak", handle="zeynep")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.send_message(session, home.system, asked.conversation_id,
                                 MessageSend(body="Bir bakıyorum."), as_bot=True)
        await inbox.send_message(session, home.system, asked.conversation_id,
                                 MessageSend(body="Sistem: mesajınız alındı."))
    await _reply(home.ayla, asked.conversation_id,
                 "Zeynep Hanım, fiyat listemizi hemen gönderiyorum.")
    await tasks.learn(tenant_id=str(home.tenant_id), conversation_id=str(asked.conversation_id))
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        rows = list(await session.scalars(select(AnswerMemory)))
    assert [row.answer for row in rows] == [
        "{{ contact.first_name }} Hanım, fiyat listemizi hemen gönderiyorum."]
    assert rows[0].question == "fiyat listesi var mı"


async def test_no_suggestions_when_turned_off_or_for_another_company(world):
    home, charlie = world.home, world.charlie
    await _knowledge(home)
    message = await home.inbound("implant fiyatı")
    response = await home.ayla.client.put("/api/v1/ai/settings", json={
        "suggestions_enabled": False})
    assert response.status_code == 200, response.text
    assert (await _suggestions(home.ayla, message.conversation_id))["items"] == []
    async with charlie.api_client() as other:
        response = await other.get(
            f"/api/v1/conversations/{message.conversation_id}/suggestions")
    assert response.status_code == 404

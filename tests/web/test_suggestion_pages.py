"""Suggested replies in the inbox, over HTTP as app.js asks for them: the strip above the
composer (``/inbox/c/{id}/suggestions``) with each suggestion's text escaped and its source said,
written by the company's LLM when it has one, nothing at all when there is nothing to suggest
or the company turned suggestions off, and a 404 for a conversation the user may not see.
The browser side (inserting, keys, refreshing) is in tests/browser/test_reply_suggestions.py."""

from __future__ import annotations

import html as html_lib
import re
import uuid

from sqlalchemy import update

from invekto.ai import knowledge, tasks
from invekto.ai.schemas import ArticleIn
from invekto.ai.simulator import openai as openai_stub
from invekto.inbox.models import Conversation
from invekto.replies import service as replies
from tests.factories import Company, Person
from tests.processes import serving

HX = {"hx-request": "true"}
XSS = "<img src=x onerror=alert(1)>"
IMPLANT = ('İmplant fiyatı ne kadar? <b>"güncel"</b>',
           f"Tek implant 28.000 TL'den başlar; muayenede net fiyat verilir. {XSS}")
HOURS = ("Çalışma saatleriniz nedir?",
         "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız.")
PLACE = ("Kliniğiniz nerede?", "Nişantaşı, Valikonağı Caddesi No: 48, Kat 3, Şişli / İstanbul.")


async def with_knowledge(company: Company, *faqs: tuple[str, str]) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for question, answer in faqs or (IMPLANT, HOURS, PLACE):
            await knowledge.save_article(session, company.system, ArticleIn(
                kind="faq", title=question, body=answer))
        await knowledge.index_now(session, company.tenant_id)


async def strip(person: Person, conversation_id: uuid.UUID, *, expect: int = 200) -> str:
    response = await person.client.get(f"/inbox/c/{conversation_id}/suggestions", headers=HX)
    assert response.status_code == expect, response.text
    if expect == 200:
        assert response.headers["content-type"].startswith("text/html")
    return response.text


def cards(fragment: str) -> list[dict[str, str]]:
    """Each card's number, source, text to insert (unescaped) and label, in order."""
    found = []
    for match in re.finditer(r'<button type="button" class="suggestion-card" id="suggestion-(\d)"'
                             r' data-suggestion="\1"\s+data-source="(\w+)" data-text="([^"]*)"'
                             r'.*?<span class="suggestion-source" title="([^"]*)">(.*?)</span>',
                             fragment, re.DOTALL):
        number, source, text, title, label = match.groups()
        label = html_lib.unescape(re.sub(r"<i [^>]*></i>", "", label)).strip()
        assert html_lib.unescape(title) == label  # the whole label, where it is cut short
        found.append({"number": number, "source": source, "text": html_lib.unescape(text),
                      "label": label})
    return found


async def test_the_strip_shows_the_knowledge_answer_escaped_with_its_source(world):
    home = world.home
    await with_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar")
    fragment = await strip(home.bora, asked.conversation_id)

    found = cards(fragment)
    assert 1 <= len(found) <= 3
    assert [card["number"] for card in found] == [str(n) for n in range(1, len(found) + 1)]
    first = found[0]
    assert (first["source"], first["text"]) == ("knowledge", IMPLANT[1])
    assert IMPLANT[0] in first["label"]
    # The customer's and agents' words are text, in the card and in what it inserts.
    assert XSS not in fragment and "<b>" not in fragment
    assert html_lib.escape(XSS, quote=False) in fragment
    assert 'data-action="dismiss-suggestions"' in fragment
    assert re.search(r'data-question-key="[0-9a-f]{16}"', fragment)


async def test_the_conversation_page_leaves_the_strip_to_be_filled_later(world):
    home = world.home
    await with_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar")
    response = await home.bora.client.get(f"/inbox/c/{asked.conversation_id}", headers=HX)
    assert response.status_code == 200, response.text
    page = response.text
    assert re.search(rf'id="reply-suggestions" data-url="/inbox/c/{asked.conversation_id}/'
                     rf'suggestions"\s+data-conversation-id="{asked.conversation_id}"', page)
    assert "suggestion-card" not in page  # fetched after the thread shows

    # Someone only reading a colleague's conversation gets no composer, and no suggestions.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(
            Conversation.id == asked.conversation_id).values(assignee_id=home.bora.user_id))
    response = await home.sevgi.client.get(f"/inbox/c/{asked.conversation_id}", headers=HX)
    assert response.status_code == 200, response.text
    assert 'id="reply-suggestions"' not in response.text


async def test_a_quick_reply_is_labelled_with_its_shortcut(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="kargo", body=(
            "Merhaba {{ contact.first_name }}, siparişiniz 2 iş günü içinde kargoya verilir."))
    assert await tasks.sync_quick_replies(tenant_id=str(home.tenant_id)) == 1
    asked = await home.inbound("siparişim ne zaman kargoya verilir", name="Mehmet Kaya")

    [card] = [c for c in cards(await strip(home.bora, asked.conversation_id))
              if c["source"] == "quick_reply"]
    assert card["text"] == "Merhaba Mehmet, siparişiniz 2 iş günü içinde kargoya verilir."
    assert "/kargo" in card["label"]


async def test_with_an_llm_the_cards_are_its_replies_escaped(world):
    home = world.home
    await with_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar")
    written = "Merhaba! Tek implant 28.000 TL'den başlıyor. <script>alert(1)</script>"
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data({"replies": [{"text": written, "sources": [1]}]}, usage=(300, 20))
    async with serving(stub) as url:
        response = await home.ayla.client.put("/api/v1/ai/settings", json={
            "provider": "openai", "model": "qwen2.5:7b-instruct", "base_url": f"{url}/v1",
            "api_key": openai_stub.API_KEY})
        assert response.status_code == 200, response.text
        fragment = await strip(home.bora, asked.conversation_id)

    assert [(card["source"], card["text"]) for card in cards(fragment)] == [
        ("generated", written)]
    assert "<script>" not in fragment
    [call] = stub.requests
    assert "implant fiyatı ne kadar" in str(call.body["messages"][-1])


async def test_nothing_is_drawn_when_there_is_nothing_to_suggest_or_they_are_off(world):
    home = world.home
    asked = await home.inbound("implant fiyatı ne kadar")
    assert (await strip(home.bora, asked.conversation_id)).strip() == ""  # no knowledge yet

    await with_knowledge(home)
    assert cards(await strip(home.bora, asked.conversation_id))
    response = await home.ayla.client.put("/api/v1/ai/settings", json={
        "suggestions_enabled": False})
    assert response.status_code == 200, response.text
    assert (await strip(home.bora, asked.conversation_id)).strip() == ""


async def test_another_companys_or_an_unseen_conversation_is_not_found(world):
    home = world.home
    await with_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar")
    assert cards(await strip(home.bora, asked.conversation_id))
    await strip(world.charlie.ayla, asked.conversation_id, expect=404)
    await strip(home.bora, uuid.uuid4(), expect=404)

    # In Bora's group's queue: Deniz, in no group, may not see it; Bora may.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(
            Conversation.id == asked.conversation_id).values(group_id=home.group_id))
    await strip(home.deniz, asked.conversation_id, expect=404)
    assert cards(await strip(home.bora, asked.conversation_id))

"""The summary and suggested-tags parts of the inbox's AI panel, over HTTP as the page asks for
them: the panel's two summary buttons (nothing summarised, no LLM called, when the page
opens), the summary part with the thread's words escaped and the other summary's button, the
tag chips that add a tag through the inbox's own route, nothing drawn with tagging off, and a
404 for a conversation the user may not see."""

from __future__ import annotations

import html as html_lib
import re
import uuid

from sqlalchemy import update

from invekto.ai.simulator import openai as openai_stub
from invekto.inbox.models import Conversation
from tests.ai.support import use_openai_stub
from tests.ai.test_summaries import EXPECTED, THREAD, chat
from tests.ai.test_tagging import conversation, learnt_company, settings
from tests.processes import serving

HX = {"hx-request": "true"}
XSS = "<img src=x onerror=alert(1)>"


async def summary_part(person, conversation_id, scope: str, *, expect: int = 200) -> str:
    response = await person.client.post(f"/inbox/c/{conversation_id}/ai/summary",
                                        data={"scope": scope}, headers=HX)
    assert response.status_code == expect, response.text
    return response.text


def summary_text(fragment: str) -> str:
    found = re.search(r'<textarea[^>]*id="ai-summary-text"[^>]*>(.*?)</textarea>', fragment,
                      re.DOTALL)
    assert found, fragment
    return html_lib.unescape(found.group(1))


def buttons(fragment: str) -> list[str]:
    return re.findall(r'id="(ai-summarise-\w+|ai-summary-copy)"', fragment)


async def test_the_panel_offers_the_summaries_and_opening_it_calls_no_llm(world):
    home = world.home
    # The contact card draws the panel with the details section.
    response = await home.ayla.client.post("/api/v1/custom-fields", json={
        "key": "dogum_tarihi", "label": "Doğum tarihi", "field_type": "date"})
    assert response.status_code == 201, response.text
    conversation_id = await chat(home, home.ayla)
    stub = openai_stub.OpenAISimulator()
    async with serving(stub) as url:
        await use_openai_stub(home.ayla, url)
        response = await home.bora.client.get(f"/inbox/c/{conversation_id}", headers=HX)
    assert response.status_code == 200, response.text
    page = response.text
    assert stub.requests == []
    part = page[page.index('<div id="ai-summary">'):page.index('<div id="ai-tags"')]
    assert buttons(part) == ["ai-summarise-conversation", "ai-summarise-history"]
    assert f'hx-post="/inbox/c/{conversation_id}/ai/summary"' in part
    assert "ai-summary-text" not in part  # nothing summarised until asked
    assert re.search(rf'<div id="ai-tags" hx-get="/inbox/c/{conversation_id}/ai/tags" '
                     r'hx-trigger="load, ai-tags-refresh">', page)


async def test_the_summary_part_shows_the_summary_escaped_and_the_other_button(world):
    home = world.home
    conversation_id = await chat(home, home.ayla, [*THREAD, ("customer", f"Bir de {XSS} mı?")])
    fragment = await summary_part(home.bora, conversation_id, "conversation")
    text = summary_text(fragment)
    assert text.startswith(EXPECTED.split("\n")[0])
    assert f"Otopark var mı peki? Bir de {XSS} mı?" in text
    assert XSS not in fragment  # the customer's words are text
    assert 'data-scope="conversation"' in fragment and 'data-provider="builtin"' in fragment
    assert buttons(fragment) == ["ai-summary-copy", "ai-summarise-history"]

    history = await summary_part(home.bora, conversation_id, "contact")
    assert 'data-scope="contact"' in history
    assert buttons(history) == ["ai-summary-copy", "ai-summarise-conversation"]
    await summary_part(home.bora, conversation_id, "everything", expect=422)


async def test_the_summary_part_is_not_found_for_who_may_not_see_it(world):
    home = world.home
    conversation_id = await chat(home, home.ayla)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(
            Conversation.id == conversation_id).values(group_id=home.group_id))
    assert summary_text(await summary_part(home.bora, conversation_id, "conversation"))
    await summary_part(home.deniz, conversation_id, "conversation", expect=404)
    await summary_part(world.charlie.ayla, conversation_id, "contact", expect=404)
    await summary_part(home.bora, uuid.uuid4(), "conversation", expect=404)


async def tags_part(person, conversation_id, *, expect: int = 200) -> str:
    response = await person.client.get(f"/inbox/c/{conversation_id}/ai/tags", headers=HX)
    assert response.status_code == expect, response.text
    return response.text


def chips(fragment: str) -> list[str]:
    return [html_lib.unescape(tag) for tag in re.findall(
        r'class="btn btn-sm btn-outline-secondary ai-tag-chip" type="button" '
        r'data-tag="([^"]*)"', fragment)]


async def test_a_suggested_tag_is_added_with_a_click_and_leaves_the_chips(world):
    home = world.home
    await learnt_company(home)
    asked = await conversation(home, ["Kanal tedavisinin fiyatı nedir, kaç para?"])
    fragment = await tags_part(home.bora, asked)
    assert chips(fragment) == ["fiyat"]
    assert re.search(r'%?\d+%?</span></button>', fragment)  # its probability
    assert f'hx-post="/inbox/c/{asked}/tags"' in fragment
    assert 'hx-vals=\'{"add": "fiyat"}\'' in fragment
    assert 'hx-target="#thread-header"' in fragment

    # The click: the inbox's tag route, as the chip posts it.
    response = await home.bora.client.post(f"/inbox/c/{asked}/tags", data={"add": "fiyat"},
                                           headers=HX)
    assert response.status_code == 200, response.text
    assert 'id="thread-tags"' in response.text
    assert (await tags_part(home.bora, asked)).strip() == ""

    other = await conversation(home, ["Diş taşı temizliği ne kadar tutar?"])
    assert chips(await tags_part(home.bora, other)) == ["fiyat"]
    await settings(home.ayla, tagging_mode="off")
    assert (await tags_part(home.bora, other)).strip() == ""
    await tags_part(world.charlie.ayla, other, expect=404)
    await tags_part(home.bora, uuid.uuid4(), expect=404)

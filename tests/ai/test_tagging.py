"""A company's tags in the inbox, learnt from its agents: the examples the ``ai:learn_tags`` job
keeps when a conversation closes, the suggestions for a new conversation (through the API),
apply mode tagging an untagged closed conversation as the AI, a person's change making those
tags the company's own again, and nothing at all with tagging off."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text, update

from invekto.ai import tagging, tasks
from invekto.ai.models import TagExample
from invekto.ai.providers.builtin import embedder
from invekto.contacts.models import Tag
from invekto.inbox.models import Conversation, ConversationEvent

# Customers' messages a small clinic-and-shop's agents tagged, written for this test.
TAGGED = [
    (["İmplant fiyatınız ne kadar?"], ["fiyat"]),
    (["Merhaba", "Diş beyazlatma kaç TL acaba"], ["fiyat"]),
    (["Zirkonyum kaplama ücreti nedir"], ["fiyat"]),
    (["Fiyat listenizi atar mısınız"], ["fiyat"]),
    (["Kargom hâlâ gelmedi, nerede?"], ["kargo"]),
    (["Paketim ne zaman kargoya verilir"], ["kargo"]),
    (["Kargo takip numarası çalışmıyor"], ["kargo"]),
    (["Siparişim 4 gündür yolda, kargo firması hangisi"], ["kargo"]),
    (["Aldığım ürünü iade etmek istiyorum"], ["iade"]),
    (["İade kodunu nasıl alırım"], ["iade"]),
    (["Ürünü geri gönderdim, param ne zaman yatar"], ["iade"]),
    (["Beğenmedim, geri iade edeceğim"], ["iade"]),
    (["Kurumsal alım için yazıyorum"], ["vip"]),  # one example: never learnt
]
TAGS = ("fiyat", "kargo", "iade", "vip")


async def catalogue(company) -> None:
    for name in TAGS:
        response = await company.ayla.client.post("/api/v1/tags", json={"name": name})
        assert response.status_code == 201, response.text


async def conversation(company, messages: list[str], *, handle: str | None = None
                       ) -> uuid.UUID:
    handle = handle or f"musteri-{uuid.uuid4().hex[:8]}"
    for body in messages:
        message = await company.inbound(body, handle=handle)
    return message.conversation_id


async def tag(person, conversation_id, *, add=(), remove=()) -> None:
    response = await person.client.post(f"/api/v1/conversations/{conversation_id}/tags",
                                        json={"add": list(add), "remove": list(remove)})
    assert response.status_code == 200, response.text


async def close(company, conversation_id) -> list[str]:
    """Close it as an agent would, then run the job the close deferred."""
    response = await company.bora.client.post(
        f"/api/v1/conversations/{conversation_id}/close")
    assert response.status_code == 200, response.text
    async with company.rt.db.transaction() as session:
        args = await session.scalar(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'ai:learn_tags' "
            "AND args->>'conversation_id' = :id ORDER BY id DESC LIMIT 1"),
            {"id": str(conversation_id)})
    assert args is not None, "the close deferred no job"
    return await tasks.learn_tags(**args)


async def learnt_company(company) -> None:
    await catalogue(company)
    for messages, tags in TAGGED:
        conversation_id = await conversation(company, messages)
        await tag(company.bora, conversation_id, add=tags)
        assert await close(company, conversation_id) == []


async def suggestions(person, conversation_id, *, expect: int = 200) -> list[dict]:
    response = await person.client.get(
        f"/api/v1/conversations/{conversation_id}/tag-suggestions")
    assert response.status_code == expect, response.text
    return response.json()["items"] if expect == 200 else []


async def settings(person, **values) -> None:
    response = await person.client.put("/api/v1/ai/settings", json=values)
    assert response.status_code == 200, response.text


async def examples(company) -> dict[uuid.UUID, TagExample]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return {row.conversation_id: row for row in await session.scalars(select(TagExample))}


async def test_a_closed_conversations_customer_text_is_kept_once(world):
    home = world.home
    conversation_id = await conversation(home, ["Merhaba", "Kargom hâlâ gelmedi, nerede?"],
                                         handle="ayse")
    response = await home.ayla.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Kontrol edip dönüyorum."})
    assert response.status_code == 201, response.text
    await close(home, conversation_id)

    [kept] = (await examples(home)).values()
    assert kept.conversation_id == conversation_id
    assert kept.text == "Merhaba\nKargom hâlâ gelmedi, nerede?"  # the customer's words only
    assert kept.embedding_model == embedder().name and len(kept.embedding) == 384
    assert kept.ai_applied is False
    # Closed again with nothing new said: kept as it was, not embedded again.
    assert await tasks.learn_tags(tenant_id=str(home.tenant_id),
                                  conversation_id=str(conversation_id)) == []
    [again] = (await examples(home)).values()
    assert (again.id, again.updated_at) == (kept.id, kept.updated_at)
    # Reopened, more said, closed: the same row, with the new text.
    response = await home.bora.client.post(f"/api/v1/conversations/{conversation_id}/reopen")
    assert response.status_code == 200, response.text
    await home.inbound("Sipariş numaram 12345", handle="ayse")
    await close(home, conversation_id)
    [updated] = (await examples(home)).values()
    assert updated.id == kept.id and updated.updated_at > kept.updated_at
    assert updated.text.endswith("\nSipariş numaram 12345")


async def test_tags_learnt_from_agents_are_suggested_for_a_new_conversation(world):
    home = world.home
    await learnt_company(home)
    asked = await conversation(home, ["Kanal tedavisinin fiyatı nedir, kaç para?"])
    found = await suggestions(home.bora, asked)
    assert [item["tag"] for item in found] == ["fiyat"]
    assert 0.6 <= found[0]["probability"] <= 1  # the default threshold

    shipping = await conversation(home, ["Siparişimin kargosu hâlâ yola çıkmadı"])
    assert [item["tag"] for item in await suggestions(home.bora, shipping)] == ["kargo"]
    # Nothing the company tags for: no tag is likely enough.
    unrelated = await conversation(home, ["Randevu almak istiyorum"])
    assert await suggestions(home.bora, unrelated) == []
    # A tag the conversation has is not suggested again.
    await tag(home.bora, shipping, add=["kargo"])
    assert await suggestions(home.bora, shipping) == []
    # The threshold is the company's: at 1.0, nothing is likely enough.
    await settings(home.ayla, tag_threshold=1.0)
    assert await suggestions(home.bora, asked) == []
    # A tag deleted from the catalogue is not learnt from any more.
    await settings(home.ayla, tag_threshold=0.6)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        fiyat = await session.scalar(select(Tag.id).where(Tag.name == "fiyat"))
    response = await home.ayla.client.delete(f"/api/v1/tags/{fiyat}")
    assert response.status_code == 204, response.text
    assert "fiyat" not in [item["tag"] for item in await suggestions(home.bora, asked)]


async def test_apply_mode_tags_an_untagged_closed_conversation_as_the_ai(world):
    home = world.home
    await learnt_company(home)
    await settings(home.ayla, tagging_mode="apply")
    untagged = await conversation(home, ["Ürünü iade etmek istiyorum, nasıl yapacağım?"])
    assert await close(home, untagged) == ["iade"]

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation_tags = await session.scalar(select(Conversation.tags).where(
            Conversation.id == untagged))
        [event] = await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == untagged,
            ConversationEvent.kind == "tagged"))
    assert conversation_tags == ["iade"]
    assert event.actor_user_id is None
    assert event.data == {"added": ["iade"], "removed": [], "reason": tagging.AI_REASON}
    assert (await examples(home))[untagged].ai_applied is True
    # Run again: it has tags now, none are added.
    assert await tasks.learn_tags(tenant_id=str(home.tenant_id),
                                  conversation_id=str(untagged)) == []

    # A conversation an agent tagged is left as it is.
    tagged = await conversation(home, ["Kargom nerede kaldı?"])
    await tag(home.bora, tagged, add=["vip"])
    assert await close(home, tagged) == []

    # A person's change makes the tags the company's own: learnt from again.
    await tag(home.bora, untagged, add=["kargo"])
    assert (await examples(home))[untagged].ai_applied is False


async def test_the_ais_own_tags_are_not_learnt_from(world):
    home = world.home
    await learnt_company(home)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        model = await tagging.model_for(session, home.tenant_id)
    assert model.counts == {"fiyat": 4, "kargo": 4, "iade": 4, "vip": 1}
    # Marked as the AI's: the model forgets that conversation.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(TagExample).where(
            TagExample.text == "Kurumsal alım için yazıyorum").values(ai_applied=True))
        model = await tagging.model_for(session, home.tenant_id)
    assert model.counts == {"fiyat": 4, "kargo": 4, "iade": 4}


async def test_with_tagging_off_nothing_is_suggested_or_applied(world):
    home = world.home
    await learnt_company(home)
    asked = await conversation(home, ["Kanal tedavisinin fiyatı nedir, kaç para?"])
    assert await suggestions(home.bora, asked)
    await settings(home.ayla, tagging_mode="off")
    assert await suggestions(home.bora, asked) == []
    assert await close(home, asked) == []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(Conversation.tags).where(
            Conversation.id == asked)) == []


async def test_suggestions_only_for_who_may_see_the_conversation(world):
    home = world.home
    asked = await conversation(home, ["İmplant fiyatınız ne kadar?"])
    assert await suggestions(home.bora, asked) == []  # nothing learnt yet
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(Conversation.id == asked).values(
            group_id=home.group_id))
    await suggestions(home.deniz, asked, expect=404)
    await suggestions(home.bora, uuid.uuid4(), expect=404)
    async with world.charlie.api_client() as other:
        response = await other.get(f"/api/v1/conversations/{asked}/tag-suggestions")
    assert response.status_code == 404

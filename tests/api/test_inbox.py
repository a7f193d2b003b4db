"""The inbox over the REST API: ingest, conversation lists and filters, who sees what, assignment
and transfer, status changes, tags, unread counts, sending replies, notes and attachments."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from invekto.contacts.models import Contact, ContactIdentity
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Conversation, Message, Note
from invekto.inbox.schemas import InboundMessage

# ---- helpers -----------------------------------------------------------------------------------


def error_of(response) -> dict:
    assert "error" in response.json(), response.text
    return response.json()["error"]


def conv_url(conversation_id, action: str = "") -> str:
    return f"/api/v1/conversations/{conversation_id}" + (f"/{action}" if action else "")


async def new_channel(company, kind: str = "whatsapp_cloud") -> uuid.UUID:
    response = await company.ayla.client.post("/api/v1/channels", json={
        "kind": kind, "name": f"{kind} {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def receive(session, company, body: str = "Merhaba", *, handle: str,
                  channel_id: uuid.UUID | None = None, phone: str | None = None,
                  name: str = "Müşteri", sent_at: datetime | None = None) -> Message:
    """Ingest inside the caller's transaction, with the provider's own timestamp."""
    message, _ = await inbox.receive_inbound(session, company.tenant_id, InboundMessage(
        channel_id=channel_id or company.channel_id, handle=handle,
        provider_message_id=f"evt-{uuid.uuid4().hex}", phone=phone, contact_name=name,
        body=body, sent_at=sent_at))
    return message


async def conversation_row(company, conversation_id) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, conversation_id)


async def stored_messages(company, conversation_id) -> list[Message]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id).order_by(Message.created_at))).all())


async def count(company, model, *conditions) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*conditions))


async def jobs_for(rt, message_id) -> int:
    async with rt.db.transaction() as session:
        return await session.scalar(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE args->>'message_id' = :id"),
            {"id": str(message_id)})


async def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def assign(person, conversation_id, assignee_id):
    return await person.client.post(conv_url(conversation_id, "assign"), json={
        "assignee_id": str(assignee_id) if assignee_id else None})


async def listed(person, **params) -> list[dict]:
    """Every conversation the person's list gives, following cursors."""
    items: list[dict] = []
    cursor = None
    for _ in range(200):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await ok(await person.client.get("/api/v1/conversations", params=query))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


async def listed_ids(person, **params) -> set[uuid.UUID]:
    return {uuid.UUID(c["id"]) for c in await listed(person, **params)}


async def history(person, contact_id, *, limit: int = 50) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(200):
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await ok(await person.client.get(f"/api/v1/contacts/{contact_id}/messages",
                                                params=query))
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


@dataclass
class Queues:
    """One conversation in each place an agent's visibility cares about."""

    shared: uuid.UUID  # unassigned, no group: everyone's queue
    group_queue: uuid.UUID  # unassigned, in Bora's group
    bora_own: uuid.UUID  # assigned to Bora, no group
    deniz_own: uuid.UUID  # assigned to Deniz, no group
    sevgi_in_group: uuid.UUID  # assigned to Sevgi, within Bora's group

    @property
    def all(self) -> set[uuid.UUID]:
        return {self.shared, self.group_queue, self.bora_own, self.deniz_own,
                self.sevgi_in_group}


@pytest.fixture
async def queues(world) -> Queues:
    home = world.home
    sevgi = home.sevgi.client
    ids = [(await home.inbound(f"Mesaj {n}", name=f"Kişi {n}")).conversation_id
           for n in range(5)]
    shared, group_queue, bora_own, deniz_own, sevgi_in_group = ids
    await ok(await sevgi.post(conv_url(group_queue, "transfer"),
                              json={"group_id": str(home.group_id)}))
    await ok(await assign(home.sevgi, bora_own, home.bora.user_id))
    await ok(await assign(home.sevgi, deniz_own, home.deniz.user_id))
    await ok(await sevgi.post(conv_url(sevgi_in_group, "transfer"), json={
        "user_id": str(home.sevgi.user_id), "group_id": str(home.group_id)}))
    return Queues(shared, group_queue, bora_own, deniz_own, sevgi_in_group)


# ---- ingest ------------------------------------------------------------------------------------

async def test_the_same_provider_message_twice_is_stored_once(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="wa-1", provider_message_id="wamid.1")
    again = await home.inbound("Merhaba (retried webhook)", handle="wa-1",
                               provider_message_id="wamid.1")
    assert again.id == first.id
    assert again.body == "Merhaba"
    assert [m.id for m in await stored_messages(home, first.conversation_id)] == [first.id]
    assert await count(home, Conversation, Conversation.contact_id == first.contact_id) == 1
    conversation = await conversation_row(home, first.conversation_id)
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "Merhaba"

    # The provider's id is unique per channel: another channel's "wamid.1" is another message.
    other = await home.inbound("Başka kanal", handle="wa-1", provider_message_id="wamid.1",
                               channel_id=await new_channel(home))
    assert other.id != first.id
    assert other.conversation_id != first.conversation_id


async def test_a_second_message_from_the_same_handle_joins_the_open_conversation(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="visitor-42", name="Ayşe")
    second = await home.inbound("Randevu alabilir miyim?", handle="visitor-42", name="Ayşe")
    assert second.conversation_id == first.conversation_id
    assert second.contact_id == first.contact_id
    conversation = await conversation_row(home, first.conversation_id)
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "Randevu alabilir miyim?"
    assert conversation.last_message_at == second.created_at
    page = await ok(await home.sevgi.client.get(conv_url(first.conversation_id, "messages")))
    assert [m["id"] for m in page["items"]] == [str(second.id), str(first.id)]
    assert {m["direction"] for m in page["items"]} == {"inbound"}
    assert await count(home, Contact) == 1


async def test_after_close_a_new_message_opens_a_new_conversation(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="visitor-7")
    await ok(await home.sevgi.client.post(conv_url(first.conversation_id, "close")))
    later = await home.inbound("Yine ben", handle="visitor-7")
    assert later.contact_id == first.contact_id
    assert later.conversation_id != first.conversation_id
    old = await conversation_row(home, first.conversation_id)
    new = await conversation_row(home, later.conversation_id)
    assert (old.status, new.status) == ("closed", "open")
    assert (old.unread_count, new.unread_count) == (1, 1)
    assert [m.id for m in await stored_messages(home, first.conversation_id)] == [first.id]
    # And the next message goes to the new one.
    third = await home.inbound("Orada mısınız?", handle="visitor-7")
    assert third.conversation_id == later.conversation_id


async def test_a_customer_answering_a_pending_conversation_opens_it_again(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="visitor-9")
    pending = await ok(await home.sevgi.client.post(conv_url(first.conversation_id, "status"),
                                                    json={"status": "pending"}))
    assert pending["status"] == "pending"
    answer = await home.inbound("Evet, uygunum", handle="visitor-9")
    assert answer.conversation_id == first.conversation_id
    assert (await conversation_row(home, first.conversation_id)).status == "open"


async def test_one_number_on_two_channels_is_one_contact_with_one_history(world):
    home = world.home
    whatsapp = await new_channel(home)
    web = await home.inbound("Web'den merhaba", handle="web-abc", phone="0532 123 45 67",
                             name="Ayşe Kaya")
    wa = await home.inbound("WhatsApp'tan yazıyorum", handle="905321234567",
                            phone="905321234567", name="Ayşe", channel_id=whatsapp)
    assert wa.contact_id == web.contact_id
    assert wa.conversation_id != web.conversation_id
    await ok(await home.sevgi.client.post(conv_url(web.conversation_id, "close")))
    web_again = await home.inbound("Tekrar web", handle="web-abc")
    assert web_again.contact_id == web.contact_id
    assert web_again.conversation_id not in (web.conversation_id, wa.conversation_id)
    reply = await ok(await home.sevgi.client.post(conv_url(wa.conversation_id, "messages"),
                                                  json={"body": "Merhaba Ayşe Hanım"}), 201)

    contact_id = web.contact_id
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (contact,) = (await session.scalars(select(Contact))).all()
        assert (contact.id, contact.phone, contact.name) == (contact_id, "+905321234567",
                                                             "Ayşe Kaya")
        identities = (await session.scalars(select(ContactIdentity.channel_id).where(
            ContactIdentity.contact_id == contact_id))).all()
        assert sorted(identities) == sorted([home.channel_id, whatsapp])

    expected = [reply["id"], str(web_again.id), str(wa.id), str(web.id)]
    everything = await history(home.sevgi, contact_id)
    assert [m["id"] for m in everything] == expected
    assert {m["channel_id"] for m in everything} == {str(home.channel_id), str(whatsapp)}
    assert len({m["conversation_id"] for m in everything}) == 3
    for limit in (1, 3):
        assert [m["id"] for m in await history(home.sevgi, contact_id, limit=limit)] == expected
    # Another company cannot read it.
    response = await world.charlie.ayla.client.get(f"/api/v1/contacts/{contact_id}/messages")
    assert response.status_code == 404


async def test_message_pages_hold_when_provider_timestamps_tie(world):
    """Providers stamp messages to the second, so several share ``created_at``: the cursor must
    break ties on the id or a page border inside such a run drops messages."""
    home = world.home
    base = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sent = [await receive(session, home, f"Parça {n}", handle="burst",
                              sent_at=base + timedelta(seconds=n // 3)) for n in range(11)]
    conversation_id = sent[0].conversation_id
    assert {m.conversation_id for m in sent} == {conversation_id}
    expected = [str(m.id) for m in sorted(sent, key=lambda m: (m.created_at, m.id),
                                          reverse=True)]
    assert [m["id"] for m in await history(home.sevgi, sent[0].contact_id, limit=2)] == expected

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await ok(await home.sevgi.client.get(conv_url(conversation_id, "messages"),
                                                    params=params))
        seen.extend(m["id"] for m in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert seen == expected


async def test_contact_history_needs_a_visible_conversation_with_the_contact(world, queues):
    home = world.home
    deniz_contact = (await conversation_row(home, queues.deniz_own)).contact_id
    shared_contact = (await conversation_row(home, queues.shared)).contact_id
    response = await home.bora.client.get(f"/api/v1/contacts/{deniz_contact}/messages")
    assert response.status_code == 404
    assert len(await history(home.deniz, deniz_contact)) == 1
    assert len(await history(home.bora, shared_contact)) == 1


# ---- conversation lists ------------------------------------------------------------------------

@dataclass
class Inbox:
    ids: dict[str, uuid.UUID]
    whatsapp: uuid.UUID

    def names(self, items) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[uuid.UUID(c["id"]) if isinstance(c, dict) else c] for c in items}


@pytest.fixture
async def filled(world) -> Inbox:
    home = world.home
    sevgi = home.sevgi.client
    whatsapp = await new_channel(home)
    await ok(await sevgi.post("/api/v1/tags", json={"name": "vip"}), 201)
    ids = {
        "sukru": (await home.inbound("Randevu almak istiyorum", name="Şükrü Çelik")),
        "ayse": (await home.inbound("Fiyat öğrenebilir miyim?", name="Ayşe",
                                    phone="0532 123 45 67", handle="905321234567",
                                    channel_id=whatsapp)),
        "closed": (await home.inbound("Teşekkürler", name="Kapalı Kişi")),
        "bora": (await home.inbound("Merhaba", name="Bora'nın müşterisi")),
        "group": (await home.inbound("Merhaba", name="Grup müşterisi")),
        "sevgi": (await home.inbound("Merhaba", name="Sevgi'nin müşterisi")),
        "vip": (await home.inbound("Merhaba", name="Önemli Kişi")),
    }
    ids = {name: message.conversation_id for name, message in ids.items()}
    await ok(await sevgi.post(conv_url(ids["ayse"], "status"), json={"status": "pending"}))
    await ok(await sevgi.post(conv_url(ids["closed"], "close")))
    await ok(await assign(home.sevgi, ids["bora"], home.bora.user_id))
    await ok(await sevgi.post(conv_url(ids["group"], "transfer"),
                              json={"group_id": str(home.group_id)}))
    await ok(await assign(home.sevgi, ids["sevgi"], home.sevgi.user_id))
    await ok(await sevgi.post(conv_url(ids["vip"], "tags"), json={"add": ["vip"]}))
    # Charlie's company has a lookalike that must never show up.
    await world.charlie.inbound("Randevu almak istiyorum", name="Şükrü Çelik",
                                phone="0532 123 45 67")
    return Inbox(ids, whatsapp)


@pytest.mark.parametrize(("params", "expected"), [
    ({}, {"sukru", "ayse", "closed", "bora", "group", "sevgi", "vip"}),
    ({"status": "open"}, {"sukru", "bora", "group", "sevgi", "vip"}),
    ({"status": "pending"}, {"ayse"}),
    ({"status": "closed"}, {"closed"}),
    ({"channel_id": "{whatsapp}"}, {"ayse"}),
    ({"assignee": "me"}, {"sevgi"}),
    ({"assignee": "none"}, {"sukru", "ayse", "closed", "group", "vip"}),
    ({"assignee": "{bora}"}, {"bora"}),
    ({"assignee": "none", "status": "open"}, {"sukru", "group", "vip"}),
    ({"group_id": "{group}"}, {"group"}),
    ({"tag": "vip"}, {"vip"}),
    ({"tag": "yok"}, set()),
    ({"q": "sukru"}, {"sukru"}),
    ({"q": "ŞÜKRÜ ÇELİK"}, {"sukru"}),
    ({"q": "onemli"}, {"vip"}),
    ({"q": "ÖNEMLİ"}, {"vip"}),
    ({"q": "1234"}, {"ayse"}),
    ({"q": "0532 123"}, {"ayse"}),
    ({"q": "randevu"}, {"sukru"}),
    ({"q": "RANDEVU ALMAK"}, {"sukru"}),
    ({"q": "ogrenebilir"}, {"ayse"}),
    ({"q": "tesekkurler"}, {"closed"}),
    ({"q": "merhaba"}, {"bora", "group", "sevgi", "vip"}),
    ({"q": "merhaba", "assignee": "none"}, {"group", "vip"}),
    ({"q": "%"}, set()),
    ({"q": "hiçbir şey"}, set()),
])
async def test_conversation_filters(world, filled, params, expected):
    home = world.home
    values = {"{whatsapp}": str(filled.whatsapp), "{bora}": str(home.bora.user_id),
              "{group}": str(home.group_id)}
    params = {k: values.get(v, v) for k, v in params.items()}
    assert filled.names(await listed(home.sevgi, **params)) == expected


async def test_a_bad_assignee_filter_is_a_422(world, filled):
    response = await world.home.sevgi.client.get("/api/v1/conversations",
                                                 params={"assignee": "bora"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "assignee"
    response = await world.home.sevgi.client.get("/api/v1/conversations",
                                                 params={"status": "snoozed"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "status"


async def test_agents_filters_only_narrow_what_they_may_see(world, filled):
    home = world.home
    visible = {"sukru", "ayse", "closed", "bora", "group", "vip"}
    assert filled.names(await listed(home.bora)) == visible
    assert filled.names(await listed(home.bora, assignee="me")) == {"bora"}
    assert filled.names(await listed(home.bora, assignee=str(home.sevgi.user_id))) == set()
    assert filled.names(await listed(home.deniz)) == {"sukru", "ayse", "closed", "vip"}
    assert filled.names(await listed(home.deniz, group_id=str(home.group_id))) == set()
    assert filled.names(await listed(home.deniz, q="merhaba")) == {"vip"}


async def test_cursor_pagination_over_120_conversations(world):
    """Each conversation exactly once, newest activity first, even with many conversations
    sharing a second (providers' timestamps) across page borders."""
    home = world.home
    base = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        for n in range(120):
            await receive(session, home, f"Soru {n}", handle=f"bulk-{n}",
                          sent_at=base + timedelta(seconds=n // 3))
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        expected = [str(i) for i in (await session.scalars(select(Conversation.id).order_by(
            Conversation.last_message_at.desc(), Conversation.id.desc()))).all()]
    assert len(expected) == 120

    seen = await listed(home.sevgi, limit=7)
    assert [c["id"] for c in seen] == expected
    moments = [datetime.fromisoformat(c["last_message_at"]) for c in seen]
    assert moments == sorted(moments, reverse=True)
    assert moments[0] == base + timedelta(seconds=39)
    # The default page size too, and an agent (who sees them all: the shared queue).
    assert [c["id"] for c in await listed(home.bora)] == expected
    first_page = await ok(await home.sevgi.client.get("/api/v1/conversations"))
    assert len(first_page["items"]) == 50
    assert first_page["next_cursor"]
    bad = await home.sevgi.client.get("/api/v1/conversations", params={"cursor": "xyz"})
    assert bad.status_code == 422
    assert error_of(bad)["field"] == "cursor"


# ---- visibility --------------------------------------------------------------------------------

async def test_who_sees_which_conversation(world, queues):
    home = world.home
    assert await listed_ids(home.bora) == queues.all - {queues.deniz_own}
    assert await listed_ids(home.deniz) == {queues.shared, queues.deniz_own}
    assert await listed_ids(home.sevgi) == queues.all
    assert await listed_ids(home.ayla) == queues.all
    assert await listed_ids(world.charlie.ayla) == set()

    for person, hidden in ((home.bora, [queues.deniz_own]),
                           (home.deniz, [queues.group_queue, queues.bora_own,
                                         queues.sevgi_in_group])):
        for conversation_id in hidden:
            response = await person.client.get(conv_url(conversation_id))
            assert response.status_code == 404, (person.username, conversation_id)
            assert error_of(response)["code"] == "not_found"
    for conversation_id in queues.all - {queues.deniz_own}:
        assert (await home.bora.client.get(conv_url(conversation_id))).status_code == 200
    response = await world.charlie.ayla.client.get(conv_url(queues.shared))
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "action", "body"), [
    ("get", "", None),
    ("get", "messages", None),
    ("post", "assign", {"assignee_id": "{bora}"}),
    ("post", "transfer", {"group_id": "{group}"}),
    ("post", "close", None),
    ("post", "reopen", None),
    ("post", "status", {"status": "pending"}),
    ("post", "tags", {"add": ["vip"]}),
    ("post", "read", None),
    ("post", "messages", {"body": "Ben bakayım"}),
    ("post", "messages", {"body": "Ben bakayım", "client_message_id": "deniz-1"}),
    ("post", "notes", {"body": "Not"}),
])
async def test_a_colleague_s_conversation_outside_the_agent_s_groups_is_a_404(
        world, queues, method, action, body):
    home = world.home
    await ok(await home.sevgi.client.post("/api/v1/tags", json={"name": "vip"}), 201)
    # Deniz has replied once, with a client id Bora might replay.
    await ok(await home.deniz.client.post(conv_url(queues.deniz_own, "messages"), json={
        "body": "Gizli yanıt", "client_message_id": "deniz-1"}), 201)
    before = await conversation_row(home, queues.deniz_own)
    if body:
        body = {k: {"{bora}": str(home.bora.user_id), "{group}": str(home.group_id)}.get(v, v)
                if isinstance(v, str) else v for k, v in body.items()}
    url = conv_url(queues.deniz_own, action)
    response = await (home.bora.client.get(url) if method == "get"
                      else home.bora.client.post(url, json=body))
    assert response.status_code == 404, response.text
    assert "Gizli" not in response.text

    after = await conversation_row(home, queues.deniz_own)
    assert (after.status, after.assignee_id, after.group_id, after.tags, after.unread_count) == (
        before.status, before.assignee_id, before.group_id, before.tags, before.unread_count)
    assert len(await stored_messages(home, queues.deniz_own)) == 2
    assert await count(home, Note) == 0


# ---- assign and transfer -----------------------------------------------------------------------

async def test_an_agent_takes_and_releases_but_does_not_hand_out(world, queues):
    home = world.home
    taken = await ok(await assign(home.bora, queues.shared, home.bora.user_id))
    assert taken["assignee_id"] == str(home.bora.user_id)
    assert (await conversation_row(home, queues.shared)).assignee_id == home.bora.user_id
    assert queues.shared in await listed_ids(home.bora, assignee="me")
    # Now Bora's: Deniz no longer sees it.
    assert (await home.deniz.client.get(conv_url(queues.shared))).status_code == 404

    response = await assign(home.bora, queues.shared, home.deniz.user_id)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert (await conversation_row(home, queues.shared)).assignee_id == home.bora.user_id

    released = await ok(await assign(home.bora, queues.shared, None))
    assert released["assignee_id"] is None
    assert (await conversation_row(home, queues.shared)).assignee_id is None
    assert (await home.deniz.client.get(conv_url(queues.shared))).status_code == 200

    # From the group queue too.
    await ok(await assign(home.bora, queues.group_queue, home.bora.user_id))
    assert (await conversation_row(home, queues.group_queue)).assignee_id == home.bora.user_id

    # Unassigned and not his: handing it to a colleague is a 403 as well.
    response = await assign(home.deniz, queues.shared, home.bora.user_id)
    assert response.status_code == 403
    assert (await conversation_row(home, queues.shared)).assignee_id is None


async def test_an_agent_can_neither_take_nor_release_a_colleague_s_conversation(world, queues):
    home = world.home
    # Bora sees Sevgi's conversation through his group, but it is hers.
    assert (await home.bora.client.get(conv_url(queues.sevgi_in_group))).status_code == 200
    for assignee in (None, home.bora.user_id):
        response = await assign(home.bora, queues.sevgi_in_group, assignee)
        assert response.status_code == 403
        assert (await conversation_row(home, queues.sevgi_in_group)).assignee_id == (
            home.sevgi.user_id)


async def test_a_supervisor_assigns_anyone_active_in_the_company(world, queues):
    home = world.home
    moved = await ok(await assign(home.sevgi, queues.bora_own, home.deniz.user_id))
    assert moved["assignee_id"] == str(home.deniz.user_id)
    assert (await home.bora.client.get(conv_url(queues.bora_own))).status_code == 404
    assert (await home.deniz.client.get(conv_url(queues.bora_own))).status_code == 200
    await ok(await assign(home.sevgi, queues.bora_own, home.ayla.user_id))
    await ok(await assign(home.sevgi, queues.bora_own, None))
    assert (await conversation_row(home, queues.bora_own)).assignee_id is None

    for stranger in (world.charlie.ayla.user_id, uuid.uuid4()):
        response = await assign(home.sevgi, queues.shared, stranger)
        assert response.status_code == 422
        assert error_of(response)["field"] == "assignee_id"

    await ok(await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                          json={"is_active": False}))
    response = await assign(home.sevgi, queues.shared, home.deniz.user_id)
    assert response.status_code == 422
    assert error_of(response)["field"] == "assignee_id"
    assert (await conversation_row(home, queues.shared)).assignee_id is None


async def test_transfer_to_a_group_clears_the_assignee_and_hides_it_from_outsiders(world, queues):
    home = world.home
    await ok(await assign(home.deniz, queues.shared, home.deniz.user_id))
    moved = await ok(await home.deniz.client.post(conv_url(queues.shared, "transfer"), json={
        "group_id": str(home.group_id)}))
    assert (moved["assignee_id"], moved["group_id"]) == (None, str(home.group_id))
    row = await conversation_row(home, queues.shared)
    assert (row.assignee_id, row.group_id) == (None, home.group_id)
    assert (await home.deniz.client.get(conv_url(queues.shared))).status_code == 404
    assert queues.shared not in await listed_ids(home.deniz)
    assert queues.shared in await listed_ids(home.bora, group_id=str(home.group_id))


async def test_transfer_rules(world, queues):
    home = world.home
    response = await home.sevgi.client.post(conv_url(queues.shared, "transfer"), json={})
    assert response.status_code == 422
    assert error_of(response)["field"] == "user_id"

    # An agent cannot move a colleague's conversation, even one he can see.
    response = await home.bora.client.post(conv_url(queues.sevgi_in_group, "transfer"), json={
        "user_id": str(home.bora.user_id)})
    assert response.status_code == 403
    assert (await conversation_row(home, queues.sevgi_in_group)).assignee_id == (
        home.sevgi.user_id)

    # His own he can hand to a colleague.
    moved = await ok(await home.bora.client.post(conv_url(queues.bora_own, "transfer"), json={
        "user_id": str(home.deniz.user_id)}))
    assert moved["assignee_id"] == str(home.deniz.user_id)
    assert (await home.bora.client.get(conv_url(queues.bora_own))).status_code == 404

    # A supervisor: to a colleague within a group.
    moved = await ok(await home.sevgi.client.post(conv_url(queues.shared, "transfer"), json={
        "user_id": str(home.bora.user_id), "group_id": str(home.group_id)}))
    assert (moved["assignee_id"], moved["group_id"]) == (str(home.bora.user_id),
                                                         str(home.group_id))

    # Nobody outside the company, and no foreign group.
    response = await home.sevgi.client.post(conv_url(queues.shared, "transfer"), json={
        "user_id": str(world.charlie.ayla.user_id)})
    assert response.status_code == 422
    assert error_of(response)["field"] == "user_id"
    response = await home.sevgi.client.post(conv_url(queues.shared, "transfer"), json={
        "group_id": str(world.charlie.group_id)})
    assert response.status_code in (404, 422)
    row = await conversation_row(home, queues.shared)
    assert (row.assignee_id, row.group_id) == (home.bora.user_id, home.group_id)


# ---- status ------------------------------------------------------------------------------------

async def test_close_and_reopen(world):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    closed = await ok(await home.bora.client.post(conv_url(conversation_id, "close")))
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    row = await conversation_row(home, conversation_id)
    assert (row.status, row.closed_at) == ("closed",
                                           datetime.fromisoformat(closed["closed_at"]))
    again = await ok(await home.bora.client.post(conv_url(conversation_id, "close")))
    assert again["closed_at"] == closed["closed_at"]

    reopened = await ok(await home.bora.client.post(conv_url(conversation_id, "reopen")))
    assert (reopened["status"], reopened["closed_at"]) == ("open", None)
    row = await conversation_row(home, conversation_id)
    assert (row.status, row.closed_at) == ("open", None)
    # Reopening what is open changes nothing.
    assert (await ok(await home.bora.client.post(conv_url(conversation_id, "reopen"))))[
        "status"] == "open"


async def test_reopening_when_a_newer_conversation_is_open_conflicts(world):
    home = world.home
    old = await home.inbound("Merhaba", handle="visitor-r")
    await ok(await home.sevgi.client.post(conv_url(old.conversation_id, "close")))
    new = await home.inbound("Yeni konu", handle="visitor-r")
    assert new.conversation_id != old.conversation_id

    for action, body in (("reopen", None), ("status", {"status": "open"}),
                         ("status", {"status": "pending"})):
        response = await home.sevgi.client.post(conv_url(old.conversation_id, action), json=body)
        assert response.status_code == 409, (action, body)
        assert error_of(response)["code"] == "conflict"
        row = await conversation_row(home, old.conversation_id)
        assert (row.status, row.closed_at is not None) == ("closed", True)
    assert (await conversation_row(home, new.conversation_id)).status == "open"

    # Once the newer one is closed, the old one can come back.
    await ok(await home.sevgi.client.post(conv_url(new.conversation_id, "close")))
    assert (await ok(await home.sevgi.client.post(conv_url(old.conversation_id, "reopen"))))[
        "status"] == "open"


async def test_status_endpoint_moves_between_pending_open_and_closed(world):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    url = conv_url(conversation_id, "status")
    for status in ("pending", "open", "closed", "pending", "closed", "open"):
        body = await ok(await home.bora.client.post(url, json={"status": status}))
        assert body["status"] == status
        row = await conversation_row(home, conversation_id)
        assert row.status == status
        assert (row.closed_at is not None) == (status == "closed")
    response = await home.bora.client.post(url, json={"status": "snoozed"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "status"
    assert (await conversation_row(home, conversation_id)).status == "open"


# ---- tags and read state -----------------------------------------------------------------------

async def test_conversation_tags_are_added_and_removed(world):
    home = world.home
    for name in ("vip", "acil"):
        await ok(await home.sevgi.client.post("/api/v1/tags", json={"name": name}), 201)
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    url = conv_url(conversation_id, "tags")

    assert (await ok(await home.bora.client.post(url, json={"add": ["vip", "acil"]})))[
        "tags"] == ["vip", "acil"]
    assert (await ok(await home.bora.client.post(url, json={"add": ["vip"]})))["tags"] == [
        "vip", "acil"]
    assert (await ok(await home.bora.client.post(url, json={"remove": ["vip"]})))["tags"] == [
        "acil"]
    assert (await conversation_row(home, conversation_id)).tags == ["acil"]

    response = await home.bora.client.post(url, json={"add": ["vip", "yok-boyle"]})
    assert response.status_code == 422
    assert error_of(response)["field"] == "tags"
    assert (await conversation_row(home, conversation_id)).tags == ["acil"]

    swapped = await ok(await home.bora.client.post(url, json={"add": ["vip"],
                                                              "remove": ["acil"]}))
    assert swapped["tags"] == ["vip"]
    assert (await conversation_row(home, conversation_id)).tags == ["vip"]
    assert await listed_ids(home.bora, tag="vip") == {conversation_id}
    assert await listed_ids(home.bora, tag="acil") == set()


async def test_inbound_counts_unread_and_mark_read_resets_it(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="visitor-u")
    await home.inbound("Orada mısınız?", handle="visitor-u")
    conversation_id = first.conversation_id
    assert (await ok(await home.bora.client.get(conv_url(conversation_id))))[
        "unread_count"] == 2
    read = await ok(await home.bora.client.post(conv_url(conversation_id, "read")))
    assert read["unread_count"] == 0
    assert (await conversation_row(home, conversation_id)).unread_count == 0
    await home.inbound("Hâlâ bekliyorum", handle="visitor-u")
    assert (await conversation_row(home, conversation_id)).unread_count == 1
    assert (await ok(await home.bora.client.post(conv_url(conversation_id, "read"))))[
        "unread_count"] == 0


# ---- sending -----------------------------------------------------------------------------------

async def test_sending_stores_a_pending_outbound_message_and_defers_delivery(world, rt):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="visitor-s")
    await home.inbound("Fiyat nedir?", handle="visitor-s")
    conversation_id = inbound.conversation_id
    url = conv_url(conversation_id, "messages")

    sent = await ok(await home.sevgi.client.post(url, json={"body": "  Merhaba, buyurun  "}), 201)
    assert {k: sent[k] for k in ("direction", "sender_kind", "sender_user_id", "status", "body",
                                 "content_kind", "conversation_id", "contact_id",
                                 "channel_id")} == {
        "direction": "outbound", "sender_kind": "agent",
        "sender_user_id": str(home.sevgi.user_id), "status": "pending",
        "body": "Merhaba, buyurun", "content_kind": "text",
        "conversation_id": str(conversation_id), "contact_id": str(inbound.contact_id),
        "channel_id": str(home.channel_id)}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = await session.get_one(Message, uuid.UUID(sent["id"]))
        assert (stored.direction, stored.status, stored.sender_user_id, stored.body) == (
            "outbound", "pending", home.sevgi.user_id, "Merhaba, buyurun")
    assert await jobs_for(rt, sent["id"]) == 1

    row = await conversation_row(home, conversation_id)
    assert row.first_response_at == stored.created_at
    assert row.last_message_at == stored.created_at
    assert row.last_message_preview == "Merhaba, buyurun"
    assert row.unread_count == 0
    assert row.assignee_id is None  # a supervisor replying does not take the conversation
    first_response_at = row.first_response_at

    second = await ok(await home.sevgi.client.post(url, json={"body": "Fiyatlar sitemizde."}),
                      201)
    row = await conversation_row(home, conversation_id)
    assert row.first_response_at == first_response_at
    assert row.last_message_preview == "Fiyatlar sitemizde."
    page = await ok(await home.sevgi.client.get(url))
    assert [m["id"] for m in page["items"]][:2] == [second["id"], sent["id"]]
    assert len(page["items"]) == 4


async def test_an_agent_replying_from_the_queue_takes_the_conversation(world, queues):
    home = world.home
    sent = await ok(await home.bora.client.post(conv_url(queues.shared, "messages"),
                                                json={"body": "Ben ilgileniyorum"}), 201)
    assert sent["sender_user_id"] == str(home.bora.user_id)
    assert (await conversation_row(home, queues.shared)).assignee_id == home.bora.user_id


async def test_the_same_client_message_id_sends_once(world, rt):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    url = conv_url(conversation_id, "messages")
    client_id = f"compose-{uuid.uuid4().hex}"

    first = await home.bora.client.post(url, json={"body": "Merhaba!",
                                                   "client_message_id": client_id})
    assert first.status_code == 201
    retry = await home.bora.client.post(url, json={"body": "Merhaba!",
                                                   "client_message_id": client_id})
    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["body"] == "Merhaba!"
    assert await count(home, Message, Message.client_message_id == client_id) == 1
    assert await count(home, Message, Message.conversation_id == conversation_id,
                       Message.direction == "outbound") == 1
    assert await jobs_for(rt, first.json()["id"]) == 1

    # The same id in another conversation is a client bug, not a retry.
    other = (await home.inbound("Başka biri")).conversation_id
    response = await home.bora.client.post(conv_url(other, "messages"), json={
        "body": "Merhaba!", "client_message_id": client_id})
    assert response.status_code == 409
    assert error_of(response)["field"] == "client_message_id"
    assert await count(home, Message, Message.conversation_id == other) == 1


async def test_a_double_click_sends_once(world):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    body = {"body": "Tek sefer", "client_message_id": f"dbl-{uuid.uuid4().hex}"}
    url = conv_url(conversation_id, "messages")
    responses = await asyncio.gather(home.sevgi.client.post(url, json=body),
                                     home.sevgi.client.post(url, json=body))
    assert sorted(r.status_code for r in responses) == [200, 201]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert await count(home, Message, Message.client_message_id == body["client_message_id"]) == 1


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
async def test_an_empty_reply_is_a_422_on_body(world, body):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    response = await home.bora.client.post(conv_url(conversation_id, "messages"),
                                           json={"body": body})
    assert response.status_code == 422
    assert error_of(response)["field"] == "body"
    assert len(await stored_messages(home, conversation_id)) == 1
    assert (await conversation_row(home, conversation_id)).first_response_at is None


async def test_a_too_long_reply_is_a_422_on_body(world):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    response = await home.bora.client.post(conv_url(conversation_id, "messages"),
                                           json={"body": "x" * 4097})
    assert response.status_code == 422
    assert error_of(response)["field"] == "body"
    assert len(await stored_messages(home, conversation_id)) == 1


async def test_replying_in_a_closed_conversation_conflicts(world):
    home = world.home
    conversation_id = (await home.inbound("Merhaba")).conversation_id
    await ok(await home.sevgi.client.post(conv_url(conversation_id, "close")))
    response = await home.sevgi.client.post(conv_url(conversation_id, "messages"),
                                            json={"body": "Geç kalmış yanıt"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    assert [m.direction for m in await stored_messages(home, conversation_id)] == ["inbound"]
    row = await conversation_row(home, conversation_id)
    assert (row.status, row.first_response_at) == ("closed", None)


async def test_an_agent_cannot_reply_in_a_colleague_s_conversation(world, queues):
    home = world.home
    # Hidden from him: 404, as if it did not exist.
    response = await home.bora.client.post(conv_url(queues.deniz_own, "messages"),
                                           json={"body": "Araya giriyorum"})
    assert response.status_code == 404
    # Visible through his group but Sevgi's: 403.
    response = await home.bora.client.post(conv_url(queues.sevgi_in_group, "messages"),
                                           json={"body": "Araya giriyorum"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    for conversation_id in (queues.deniz_own, queues.sevgi_in_group):
        assert [m.direction for m in await stored_messages(home, conversation_id)] == [
            "inbound"]
    assert (await conversation_row(home, queues.sevgi_in_group)).assignee_id == (
        home.sevgi.user_id)


# ---- notes -------------------------------------------------------------------------------------

async def test_notes_on_a_contact_and_on_a_conversation(world):
    home = world.home
    inbound = await home.inbound("Merhaba", name="Ayşe")
    contact_id, conversation_id = inbound.contact_id, inbound.conversation_id

    on_contact = await ok(await home.bora.client.post(
        f"/api/v1/contacts/{contact_id}/notes", json={"body": "  Sadık müşteri  "}), 201)
    assert (on_contact["body"], on_contact["contact_id"], on_contact["conversation_id"],
            on_contact["author_id"]) == ("Sadık müşteri", str(contact_id), None,
                                         str(home.bora.user_id))
    on_conversation = await ok(await home.bora.client.post(
        conv_url(conversation_id, "notes"), json={"body": "Fiyat teklifi gönderilecek"}), 201)
    assert (on_conversation["contact_id"], on_conversation["conversation_id"]) == (
        str(contact_id), str(conversation_id))

    listed_notes = await ok(await home.sevgi.client.get(f"/api/v1/contacts/{contact_id}/notes"))
    assert [n["id"] for n in listed_notes] == [on_conversation["id"], on_contact["id"]]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        notes = (await session.scalars(select(Note).order_by(Note.created_at))).all()
        assert [(n.body, n.conversation_id) for n in notes] == [
            ("Sadık müşteri", None), ("Fiyat teklifi gönderilecek", conversation_id)]
    # Notes are never messages.
    assert [m.id for m in await stored_messages(home, conversation_id)] == [inbound.id]

    for body in ("", "   "):
        for url in (f"/api/v1/contacts/{contact_id}/notes", conv_url(conversation_id, "notes")):
            response = await home.bora.client.post(url, json={"body": body})
            assert response.status_code == 422
            assert error_of(response)["field"] == "body"
    assert await count(home, Note) == 2

    outsider = world.charlie.ayla.client
    for url in (f"/api/v1/contacts/{contact_id}/notes", conv_url(conversation_id, "notes")):
        assert (await outsider.post(url, json={"body": "x"})).status_code == 404
    assert (await outsider.get(f"/api/v1/contacts/{contact_id}/notes")).status_code == 404
    assert await count(home, Note) == 2


# ---- attachments -------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n" + bytes(range(256)) + b"\n%%EOF"


async def upload(person, data: bytes = PDF, filename: str = "fiyat listesi ğüş.pdf",
                 content_type: str = "application/pdf"):
    return await person.client.post("/api/v1/attachments",
                                    files={"file": (filename, data, content_type)})


async def test_attachments_upload_and_download_byte_for_byte(world):
    home = world.home
    created = await ok(await upload(home.bora), 201)
    assert (created["filename"], created["content_type"], created["size_bytes"],
            created["sha256"]) == ("fiyat listesi ğüş.pdf", "application/pdf", len(PDF),
                                   hashlib.sha256(PDF).hexdigest())
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = await session.get_one(Attachment, uuid.UUID(created["id"]))
        assert (stored.size_bytes, stored.sha256) == (len(PDF), hashlib.sha256(PDF).hexdigest())

    response = await home.deniz.client.get(f"/api/v1/attachments/{created['id']}")
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''fiyat%20listesi%20%C4%9F%C3%BC%C5%9F.pdf")
    assert response.headers["x-content-type-options"] == "nosniff"

    assert (await world.charlie.ayla.client.get(
        f"/api/v1/attachments/{created['id']}")).status_code == 404
    assert (await home.bora.client.get(
        f"/api/v1/attachments/{uuid.uuid4()}")).status_code == 404


async def test_an_uploaded_html_file_is_only_ever_a_download(world):
    home = world.home
    page = b"<html><script>alert(document.cookie)</script></html>"
    created = await ok(await upload(home.bora, page, "x.html", "text/html"), 201)
    response = await home.bora.client.get(f"/api/v1/attachments/{created['id']}")
    assert response.content == page
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_empty_upload_is_a_422_on_file(world):
    response = await upload(world.home.bora, b"")
    assert response.status_code == 422
    assert error_of(response)["field"] == "file"
    assert await count(world.home, Attachment) == 0


async def test_a_media_message_needs_an_attachment_of_the_company(world):
    home = world.home
    conversation_id = (await home.inbound("Fotoğraf atar mısınız?")).conversation_id
    url = conv_url(conversation_id, "messages")

    response = await home.sevgi.client.post(url, json={"content_kind": "image"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "attachment_id"

    foreign = await ok(await upload(world.charlie.ayla, b"\x89PNG charlie", "c.png",
                                    "image/png"), 201)
    response = await home.sevgi.client.post(url, json={"content_kind": "image",
                                                       "attachment_id": foreign["id"]})
    assert response.status_code == 404
    assert [m.direction for m in await stored_messages(home, conversation_id)] == ["inbound"]

    image = await ok(await upload(home.sevgi, b"\x89PNG home", "oda.png", "image/png"), 201)
    sent = await ok(await home.sevgi.client.post(url, json={
        "content_kind": "image", "attachment_id": image["id"]}), 201)
    assert (sent["content_kind"], sent["attachment_id"], sent["body"]) == (
        "image", image["id"], "")
    assert (await conversation_row(home, conversation_id)).last_message_preview == "[image]"

    document = await ok(await upload(home.sevgi), 201)
    sent = await ok(await home.sevgi.client.post(url, json={
        "content_kind": "document", "attachment_id": document["id"],
        "body": "Fiyat listemiz ektedir"}), 201)
    assert sent["body"] == "Fiyat listemiz ektedir"
    assert (await conversation_row(home, conversation_id)).last_message_preview == (
        "Fiyat listemiz ektedir")
    stored = await stored_messages(home, conversation_id)
    assert [(m.content_kind, m.attachment_id) for m in stored] == [
        ("text", None), ("image", uuid.UUID(image["id"])),
        ("document", uuid.UUID(document["id"]))]

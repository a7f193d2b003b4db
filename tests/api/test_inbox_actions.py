"""Actions on conversations, through the routes the inbox page posts to and through the services
behind them: assign, transfer (with its note), takeover, close and reopen, priority, snooze (and
the waker, and a customer waking it early), mark unread, tags (created inline by any role), bulk
actions that change all or nothing, notes with @mentions and who gets notified, note ownership,
presence housekeeping, media kinds and limits, contact merging rules. Each action's thread event
(``conversation_events``) is checked row by row."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from invekto.consent import service as consent
from invekto.consent.models import ConsentEvent
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact, ContactConsent, Tag
from invekto.contacts.schemas import TagCreate
from invekto.core.actor import Actor
from invekto.core.errors import NotFound, PermissionDenied, ValidationFailed
from invekto.inbox import merge
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Note, Notification
from invekto.users import service as users
from invekto.users.models import PresencePeriod, User
from invekto.users.schemas import UserUpdate
from tests.factories import Company, Person

HX = {"hx-request": "true"}
MB = 1024 * 1024


# ---- helpers -----------------------------------------------------------------------------------

async def db(company: Company, work) -> Any:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await work(session, company.system)


async def post(person: Person, path: str, data: Any = None, *, expect: int = 200
               ) -> httpx.Response:
    """An HTMX form post, as the page sends it (the client carries the CSRF header)."""
    response = await person.client.post(path, data=data or {}, headers=HX)
    assert response.status_code == expect, response.text
    return response


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert "error" in body, response.text
    return body["error"]


async def refused(person: Person, path: str, data: Any = None, *, status: int = 422,
                  field: str | None = None) -> dict:
    error = error_of(await post(person, path, data, expect=status))
    if field is not None:
        assert error.get("field") == field, error
    return error


def act(conversation_id: uuid.UUID, action: str) -> str:
    return f"/inbox/c/{conversation_id}/{action}"


async def conversation_row(company: Company, conversation_id: uuid.UUID) -> Conversation:
    return await db(company, lambda s, _a: s.get_one(Conversation, conversation_id))


async def set_conversation(company: Company, conversation_id: uuid.UUID, **values: Any) -> None:
    """Set-up straight in the table: puts a conversation somewhere without recording events."""
    async def work(session, _actor):
        await session.execute(update(Conversation).where(
            Conversation.tenant_id == company.tenant_id,
            Conversation.id == conversation_id).values(**values))
    await db(company, work)


async def rows_of(company: Company, model, *conditions, order=None) -> list:
    async def work(session, _actor):
        query = select(model).where(model.tenant_id == company.tenant_id, *conditions)
        if order is not None:
            query = query.order_by(order)
        return list((await session.scalars(query)).all())
    return await db(company, work)


async def events_of(company: Company, conversation_id: uuid.UUID) -> list[ConversationEvent]:
    return await rows_of(company, ConversationEvent,
                         ConversationEvent.conversation_id == conversation_id,
                         order=ConversationEvent.created_at)


def event_ids(page: str) -> list[str]:
    return re.findall(r'\bid="event-([0-9a-f-]{36})"', page)


def actor_of(company: Company, person: Person) -> Actor:
    groups = frozenset({company.group_id}) if person.username == "bora" else frozenset()
    return Actor(tenant_id=company.tenant_id, role=person.role, user_id=person.user_id,
                 group_ids=groups)


@dataclass
class Queues:
    """One open conversation in each place an agent's visibility cares about."""

    shared: uuid.UUID  # unassigned, no group: everyone's queue
    group_queue: uuid.UUID  # unassigned, in Bora's group
    bora_own: uuid.UUID
    deniz_own: uuid.UUID
    sevgi_in_group: uuid.UUID  # Sevgi's, within Bora's group
    more_shared: list[uuid.UUID]


@pytest.fixture
async def queues(world) -> Queues:
    home = world.home
    ids = [(await home.inbound(f"Mesaj {n}", name=f"Kişi {n}")).conversation_id
           for n in range(8)]
    await set_conversation(home, ids[1], group_id=home.group_id)
    await set_conversation(home, ids[2], assignee_id=home.bora.user_id)
    await set_conversation(home, ids[3], assignee_id=home.deniz.user_id)
    await set_conversation(home, ids[4], assignee_id=home.sevgi.user_id, group_id=home.group_id)
    return Queues(*ids[:5], more_shared=ids[5:])


# ---- assign ------------------------------------------------------------------------------------

async def test_an_agent_takes_and_releases_a_queued_conversation(world, queues):
    home = world.home
    response = await post(home.bora, act(queues.shared, "assign"),
                          {"user_id": str(home.bora.user_id)})
    (event,) = await events_of(home, queues.shared)
    assert (event.kind, event.actor_user_id, event.data) == (
        "assigned", home.bora.user_id, {"assignee_id": str(home.bora.user_id),
                                        "reason": "manual"})
    assert event.contact_id == (await conversation_row(home, queues.shared)).contact_id
    # The answer: the new header, the event line out of band, the composer.
    assert f'data-assignee="{home.bora.user_id}"' in response.text
    assert event_ids(response.text) == [str(event.id)]
    assert "Bora konuşmayı üstlendi" in response.text
    assert 'id="composer"' in response.text
    assert (await conversation_row(home, queues.shared)).assignee_id == home.bora.user_id

    response = await post(home.bora, act(queues.shared, "assign"), {"user_id": ""})
    released = (await events_of(home, queues.shared))[-1]
    assert (released.kind, released.data) == ("assigned", {"assignee_id": None,
                                                           "reason": "manual"})
    assert "Bora konuşmanın atamasını kaldırdı" in response.text
    assert (await conversation_row(home, queues.shared)).assignee_id is None


async def test_an_agent_cannot_assign_to_others_or_take_a_colleagues_conversation(world,
                                                                                   queues):
    home = world.home
    error = await refused(home.bora, act(queues.shared, "assign"),
                          {"user_id": str(home.deniz.user_id)}, status=403)
    assert error["message"].startswith("Temsilciler bir konuşmayı üstlenebilir")
    await refused(home.bora, act(queues.sevgi_in_group, "assign"),
                  {"user_id": str(home.bora.user_id)}, status=403)
    await refused(home.bora, act(queues.deniz_own, "assign"),
                  {"user_id": str(home.bora.user_id)}, status=404)
    await refused(home.deniz, act(queues.group_queue, "assign"),
                  {"user_id": str(home.deniz.user_id)}, status=404)
    assert await rows_of(home, ConversationEvent) == []
    for conversation_id, assignee in ((queues.shared, None),
                                      (queues.sevgi_in_group, home.sevgi.user_id),
                                      (queues.deniz_own, home.deniz.user_id)):
        assert (await conversation_row(home, conversation_id)).assignee_id == assignee


async def test_a_supervisor_assigns_to_active_colleagues_only(world, queues):
    home = world.home
    response = await post(home.sevgi, act(queues.shared, "assign"),
                          {"user_id": str(home.deniz.user_id)})
    assert "Sevgi konuşmayı Deniz adlı kullanıcıya atadı" in response.text
    (event,) = await events_of(home, queues.shared)
    assert (event.actor_user_id, event.data) == (home.sevgi.user_id, {
        "assignee_id": str(home.deniz.user_id), "reason": "manual"})

    await db(home, lambda s, a: users.update_user(s, a, home.bora.user_id,
                                                  UserUpdate(is_active=False)))
    error = await refused(home.sevgi, act(queues.shared, "assign"),
                          {"user_id": str(home.bora.user_id)})
    assert error["message"] == "Bu kullanıcı devre dışı bırakılmış"
    charlie_admin = world.charlie.ayla.user_id
    await refused(home.sevgi, act(queues.shared, "assign"), {"user_id": str(charlie_admin)})
    await refused(home.sevgi, act(queues.shared, "assign"), {"user_id": "bora"},
                  field="user_id")
    assert (await conversation_row(home, queues.shared)).assignee_id == home.deniz.user_id
    assert len(await events_of(home, queues.shared)) == 1


# ---- transfer and takeover ---------------------------------------------------------------------

async def test_a_transfer_keeps_its_note_in_the_event(world, queues):
    home = world.home
    response = await post(home.sevgi, act(queues.bora_own, "transfer"), {
        "user_id": str(home.deniz.user_id), "group_id": str(home.group_id),
        "note": "  Randevu için geri arayacak  "})
    conversation = await conversation_row(home, queues.bora_own)
    assert (conversation.assignee_id, conversation.group_id) == (home.deniz.user_id,
                                                                 home.group_id)
    (event,) = await events_of(home, queues.bora_own)
    assert (event.kind, event.actor_user_id) == ("transferred", home.sevgi.user_id)
    assert event.data == {"from_user_id": str(home.bora.user_id), "from_group_id": None,
                          "user_id": str(home.deniz.user_id), "group_id": str(home.group_id),
                          "note": "Randevu için geri arayacak"}
    assert ("Sevgi konuşmayı Deniz adlı kullanıcıya devretti: “Randevu için geri arayacak”"
            in response.text)

    # To a group's queue only, by the agent who holds it; a long note is cut at 500.
    response = await post(home.bora, act(queues.shared, "transfer"),
                          {"group_id": str(home.group_id), "note": "ş" * 600})
    (event,) = await events_of(home, queues.shared)
    assert event.data["note"] == "ş" * 500
    assert (event.data["user_id"], event.data["group_id"]) == (None, str(home.group_id))
    assert "Bora konuşmayı Resepsiyon kuyruğuna devretti" in response.text
    # Without a note the event has none.
    await post(home.sevgi, act(queues.group_queue, "transfer"),
               {"user_id": str(home.bora.user_id), "note": "   "})
    (event,) = await events_of(home, queues.group_queue)
    assert "note" not in event.data
    assert event.data["group_id"] == str(home.group_id)  # the group stays


async def test_a_transfer_needs_a_target_and_the_right_to_hand_it_over(world, queues):
    home = world.home
    await refused(home.sevgi, act(queues.shared, "transfer"), {"note": "kime?"},
                  field="user_id")
    await refused(home.sevgi, act(queues.shared, "transfer"), {"group_id": "grup"},
                  field="group_id")
    await refused(home.sevgi, act(queues.shared, "transfer"),
                  {"group_id": str(uuid.uuid4())}, field="group_id")
    error = await refused(home.bora, act(queues.sevgi_in_group, "transfer"),
                          {"user_id": str(home.bora.user_id)}, status=403)
    assert error["message"] == ("Bu konuşmayı yalnızca atanan temsilci veya bir süpervizör "
                                "devredebilir")
    await refused(home.deniz, act(queues.bora_own, "transfer"),
                  {"user_id": str(home.deniz.user_id)}, status=404)
    assert await rows_of(home, ConversationEvent) == []


async def test_takeover_is_for_supervisors_and_is_recorded(world, queues):
    home = world.home
    # Before: Sevgi reads Bora's chat without a composer, and is offered the takeover.
    thread = (await home.sevgi.client.get(f"/inbox/c/{queues.bora_own}", headers=HX)).text
    assert 'id="takeover-button"' in thread and 'id="composer"' not in thread
    assert "Bu konuşmayla Bora ilgileniyor." in thread

    for agent, conversation_id in ((home.bora, queues.sevgi_in_group),
                                   (home.deniz, queues.bora_own),
                                   (home.bora, queues.shared)):
        error = await refused(agent, act(conversation_id, "takeover"), status=403)
        assert error["message"] == ("Bu işlem için “Konuşmaları ve temsilcileri denetleme” "
                                    "yetkisi gerekir")
    assert await rows_of(home, ConversationEvent) == []

    response = await post(home.sevgi, act(queues.bora_own, "takeover"))
    assert (await conversation_row(home, queues.bora_own)).assignee_id == home.sevgi.user_id
    (event,) = await events_of(home, queues.bora_own)
    assert (event.kind, event.actor_user_id, event.data) == (
        "takeover", home.sevgi.user_id,
        {"from_user_id": str(home.bora.user_id), "user_id": str(home.sevgi.user_id)})
    assert "Sevgi konuşmayı devraldı" in response.text
    assert 'id="composer"' in response.text
    await post(home.sevgi, act(queues.bora_own, "messages"), {"body": "Ben devraldım"})
    # Bora no longer sees it (it has no group): a 404 like any other conversation not his.
    response = await home.bora.client.get(f"/inbox/c/{queues.bora_own}", headers=HX)
    assert response.status_code == 404


# ---- status, priority, unread ------------------------------------------------------------------

async def test_close_and_reopen_each_record_one_event(world, queues):
    home = world.home
    response = await post(home.bora, act(queues.shared, "close"))
    conversation = await conversation_row(home, queues.shared)
    assert (conversation.status, conversation.closed_at is not None) == ("closed", True)
    assert 'data-status="closed"' in response.text and "Bu konuşma kapalı." in response.text
    await post(home.bora, act(queues.shared, "close"))  # closing again changes nothing
    assert [e.kind for e in await events_of(home, queues.shared)] == ["closed"]

    response = await post(home.bora, act(queues.shared, "reopen"))
    conversation = await conversation_row(home, queues.shared)
    assert (conversation.status, conversation.closed_at) == ("open", None)
    assert "Bora konuşmayı yeniden açtı" in response.text
    await post(home.bora, act(queues.shared, "reopen"))
    events = await events_of(home, queues.shared)
    assert [(e.kind, e.actor_user_id) for e in events] == [("closed", home.bora.user_id),
                                                           ("reopened", home.bora.user_id)]


async def test_reopening_is_refused_when_the_contact_has_a_newer_open_conversation(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="tekrar-yazan")
    await post(home.sevgi, act(first.conversation_id, "close"))
    newer = await home.inbound("Yine ben", handle="tekrar-yazan")
    assert newer.conversation_id != first.conversation_id
    error = await refused(home.sevgi, act(first.conversation_id, "reopen"), status=409,
                          field="conversation_id")
    assert error["code"] == "conflict"
    assert (await conversation_row(home, first.conversation_id)).status == "closed"
    assert [e.kind for e in await events_of(home, first.conversation_id)] == ["closed"]


async def test_priority_changes_are_recorded_once_and_checked(world, queues):
    home = world.home
    response = await post(home.bora, act(queues.shared, "priority"), {"priority": "high"})
    assert 'data-priority="high"' in response.text
    assert "Bora önceliği Yüksek olarak ayarladı" in response.text
    await post(home.bora, act(queues.shared, "priority"), {"priority": "high"})
    await post(home.sevgi, act(queues.shared, "priority"), {"priority": "low"})
    events = await events_of(home, queues.shared)
    assert [(e.kind, e.data, e.actor_user_id) for e in events] == [
        ("priority", {"priority": "high"}, home.bora.user_id),
        ("priority", {"priority": "low"}, home.sevgi.user_id)]
    error = await refused(home.bora, act(queues.shared, "priority"), {"priority": "critical"},
                          field="priority")
    assert error["message"] == "Öncelik low, normal, high veya urgent olmalıdır"
    await refused(home.bora, act(queues.shared, "priority"), {}, field="priority")
    assert (await conversation_row(home, queues.shared)).priority == "low"


async def test_mark_unread_sets_one_unread_and_records_no_thread_event(world, queues):
    home = world.home
    await home.bora.client.get(f"/inbox/c/{queues.bora_own}", headers=HX)
    assert (await conversation_row(home, queues.bora_own)).unread_count == 0
    response = await post(home.bora, act(queues.bora_own, "unread"))
    assert (await conversation_row(home, queues.bora_own)).unread_count == 1
    assert event_ids(response.text) == []
    row = (await home.bora.client.get(f"/inbox/rows/{queues.bora_own}", headers=HX)).text
    assert 'class="conv-row unread"' in row
    # An unread conversation keeps its count.
    await set_conversation(home, queues.shared, unread_count=3)
    await post(home.bora, act(queues.shared, "unread"))
    assert (await conversation_row(home, queues.shared)).unread_count == 3
    assert await rows_of(home, ConversationEvent) == []
    await refused(home.deniz, act(queues.bora_own, "unread"), status=404)


# ---- snooze ------------------------------------------------------------------------------------

async def test_a_snooze_time_without_a_zone_is_the_companys_wall_clock(world, queues):
    home = world.home
    response = await post(home.bora, act(queues.shared, "snooze"), {"until": "2031-03-10T09:30"})
    conversation = await conversation_row(home, queues.shared)
    assert conversation.status == "pending"
    assert conversation.snoozed_until == datetime(2031, 3, 10, 6, 30, tzinfo=UTC)  # UTC+3
    (event,) = await events_of(home, queues.shared)
    assert (event.kind, event.data) == ("snoozed", {"until": "2031-03-10T09:30:00+03:00"})
    assert 'data-status="pending"' in response.text
    assert "Bora konuşmayı 10 Mar 2031 09:30:00 tarihine kadar erteledi" in response.text

    await post(home.bora, act(queues.shared, "snooze"), {"until": "2031-03-10T09:30+00:00"})
    conversation = await conversation_row(home, queues.shared)
    assert conversation.snoozed_until == datetime(2031, 3, 10, 9, 30, tzinfo=UTC)
    # The list of pending conversations shows it snoozed.
    row = (await home.bora.client.get(f"/inbox/rows/{queues.shared}",
                                      params={"tab": "unassigned", "status": "pending"},
                                      headers=HX)).text
    assert 'class="snoozed"' in row


@pytest.mark.parametrize(("until", "message"), [
    ("2020-01-01T10:00", "Erteleme zamanı gelecekte olmalıdır"),
    ("yarın", "Bir tarih ve saat seçin"),
    ("", "Bir tarih ve saat seçin"),
])
async def test_a_snooze_time_must_be_a_future_time(world, queues, until, message):
    home = world.home
    error = await refused(home.bora, act(queues.shared, "snooze"), {"until": until},
                          field="until")
    if until:
        assert error["message"] == message
    conversation = await conversation_row(home, queues.shared)
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert await rows_of(home, ConversationEvent) == []


async def test_a_closed_conversation_cannot_be_snoozed(world, queues):
    home = world.home
    await post(home.bora, act(queues.shared, "close"))
    error = await refused(home.bora, act(queues.shared, "snooze"),
                          {"until": "2031-01-01T10:00"}, status=409, field="conversation_id")
    assert error["message"] == "Kapalı bir konuşma ertelenemez; önce konuşmayı yeniden açın"
    conversation = await conversation_row(home, queues.shared)
    assert (conversation.status, conversation.snoozed_until) == ("closed", None)


async def test_the_waker_reopens_only_conversations_whose_time_has_come(world, queues):
    home = world.home
    soon = datetime(2040, 6, 1, 9, 0, tzinfo=UTC)
    later = soon + timedelta(days=1)
    bora = actor_of(home, home.bora)
    await db(home, lambda s, _a: inbox.snooze(s, bora, queues.shared, soon))
    await db(home, lambda s, _a: inbox.snooze(s, bora, queues.bora_own, later))

    async def wake(now: datetime) -> int:
        async with home.rt.db.system_session() as session:
            return await inbox.wake_snoozed(session, now=now)

    await wake(soon - timedelta(seconds=1))
    assert (await conversation_row(home, queues.shared)).status == "pending"
    assert await wake(soon) >= 1
    woken = await conversation_row(home, queues.shared)
    assert (woken.status, woken.snoozed_until) == ("open", None)
    waiting = await conversation_row(home, queues.bora_own)
    assert (waiting.status, waiting.snoozed_until) == ("pending", later)
    reopened = (await events_of(home, queues.shared))[-1]
    assert (reopened.kind, reopened.actor_user_id, reopened.data) == (
        "reopened", None, {"reason": "snooze_ended"})
    assert [e.kind for e in await events_of(home, queues.bora_own)] == ["snoozed"]
    item = (await home.bora.client.get(f"/inbox/items/event/{reopened.id}", headers=HX)).text
    assert "Erteleme sona erdi; konuşma yeniden açık" in item

    await wake(later)
    assert (await conversation_row(home, queues.bora_own)).status == "open"
    await wake(later + timedelta(days=1))  # nothing left to wake: no more events
    assert [e.kind for e in await events_of(home, queues.shared)] == ["snoozed", "reopened"]


async def test_a_customer_message_wakes_a_snoozed_conversation_early(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="erken-yazan")
    await post(home.bora, act(first.conversation_id, "snooze"), {"until": "2039-01-01T09:00"})
    again = await home.inbound("Hâlâ bekliyorum", handle="erken-yazan")
    assert again.conversation_id == first.conversation_id
    conversation = await conversation_row(home, first.conversation_id)
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert conversation.unread_count == 2
    async with home.rt.db.system_session() as session:
        await inbox.wake_snoozed(session, now=datetime(2039, 1, 2, tzinfo=UTC))
    assert [e.kind for e in await events_of(home, first.conversation_id)] == ["snoozed"]


# ---- tags --------------------------------------------------------------------------------------

async def test_an_agent_creates_a_tag_while_tagging(world, queues):
    home = world.home
    response = await post(home.bora, act(queues.shared, "tags"),
                          {"add": "  Çok   acil ", "create": "1"})
    (tag,) = await rows_of(home, Tag)
    assert tag.name == "Çok acil"
    assert (await conversation_row(home, queues.shared)).tags == ["Çok acil"]
    (event,) = await events_of(home, queues.shared)
    assert (event.kind, event.data, event.actor_user_id) == (
        "tagged", {"added": ["Çok acil"], "removed": []}, home.bora.user_id)
    assert 'data-tag="Çok acil"' in response.text
    assert "Bora konuşmaya etiket ekledi: Çok acil" in response.text

    # The same name again, created or not, adds nothing.
    await post(home.deniz, act(queues.more_shared[0], "tags"), {"add": "Çok acil",
                                                                "create": "1"})
    assert len(await rows_of(home, Tag)) == 1
    await post(home.bora, act(queues.shared, "tags"), {"add": "Çok acil"})
    assert len(await events_of(home, queues.shared)) == 1

    response = await post(home.bora, act(queues.shared, "tags"), {"remove": "Çok acil"})
    assert (await conversation_row(home, queues.shared)).tags == []
    removed = (await events_of(home, queues.shared))[-1]
    assert (removed.kind, removed.data) == ("untagged", {"added": [], "removed": ["Çok acil"]})
    assert "Bora etiket kaldırdı: Çok acil" in response.text


async def test_without_create_an_unknown_tag_is_refused(world, queues):
    home = world.home
    error = await refused(home.bora, act(queues.shared, "tags"), {"add": "Bilinmeyen"},
                          field="tags")
    assert error["message"] == "Bilinmeyen etiket: 'Bilinmeyen'; önce etiketi oluşturun"
    await refused(home.bora, act(queues.shared, "tags"), {"add": "x" * 51, "create": "1"},
                  field="add")
    assert await rows_of(home, Tag) == []
    assert (await conversation_row(home, queues.shared)).tags == []
    await refused(home.deniz, act(queues.group_queue, "tags"), {"add": "Yeni", "create": "1"},
                  status=404)
    assert await rows_of(home, Tag) == []


# ---- bulk --------------------------------------------------------------------------------------

async def bulk(person: Person, action: str, ids: list, *, expect: int = 204,
               **extra: str) -> httpx.Response:
    return await post(person, "/inbox/bulk",
                      {"action": action, "ids": [str(i) for i in ids], **extra}, expect=expect)


async def test_bulk_assign_tag_and_close(world, queues):
    home = world.home
    chosen = [queues.shared, *queues.more_shared]
    await db(home, lambda s, a: contacts.create_tag(s, a, TagCreate(name="vip")))
    response = await bulk(home.sevgi, "assign", chosen, user_id=str(home.bora.user_id))
    assert response.headers["hx-trigger"] == "inbox-refresh"
    response = await bulk(home.sevgi, "tag", chosen, tag="vip")
    response = await bulk(home.sevgi, "close", chosen)
    for conversation_id in chosen:
        conversation = await conversation_row(home, conversation_id)
        assert (conversation.assignee_id, conversation.tags, conversation.status) == (
            home.bora.user_id, ["vip"], "closed")
        assert [e.kind for e in await events_of(home, conversation_id)] == [
            "assigned", "tagged", "closed"]
    untouched = await conversation_row(home, queues.group_queue)
    assert (untouched.assignee_id, untouched.tags, untouched.status) == (None, [], "open")


async def test_an_agent_bulk_takes_from_the_queue(world, queues):
    home = world.home
    await bulk(home.bora, "assign", [queues.shared, queues.group_queue],
               user_id=str(home.bora.user_id))
    for conversation_id in (queues.shared, queues.group_queue):
        assert (await conversation_row(home, conversation_id)).assignee_id == home.bora.user_id


@pytest.mark.parametrize(("who", "action", "forbidden", "status", "extra"), [
    ("bora", "assign", "sevgi_in_group", 403, {"user_id": "{bora}"}),  # a colleague's
    ("bora", "assign", "deniz_own", 404, {"user_id": "{bora}"}),  # out of his sight
    ("bora", "close", "deniz_own", 404, {}),
    ("deniz", "tag", "group_queue", 404, {"tag": "vip"}),
    ("sevgi", "close", "charlie", 404, {}),  # another company's
    ("sevgi", "assign", "not-an-id", 422, {"user_id": "{bora}"}),
])
async def test_one_refused_conversation_undoes_the_whole_bulk_action(world, queues, who,
                                                                     action, forbidden, status,
                                                                     extra):
    home = world.home
    await db(home, lambda s, a: contacts.create_tag(s, a, TagCreate(name="vip")))
    charlie = (await world.charlie.inbound("Merhaba")).conversation_id
    target = {"charlie": charlie, "not-an-id": "not-an-id"}.get(forbidden) or getattr(
        queues, forbidden)
    before = {c: await conversation_row(home, c) for c in queues.more_shared}
    extra = {k: str(home.bora.user_id) if v == "{bora}" else v for k, v in extra.items()}
    # The refused one comes last: the others were already changed when it failed.
    response = await bulk(getattr(home, who), action, [*queues.more_shared, target],
                          expect=status, **extra)
    assert error_of(response)["code"] in ("forbidden", "not_found", "validation_failed")
    for conversation_id, was in before.items():
        now = await conversation_row(home, conversation_id)
        assert (now.assignee_id, now.tags, now.status) == (was.assignee_id, was.tags,
                                                           was.status)
    assert await rows_of(home, ConversationEvent) == []
    assert (await conversation_row(world.charlie, charlie)).status == "open"


async def test_bulk_limits_and_unknown_actions(world, queues):
    home = world.home
    error = error_of(await bulk(home.sevgi, "close", [uuid.uuid4() for _ in range(201)],
                                expect=422))
    assert (error["field"], error["message"]) == ("ids",
                                                  "Tek seferde en fazla 200 konuşma seçin")
    # 200 is allowed (these ids just do not exist).
    await bulk(home.sevgi, "close", [uuid.uuid4() for _ in range(200)], expect=404)
    error = error_of(await bulk(home.sevgi, "delete", [queues.shared], expect=422))
    assert (error["field"], error["message"]) == ("action", "Bilinmeyen toplu işlem")
    assert error_of(await bulk(home.sevgi, "close", [], expect=422))["field"] == "ids"
    response = await home.sevgi.client.post("/inbox/bulk", data={"ids": [str(queues.shared)]},
                                            headers=HX)
    assert response.status_code == 422 and error_of(response)["field"] == "action"
    assert (await conversation_row(home, queues.shared)).status == "open"


# ---- notes and mentions ------------------------------------------------------------------------

async def notified(company: Company, note_id: str | uuid.UUID | None = None) -> set[str]:
    """Usernames notified (of one note, or of any)."""
    async def work(session, _actor):
        query = select(User.username).join(Notification, Notification.user_id == User.id).where(
            Notification.tenant_id == company.tenant_id)
        if note_id is not None:
            query = query.where(Notification.note_id == uuid.UUID(str(note_id)))
        return set((await session.scalars(query)).all())
    return await db(company, work)


async def note(person: Person, conversation_id: uuid.UUID, body: str) -> str:
    response = await post(person, act(conversation_id, "notes"), {"body": body})
    (note_id,) = re.findall(r'\bid="note-([0-9a-f-]{36})"', response.text)
    return note_id


@pytest.mark.parametrize(("place", "body", "expected"), [
    # Everyone sees the shared queue; the author is never notified.
    ("shared", "@deniz @bora @ayla @sevgi bakar mısınız?", {"deniz", "bora", "ayla"}),
    # Deniz is in no group: a mention in Bora's group queue would only leak its preview.
    ("group_queue", "@deniz ve @bora bakın", {"bora"}),
    ("deniz_own", "@bora @deniz", {"deniz"}),
    ("sevgi_in_group", "(@bora) @deniz", {"bora"}),
    ("shared", "@DENIZ, @Deniz ve @deniz", {"deniz"}),
    ("shared", "@kimse @nobody bakın", set()),
    ("shared", "deniz@bora.com ile yazıştım; bora@deniz adresine de", set()),
    ("shared", "e-posta: ayla.deniz@example.com", set()),
])
async def test_mentions_notify_colleagues_who_can_open_the_conversation(world, queues, place,
                                                                        body, expected):
    home = world.home
    note_id = await note(home.sevgi, getattr(queues, place), body)
    assert await notified(home, note_id) == expected
    for row in await rows_of(home, Notification):
        assert (row.kind, row.actor_user_id, row.conversation_id, row.read_at) == (
            "mention", home.sevgi.user_id, getattr(queues, place), None)
    # The note itself is stored whoever was mentioned.
    (stored,) = await rows_of(home, Note)
    assert stored.body == body


async def test_inactive_users_and_other_companies_are_never_mentioned(world, queues):
    home = world.home
    await db(home, lambda s, a: users.update_user(s, a, home.deniz.user_id,
                                                  UserUpdate(is_active=False)))
    note_id = await note(home.bora, queues.shared, "@deniz @ayla")
    assert await notified(home, note_id) == {"ayla"}
    (notification,) = await rows_of(home, Notification)
    assert notification.user_id == home.ayla.user_id  # Ayla of this company, not Charlie's
    assert await rows_of(world.charlie, Notification) == []


async def test_a_contact_note_notifies_nobody(world, queues):
    home = world.home
    contact_id = (await conversation_row(home, queues.shared)).contact_id
    await post(home.sevgi, f"/inbox/contacts/{contact_id}/notes", {"body": "@bora bilgin olsun"})
    (stored,) = await rows_of(home, Note)
    assert (stored.conversation_id, stored.contact_id) == (None, contact_id)
    assert await rows_of(home, Notification) == []


async def test_notes_in_the_service_layer(world, queues):
    home = world.home
    bora, deniz, sevgi = (actor_of(home, p) for p in (home.bora, home.deniz, home.sevgi))

    async def work(session, _actor):
        made = await inbox.add_note(session, bora, body="Not\r\n@deniz ",
                                    conversation_id=queues.shared)
        assert made.body == "Not\n@deniz"
        with pytest.raises(ValidationFailed) as empty:
            await inbox.add_note(session, bora, body=" \r\n", conversation_id=queues.shared)
        assert empty.value.field == "body"
        with pytest.raises(ValidationFailed):
            await inbox.add_note(session, bora, body="Not")
        with pytest.raises(NotFound):
            await inbox.add_note(session, deniz, body="Not", conversation_id=queues.group_queue)
        with pytest.raises(PermissionDenied):
            await inbox.update_note(session, deniz, made.id, "Değiştirdim")
        with pytest.raises(PermissionDenied):
            await inbox.delete_note(session, deniz, made.id)
        assert (await inbox.update_note(session, sevgi, made.id, "Düzeltildi")).body == (
            "Düzeltildi")
        await inbox.delete_note(session, bora, made.id)
        return made.id
    note_id = await db(home, work)
    assert await rows_of(home, Note) == []
    # A deleted note takes its notifications with it.
    assert await rows_of(home, Notification, Notification.note_id == note_id) == []


async def test_conversation_notes_are_changed_by_their_author_or_a_supervisor(world, queues):
    home = world.home
    note_id = await note(home.bora, queues.shared, "Benim notum")
    card = f"?c={queues.shared}"
    await refused(home.deniz, f"/inbox/notes/{note_id}/edit{card}", {"body": "Deniz"},
                  status=403)
    error = await refused(home.deniz, f"/inbox/notes/{note_id}/delete", status=403)
    assert error["message"] == "Bu notu yalnızca yazan kişi veya bir süpervizör değiştirebilir"
    await refused(world.charlie.ayla, f"/inbox/notes/{note_id}/delete", status=404)
    await post(home.bora, f"/inbox/notes/{note_id}/edit{card}", {"body": "Düzelttim"})
    await post(home.ayla, f"/inbox/notes/{note_id}/edit", {"body": "Yönetici düzeltti"})
    assert [n.body for n in await rows_of(home, Note)] == ["Yönetici düzeltti"]
    await post(home.bora, f"/inbox/notes/{note_id}/delete{card}")
    assert await rows_of(home, Note) == []


# ---- presence ----------------------------------------------------------------------------------

async def user_row(company: Company, person: Person) -> User:
    return await db(company, lambda s, _a: s.get_one(User, person.user_id))


async def set_user(company: Company, person: Person, **values: Any) -> None:
    async def work(session, _actor):
        await session.execute(update(User).where(User.tenant_id == company.tenant_id,
                                                 User.id == person.user_id).values(**values))
    await db(company, work)


async def test_an_open_tab_brings_an_offline_user_online(world):
    home = world.home
    assert (await user_row(home, home.bora)).presence == "offline"
    await db(home, lambda s, _a: users.touch_presence(s, home.tenant_id, home.bora.user_id))
    user = await user_row(home, home.bora)
    assert user.presence == "online"
    assert datetime.now(UTC) - user.last_seen_at < timedelta(minutes=1)
    assert user.presence_changed_at is not None
    # Away stays away: a tab only proves the person is there, not that they are available.
    await set_user(home, home.deniz, presence="away")
    await db(home, lambda s, _a: users.touch_presence(s, home.tenant_id, home.deniz.user_id))
    assert (await user_row(home, home.deniz)).presence == "away"
    # An id that is not a user of the company changes nothing.
    await db(home, lambda s, _a: users.touch_presence(s, home.tenant_id,
                                                     world.charlie.ayla.user_id))
    assert (await user_row(world.charlie, world.charlie.ayla)).presence == "offline"


async def test_the_sweeper_turns_silent_users_offline_only(world):
    home = world.home
    now = datetime(2042, 1, 1, 12, 0, tzinfo=UTC)
    await set_user(home, home.bora, presence="online", last_seen_at=now - timedelta(minutes=5))
    await set_user(home, home.deniz, presence="online", last_seen_at=now - timedelta(seconds=30))
    await set_user(home, home.sevgi, presence="away", last_seen_at=None)
    await set_user(home, home.ayla, presence="away", last_seen_at=now - timedelta(seconds=90))
    async with home.rt.db.system_session() as session:
        swept = await users.sweep_presence(session, now=now)
    assert swept >= 2
    presence = {p: (await user_row(home, getattr(home, p))).presence
                for p in ("bora", "deniz", "sevgi", "ayla")}
    assert presence == {"bora": "offline", "deniz": "online", "sevgi": "offline",
                        "ayla": "away"}
    assert (await user_row(home, home.bora)).presence_changed_at is not None


async def periods_of(company: Company, person: Person) -> list[PresencePeriod]:
    return await db(company, lambda s, _a: _scalars(s, select(PresencePeriod).where(
        PresencePeriod.user_id == person.user_id).order_by(PresencePeriod.started_at)))


async def _scalars(session, query) -> list:
    return list((await session.scalars(query)).all())


async def test_presence_keeps_its_history_for_the_reports(world):
    home = world.home
    bora = Actor(home.tenant_id, "agent", user_id=home.bora.user_id)
    await db(home, lambda s, _a: users.touch_presence(s, home.tenant_id, home.bora.user_id))
    await db(home, lambda s, _a: users.set_presence(s, bora, "away"))
    await db(home, lambda s, _a: users.set_presence(s, bora, "away"))  # no change: no period
    await db(home, lambda s, _a: users.set_presence(s, bora, "offline"))
    periods = await periods_of(home, home.bora)
    assert [p.presence for p in periods] == ["online", "away"]
    assert periods[0].ended_at == periods[1].started_at  # one after the other, no gap
    assert periods[1].ended_at is not None  # offline: nothing open

    # Back online, then silent: the sweep ends the period when the last tab was heard from.
    await db(home, lambda s, _a: users.touch_presence(s, home.tenant_id, home.bora.user_id))
    heard = (await periods_of(home, home.bora))[-1].started_at + timedelta(minutes=30)
    await set_user(home, home.bora, last_seen_at=heard)
    async with home.rt.db.system_session() as session:
        await users.sweep_presence(session, now=heard + timedelta(minutes=5))
    last = (await periods_of(home, home.bora))[-1]
    assert (last.presence, last.ended_at) == ("online", heard)
    assert (await user_row(home, home.bora)).presence == "offline"


# ---- media kinds -------------------------------------------------------------------------------

@pytest.mark.parametrize(("content_type", "size", "kind"), [
    ("image/png", 5 * MB, "image"),
    ("IMAGE/JPEG", 1, "image"),
    ("image/webp; q=1", 1, "image"),
    ("video/3gpp", 16 * MB, "video"),
    ("audio/amr", 16 * MB, "audio"),
    ("application/zip", 100 * MB, "document"),
    ("text/plain; charset=utf-8", 1, "document"),
])
def test_media_kind_by_type_up_to_its_limit(content_type, size, kind):
    assert inbox.media_kind(content_type, size) == kind


@pytest.mark.parametrize(("content_type", "size", "code", "params"), [
    ("image/png", 5 * MB + 1, "file_too_large", {"kind": "image", "megabytes": 5}),
    ("video/mp4", 16 * MB + 1, "file_too_large", {"kind": "video", "megabytes": 16}),
    ("audio/ogg", 16 * MB + 1, "file_too_large", {"kind": "audio", "megabytes": 16}),
    ("application/pdf", 100 * MB + 1, "file_too_large", {"kind": "document", "megabytes": 100}),
    ("text/html", 1, "file_type_not_allowed", {}),
    ("image/svg+xml", 1, "file_type_not_allowed", {}),
    ("", 1, "file_type_not_allowed", {}),
])
def test_media_kind_refuses_with_a_field_and_a_code(content_type, size, code, params):
    with pytest.raises(ValidationFailed) as refusal:
        inbox.media_kind(content_type, size)
    assert (refusal.value.field, refusal.value.code, refusal.value.params) == (
        "file", code, params)


def test_every_media_kind_has_a_limit_no_larger_than_the_upload_limit(settings):
    assert set(inbox.MEDIA_RULES) == {"image", "video", "audio", "document"}
    for types, max_bytes in inbox.MEDIA_RULES.values():
        assert types and 0 < max_bytes <= settings.max_attachment_bytes


# ---- merge rules -------------------------------------------------------------------------------

async def test_merging_closes_a_pending_duplicate_and_fills_empty_values(world):
    home = world.home
    keep = await home.inbound("Merhaba", handle="birlesen-1", name="")
    gone = await home.inbound("Merhaba", handle="birlesen-2", name="Gerçek Ad",
                              phone="0532 555 44 33")
    await set_conversation(home, gone.conversation_id, status="pending",
                           snoozed_until=datetime(2040, 1, 1, tzinfo=UTC))
    sevgi = actor_of(home, home.sevgi)
    kept = await db(home, lambda s, _a: merge.merge_contacts(s, sevgi, keep.contact_id,
                                                             gone.contact_id))
    assert (kept.id, kept.name, kept.phone) == (keep.contact_id, "Gerçek Ad", "+905325554433")
    closed = await conversation_row(home, gone.conversation_id)
    assert (closed.status, closed.snoozed_until, closed.contact_id) == (
        "closed", None, keep.contact_id)
    assert (await conversation_row(home, keep.conversation_id)).status == "open"
    assert [e.kind for e in await events_of(home, gone.conversation_id)] == ["closed"]
    # The phone moved with the contact: the number now finds the kept one.
    again = await home.inbound("Yeni", handle="yeni-cihaz", phone="+90 532 555 44 33")
    assert again.contact_id == keep.contact_id

    async def refusals(session, _actor):
        with pytest.raises(ValidationFailed) as itself:
            await merge.merge_contacts(session, sevgi, keep.contact_id, keep.contact_id)
        assert itself.value.field == "merge_id"
        with pytest.raises(ValidationFailed) as gone_already:
            await merge.merge_contacts(session, sevgi, keep.contact_id, gone.contact_id)
        assert gone_already.value.field == "merge_id"
    await db(home, refusals)
    assert await db(home, lambda s, _a: s.scalar(select(func.count()).select_from(Contact))) == 1


async def test_merging_keeps_both_consent_histories_and_the_latest_statement(world):
    home = world.home
    keep = await home.inbound("Merhaba", handle="izin-1", name="Ayşe")
    gone = await home.inbound("Merhaba", handle="izin-2", name="Ayşe Y.")
    given = datetime(2026, 1, 5, 10, tzinfo=UTC)
    withdrawn = datetime(2026, 3, 1, 9, tzinfo=UTC)

    async def record(session, _actor):
        await consent.apply_changes(session, home.tenant_id, "manual", consent.SYSTEM, [
            consent.Change(keep.contact_id, "message", True, given),
            consent.Change(gone.contact_id, "message", False, withdrawn),
            consent.Change(gone.contact_id, "call", True, given)])
    await db(home, record)
    sevgi = actor_of(home, home.sevgi)
    await db(home, lambda s, _a: merge.merge_contacts(s, sevgi, keep.contact_id,
                                                      gone.contact_id))

    async def read(session, _actor):
        states = {row.consent_type: (row.granted, row.recorded_at) for row in (
            await session.scalars(select(ContactConsent))).all()}
        history = (await session.scalars(select(ConsentEvent.contact_id))).all()
        return states, history
    states, history = await db(home, read)
    # The later withdrawal, made to the merged contact, stands over the earlier consent.
    assert states == {"message": (False, withdrawn), "call": (True, given)}
    assert history == [keep.contact_id] * 3


async def test_workload_is_for_supervisors(world, queues):
    home = world.home
    held = await db(home, lambda s, _a: inbox.workload(s, actor_of(home, home.sevgi)))
    assert {c.id for c in held} == {queues.bora_own, queues.deniz_own, queues.sevgi_in_group}
    with pytest.raises(PermissionDenied):
        await db(home, lambda s, _a: inbox.workload(s, actor_of(home, home.bora)))

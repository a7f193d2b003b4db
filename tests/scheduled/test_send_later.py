"""Send later: a reply scheduled for a wall-clock time in the company's time zone goes out when
the minute scan reaches it (the scan takes ``now``, which the tests move), once, however many
scans run; it can be edited or cancelled until then; free text whose 24-hour window has closed
by then fails with the reason and its author is told."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from invekto.inbox import scheduled
from invekto.inbox.models import Message, Notification, ScheduledMessage

ISTANBUL = ZoneInfo("Europe/Istanbul")


def _url(conversation_id, *rest) -> str:
    return "/".join([f"/api/v1/conversations/{conversation_id}/scheduled-messages", *rest])


def _in_two_days() -> date:
    return datetime.now(ISTANBUL).date() + timedelta(days=2)


async def _schedule(person, conversation_id, send_at: str, **message):
    return await person.client.post(_url(conversation_id), json={
        "send_at": send_at, "message": message})


async def _scan(company, now: datetime) -> list[uuid.UUID]:
    """One minute of ``inbox:send_scheduled``, for this company only (other tests' companies
    are left alone): the scheduled messages it acted on."""
    async with company.rt.db.system_session() as session:
        due = await scheduled.due_scheduled(session, now=now)
    acted = []
    for tenant_id, scheduled_id in due:
        if tenant_id != company.tenant_id:
            continue
        async with company.rt.db.tenant_session(tenant_id) as session:
            if await scheduled.send_scheduled(session, tenant_id, scheduled_id, now=now):
                acted.append(scheduled_id)
    return acted


async def _outbound(company, conversation_id) -> list[Message]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound"
        ).order_by(Message.created_at))).all())


async def _row(company, scheduled_id) -> ScheduledMessage:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(ScheduledMessage, uuid.UUID(str(scheduled_id)))


async def test_nine_in_istanbul_goes_out_at_six_utc_as_its_author(world):
    home = world.home
    inbound = await home.inbound("Yarın sabah arar mısınız?")
    day = _in_two_days()
    response = await _schedule(home.bora, inbound.conversation_id, f"{day}T09:00",
                               body="Günaydın, randevunuzu onaylıyoruz.")
    assert response.status_code == 201, response.text
    created = response.json()
    assert datetime.fromisoformat(created["send_at"]) == datetime(day.year, day.month, day.day,
                                                                  6, 0, tzinfo=UTC)
    assert created["status"] == "scheduled"

    assert await _scan(home, datetime(day.year, day.month, day.day, 5, 59, tzinfo=UTC)) == []
    assert await _outbound(home, inbound.conversation_id) == []
    sent_at = datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)
    assert await _scan(home, sent_at) == [uuid.UUID(created["id"])]
    (message,) = await _outbound(home, inbound.conversation_id)
    assert (message.body, message.sender_user_id) == ("Günaydın, randevunuzu onaylıyoruz.",
                                                      home.bora.user_id)
    row = await _row(home, created["id"])
    assert (row.status, row.message_id) == ("sent", message.id)
    listed = await home.bora.client.get(_url(inbound.conversation_id))
    assert [(s["id"], s["status"]) for s in listed.json()] == [(created["id"], "sent")]


async def test_scans_run_twice_or_at_once_send_it_once(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    later = datetime.now(UTC) + timedelta(hours=1)
    for text in ("birinci", "ikinci"):
        response = await _schedule(home.bora, inbound.conversation_id, later.isoformat(),
                                   body=text)
        assert response.status_code == 201, response.text
    due = later + timedelta(minutes=1)
    together = await asyncio.gather(_scan(home, due), _scan(home, due), _scan(home, due))
    assert sum(len(acted) for acted in together) == 2
    assert await _scan(home, due) == []  # and again, later
    assert sorted(m.body for m in await _outbound(home, inbound.conversation_id)) == [
        "birinci", "ikinci"]


async def test_cancelled_before_its_time_it_never_goes(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    later = datetime.now(UTC) + timedelta(hours=2)
    created = (await _schedule(home.bora, inbound.conversation_id, later.isoformat(),
                               body="Vazgeçtim")).json()
    # Deniz sees the conversation (the shared queue) but it is not his message to cancel.
    assert (await home.deniz.client.post(
        _url(inbound.conversation_id, created["id"], "cancel"))).status_code == 403
    cancelled = await home.bora.client.post(_url(inbound.conversation_id, created["id"],
                                                 "cancel"))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert await _scan(home, later + timedelta(minutes=5)) == []
    assert await _outbound(home, inbound.conversation_id) == []
    again = await home.bora.client.post(_url(inbound.conversation_id, created["id"], "cancel"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_scheduled")


async def test_edited_before_its_time_it_goes_with_the_new_text_at_the_new_time(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    first_time = datetime.now(UTC) + timedelta(hours=1)
    new_time = first_time + timedelta(hours=3)
    created = (await _schedule(home.bora, inbound.conversation_id, first_time.isoformat(),
                               body="Saat 3'te")).json()
    edited = await home.bora.client.patch(_url(inbound.conversation_id, created["id"]), json={
        "body": "Saat 5'te", "send_at": new_time.isoformat()})
    assert edited.status_code == 200, edited.text
    assert await _scan(home, first_time + timedelta(minutes=1)) == []
    assert await _scan(home, new_time) == [uuid.UUID(created["id"])]
    assert [m.body for m in await _outbound(home, inbound.conversation_id)] == ["Saat 5'te"]
    too_late = await home.bora.client.patch(_url(inbound.conversation_id, created["id"]),
                                            json={"body": "Değişiklik"})
    assert too_late.status_code == 409


async def test_a_time_gone_by_is_refused(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    response = await _schedule(home.bora, inbound.conversation_id,
                               (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                               body="Geçmişe")
    assert (response.status_code, response.json()["error"]["field"]) == (422, "send_at")


async def test_free_text_after_the_window_fails_with_the_reason_and_the_author_is_told(
        world, whatsapp):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="905321230001", phone="905321230001",
                                 channel_id=whatsapp)
    # Free text due after the window will have closed is refused at once.
    too_late = await _schedule(home.bora, inbound.conversation_id,
                               (datetime.now(UTC) + timedelta(hours=30)).isoformat(),
                               body="Yarından sonra")
    assert (too_late.status_code, too_late.json()["error"]["field"]) == (409, "send_at")
    due = datetime.now(UTC) + timedelta(hours=2)
    created = (await _schedule(home.bora, inbound.conversation_id, due.isoformat(),
                               body="İki saat sonra")).json()
    # The customer's message turns out older than it seemed: at send time the window is shut.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == inbound.id).values(
            created_at=Message.created_at - timedelta(hours=23)))
    assert await _scan(home, due) == [uuid.UUID(created["id"])]
    row = await _row(home, created["id"])
    assert (row.status, row.failure_reason, row.message_id) == (
        "failed", "reply_window_closed", None)
    assert await _outbound(home, inbound.conversation_id) == []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        told = (await session.scalars(select(Notification.kind).where(
            Notification.user_id == home.bora.user_id,
            Notification.conversation_id == inbound.conversation_id))).all()
    assert told == [scheduled.FAILED_NOTIFICATION]


async def test_a_template_goes_out_after_the_window(world, whatsapp):
    home = world.home
    inbound = await home.inbound("Merhaba", handle="905321230002", phone="905321230002",
                                 channel_id=whatsapp)
    due = datetime.now(UTC) + timedelta(hours=30)
    created = await _schedule(home.bora, inbound.conversation_id, due.isoformat(),
                              content_kind="template", template={
                                  "name": "randevu_hatirlatma", "language": "tr",
                                  "parameters": {"1": "Ayşe Hanım", "2": "28 Kasım"}})
    assert created.status_code == 201, created.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == inbound.id).values(
            created_at=Message.created_at - timedelta(hours=30)))
    assert await _scan(home, due) == [uuid.UUID(created.json()["id"])]
    (message,) = await _outbound(home, inbound.conversation_id)
    assert message.content_kind == "template" and "28 Kasım" in message.body


async def test_another_company_cannot_see_or_touch_it(world):
    home = world.home
    inbound = await home.inbound("Merhaba")
    created = (await _schedule(home.bora, inbound.conversation_id,
                               (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                               body="Gizli")).json()
    charlie = world.charlie.ayla.client
    assert (await charlie.get(_url(inbound.conversation_id))).status_code == 404
    assert (await charlie.post(_url(inbound.conversation_id, created["id"], "cancel"))
            ).status_code == 404
    assert (await _row(home, created["id"])).status == "scheduled"

"""Business hours through the real ingest path, at the moment the customer wrote: outside the
company's hours (or on a holiday) the away message instead of the welcome and the after-hours
group; a channel's own hours win over the company's; Türkiye's public holidays load by year."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from invekto.inbox.models import Conversation, Message
from invekto.users import service as users
from invekto.users.schemas import GroupCreate
from tests.routing.team import acting, customer_writes, online, route

ISTANBUL = ZoneInfo("Europe/Istanbul")
WEEKDAYS = {str(d): [["09:00", "18:00"]] for d in range(5)}
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ISTANBUL)
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=ISTANBUL)
REPUBLIC_DAY = datetime(2026, 10, 29, 11, 0, tzinfo=ISTANBUL)  # a Thursday


async def _answers(company, conversation: Conversation) -> list[str]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message.body).where(
            Message.conversation_id == conversation.id, Message.direction == "outbound"
        ).order_by(Message.created_at))).all())


async def _hours(company, path: str = "/api/v1/business-hours", **fields) -> None:
    response = await company.sevgi.client.put(path, json={"schedule": WEEKDAYS, **fields})
    assert response.status_code == 200, response.text


async def test_outside_hours_the_away_message_and_the_after_hours_group(team):
    home = team
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        night = await users.create_group(session, home.system, GroupCreate(
            name="Gece", member_ids=[home.sevgi.user_id]))
    await online(home, "sevgi")
    await route(home)
    await home.sevgi.client.put(f"/api/v1/channels/{home.channel_id}/operations",
                                json={"welcome_new": "Hoş geldiniz!"})
    await _hours(home, away_message="Mesai saatlerimiz hafta içi 09:00-18:00.",
                 after_hours_group_id=str(night.id))

    weekday = await customer_writes(home, MONDAY_10)
    assert await _answers(home, weekday) == ["Hoş geldiniz!"]
    assert weekday.group_id == home.group_id and weekday.assignee_id in (
        home.bora.user_id, home.deniz.user_id)

    weekend = await customer_writes(home, SATURDAY_10)
    assert await _answers(home, weekend) == ["Mesai saatlerimiz hafta içi 09:00-18:00."]
    assert (weekend.group_id, weekend.assignee_id) == (night.id, home.sevgi.user_id)

    # Nobody of the night group available: it waits in the night queue.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await users.set_presence(session, acting(home, "sevgi"), "away")
    waiting = await customer_writes(home, SATURDAY_10)
    assert (waiting.group_id, waiting.assignee_id) == (night.id, None)


async def test_a_holiday_is_outside_hours(team):
    await _hours(team, away_message="Bugün resmi tatil.")
    response = await team.sevgi.client.post("/api/v1/holidays", json={
        "day": "2026-10-29", "name": "Cumhuriyet Bayramı"})
    assert response.status_code == 201, response.text
    assert await _answers(team, await customer_writes(team, REPUBLIC_DAY)) == ["Bugün resmi tatil."]
    again = await team.sevgi.client.post("/api/v1/holidays", json={
        "day": "2026-10-29", "name": "İkinci kez"})
    assert (again.status_code, again.json()["error"]["field"]) == (409, "day")


async def test_a_channels_own_hours_win_over_the_companys(team):
    await _hours(team, away_message="Şirket kapalı.")
    await _hours(team, f"/api/v1/channels/{team.channel_id}/business-hours",
                 schedule={"5": [["09:00", "13:00"]]}, away_message="Kanal kapalı.")
    assert await _answers(team, await customer_writes(team, SATURDAY_10)) == []  # open on Saturdays
    assert await _answers(team, await customer_writes(team, MONDAY_10)) == ["Kanal kapalı."]


async def test_without_hours_the_company_is_always_open(team):
    await team.sevgi.client.put(f"/api/v1/channels/{team.channel_id}/operations",
                                json={"welcome_new": "Hoş geldiniz!"})
    assert await _answers(team, await customer_writes(team, SATURDAY_10)) == ["Hoş geldiniz!"]
    response = await team.bora.client.get("/api/v1/business-hours")
    assert response.json()["schedule"] == {}


async def test_turkish_public_holidays_load_by_year_once(team):
    response = await team.sevgi.client.post("/api/v1/holidays/public", params={"year": 2026})
    assert response.status_code == 200, response.text
    days = {h["day"]: h["name"] for h in response.json()}
    assert days["2026-10-29"] == "Cumhuriyet Bayramı"
    assert days["2026-03-20"] == "Ramazan Bayramı"
    assert days["2026-05-27"] == "Kurban Bayramı"
    again = await team.sevgi.client.post("/api/v1/holidays/public", params={"year": 2026})
    assert len(again.json()) == len(days) == 14
    bad = await team.sevgi.client.post("/api/v1/holidays/public", params={"year": 1900})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "year")


async def test_bad_hours_and_who_may_set_them(team, world):
    bad = await team.sevgi.client.put("/api/v1/business-hours",
                                      json={"schedule": {"0": [["18:00", "09:00"]]}})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "schedule")
    foreign = await team.sevgi.client.put("/api/v1/business-hours", json={
        "schedule": WEEKDAYS, "after_hours_group_id": str(world.charlie.group_id)})
    assert (foreign.status_code, foreign.json()["error"]["field"]) == (
        422, "after_hours_group_id")
    assert (await team.bora.client.put("/api/v1/business-hours", json={"schedule": WEEKDAYS})
            ).status_code == 403

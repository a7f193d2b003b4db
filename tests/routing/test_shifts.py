"""Shifts, with the clock set to the moment the customer wrote: off-shift agents get no new
conversations, a day's exception wins over the weekly plan, an agent whose shift begins takes
the queue, and the same hold in a time zone with daylight saving. Supervisors plan; agents
read their own plan."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update

from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation
from invekto.routing import service as routing
from invekto.tenants.models import Tenant
from invekto.users import service as users
from tests.routing.team import acting, customer_writes, route

ISTANBUL, BERLIN = ZoneInfo("Europe/Istanbul"), ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(5)}


async def _plan(company, username: str, schedule: dict) -> None:
    response = await company.sevgi.client.put(
        f"/api/v1/users/{company.people[username].user_id}/shifts", json={"schedule": schedule})
    assert response.status_code == 200, response.text


async def test_off_shift_agents_get_no_new_conversations(team):
    await route(team)
    await _plan(team, "bora", NINE_TO_FIVE)
    saturday = await customer_writes(team, datetime(2026, 11, 28, 10, 0, tzinfo=ISTANBUL))
    # 17:00 is already off.
    evening = await customer_writes(team, datetime(2026, 11, 23, 17, 0, tzinfo=ISTANBUL))
    assert saturday.assignee_id == evening.assignee_id == team.deniz.user_id
    monday = [await customer_writes(team, datetime(2026, 11, 23, 10, n, tzinfo=ISTANBUL))
              for n in range(2)]
    assert {c.assignee_id for c in monday} == {team.bora.user_id, team.deniz.user_id}


async def test_a_days_exception_wins_over_the_plan(team):
    await route(team)
    await _plan(team, "bora", NINE_TO_FIVE)
    day_off = await team.sevgi.client.put(
        f"/api/v1/users/{team.bora.user_id}/shift-exceptions",
        json={"day": "2026-11-24", "note": "İzinli"})
    assert day_off.status_code == 200, day_off.text
    extra = await team.sevgi.client.put(
        f"/api/v1/users/{team.bora.user_id}/shift-exceptions",
        json={"day": "2026-11-29", "windows": [["10:00", "14:00"]]})  # a Sunday
    assert extra.status_code == 200, extra.text
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "away")
    tuesday = await customer_writes(team, datetime(2026, 11, 24, 11, 0, tzinfo=ISTANBUL))
    sunday = await customer_writes(team, datetime(2026, 11, 29, 11, 0, tzinfo=ISTANBUL))
    assert (tuesday.assignee_id, sunday.assignee_id) == (None, team.bora.user_id)

    async with team.rt.db.tenant_session(team.tenant_id) as session:
        week = await routing.shift_week(session, team.system, date(2026, 11, 23))
    bora = week[team.bora.user_id]
    assert [d.windows for d in bora] == [
        [["09:00", "17:00"]], [], [["09:00", "17:00"]], [["09:00", "17:00"]],
        [["09:00", "17:00"]], [], [["10:00", "14:00"]]]
    assert bora[1].exception.note == "İzinli" and bora[0].exception is None
    assert team.deniz.user_id not in week  # no plan: always on shift


async def test_an_agent_whose_shift_begins_takes_the_queue(team):
    await route(team)
    await _plan(team, "bora", NINE_TO_FIVE)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await users.set_presence(session, acting(team, "deniz"), "away")
    early = await customer_writes(team, datetime(2026, 11, 23, 8, 30, tzinfo=ISTANBUL))
    assert early.assignee_id is None  # Bora's shift has not begun, Deniz is away

    async def offer(at: datetime) -> int:
        async with team.rt.db.system_session() as session:
            on = {user for tenant, user in await routing.online_agents_on_shift(session, now=at)
                  if tenant == team.tenant_id}
        async with team.rt.db.tenant_session(team.tenant_id) as session:
            return sum([await inbox.offer_waiting(session, team.tenant_id, user, now=at)
                        for user in on])

    assert await offer(datetime(2026, 11, 23, 8, 59, tzinfo=ISTANBUL)) == 0
    assert await offer(datetime(2026, 11, 23, 9, 0, tzinfo=ISTANBUL)) == 1
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        taken = await session.get_one(Conversation, early.id)
    assert taken.assignee_id == team.bora.user_id


async def test_shifts_follow_the_companys_zone_across_daylight_saving(team):
    async with team.rt.db.system_session() as session:
        await session.execute(update(Tenant).where(Tenant.id == team.tenant_id)
                              .values(timezone="Europe/Berlin"))
    await route(team)
    await _plan(team, "bora", NINE_TO_FIVE)
    await _plan(team, "deniz", {})  # never on shift
    # 09:30 in Berlin: 08:30 UTC in winter time (Friday), 07:30 UTC in summer time (Monday).
    before = await customer_writes(team, datetime(2026, 3, 27, 7, 30, tzinfo=ZoneInfo("UTC")))
    after = await customer_writes(team, datetime(2026, 3, 30, 7, 30, tzinfo=ZoneInfo("UTC")))
    assert before.assignee_id is None  # 08:30 CET: not yet
    assert after.assignee_id == team.bora.user_id  # 09:30 CEST
    friday = await customer_writes(team, datetime(2026, 3, 27, 9, 30, tzinfo=BERLIN))
    assert friday.assignee_id == team.bora.user_id


async def test_who_plans_and_who_reads(team):
    bora_id = team.bora.user_id
    assert (await team.bora.client.put(f"/api/v1/users/{bora_id}/shifts",
                                       json={"schedule": NINE_TO_FIVE})).status_code == 403
    await _plan(team, "bora", NINE_TO_FIVE)
    own = await team.bora.client.get(f"/api/v1/users/{bora_id}/shifts")
    assert own.json()["schedule"] == NINE_TO_FIVE
    assert (await team.deniz.client.get(f"/api/v1/users/{bora_id}/shifts")).status_code == 403
    bad = await team.sevgi.client.put(f"/api/v1/users/{bora_id}/shift-exceptions",
                                      json={"day": "2026-11-24", "windows": [["17:00", "09:00"]]})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "windows")
    cleared = await team.sevgi.client.delete(f"/api/v1/users/{bora_id}/shifts")
    assert cleared.status_code == 204
    assert (await team.bora.client.get(f"/api/v1/users/{bora_id}/shifts")).status_code == 404

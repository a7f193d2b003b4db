"""Report queries with known answers: two conversations on known times (Monday and Tuesday in
Istanbul) and one on the Sunday before; the tiles, the day series, the heatmap, the previous
period, filters by channel, agent and tag, the agents' table and their presence time, and who
may read what."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from invekto.core.errors import PermissionDenied, ValidationFailed
from invekto.reports import service as reports
from invekto.reports.service import Filters, Period, Query
from invekto.users import service as users
from tests.reports.support import MONDAY_TUESDAY, sql

ISTANBUL = ZoneInfo("Europe/Istanbul")


async def _overview(company, query: Query, person: str = "sevgi"):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        actor = await _actor(session, company, person)
        return await reports.overview(session, actor, query)


async def _agents(company, query: Query, person: str = "sevgi", **options):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        actor = await _actor(session, company, person)
        return await reports.agents(session, actor, query, **options)


async def _actor(session, company, person: str):
    from invekto.core.actor import Actor

    user = await users.get_user(session, company.system, getattr(company, person).user_id)
    return Actor(company.tenant_id, user.role, user_id=user.id)


async def test_the_tiles_the_days_and_the_previous_period(two_days):
    home = two_days
    found = await _overview(home, Query(MONDAY_TUESDAY))
    tiles = found.current
    assert (tiles.opened, tiles.closed, tiles.reopened) == (2, 2, 0)
    assert (tiles.messages_in, tiles.messages_out) == (4, 4)
    assert (tiles.first_response_average, tiles.first_response_median) == (180, 180)
    assert (tiles.reply_average, tiles.reply_median) == (135, 120)  # 120, 60, 240, 120
    assert (tiles.resolution_average, tiles.resolution_median) == (450, 450)
    assert tiles.assignment_wait_average == 90
    assert tiles.sla_met_rate is None and tiles.csat_average is None  # nothing to divide
    assert [(d.day.day, d.opened, d.closed, d.messages_in, d.messages_out)
            for d in found.days] == [(23, 1, 1, 2, 2), (24, 1, 1, 2, 2)]
    assert found.heatmap == {(1, 10): 2, (2, 10): 2}  # Monday and Tuesday, 10:00 local
    assert found.tags == [("implant", 1)]
    assert list(found.by_channel.values()) == [
        {"conversation_opened": 2, "message_in": 4, "message_out": 4,
         "conversation_closed": 2}]
    # Compared with Saturday and Sunday: the Sunday one, open, answered once.
    assert (found.previous.opened, found.previous.closed) == (1, 0)
    assert found.previous.first_response_average == 120
    assert found.refreshed_at is not None


async def test_filters_narrow_every_number(two_days):
    home = two_days
    deniz = await _overview(home, Query(MONDAY_TUESDAY, Filters(
        user_ids=(home.deniz.user_id,))))
    assert (deniz.current.closed, deniz.current.reply_average) == (1, 180)
    assert deniz.current.messages_in == 0  # a customer's message is nobody's
    tagged = await _overview(home, Query(MONDAY_TUESDAY, Filters(tag="implant")))
    assert (tagged.current.opened, tagged.current.messages_in) == (1, 2)
    assert (tagged.current.reply_average, tagged.current.reply_median) == (180, 180)
    other_channel = await _overview(home, Query(MONDAY_TUESDAY, Filters(
        channel_ids=(home.group_id,))))  # no channel has that id
    assert (other_channel.current.opened, other_channel.current.messages_out) == (0, 0)
    # A day in another time zone's sense: Tuesday alone, local.
    tuesday = await _overview(home, Query(Period(date(2026, 11, 24), date(2026, 11, 24))))
    assert (tuesday.current.opened, tuesday.current.first_response_average) == (1, 240)


async def test_the_agents_table_and_presence_time(two_days):
    home = two_days
    bora = home.bora.user_id
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await users.touch_presence(session, home.tenant_id, bora)
    # Online Monday 09:00–12:00, away until 12:30; online again Tuesday 23:00 until 01:00:
    # only the hour before midnight is in the period.
    await sql(home, "DELETE FROM presence_periods WHERE user_id = :u", u=bora)
    for presence, start, end in [("online", (23, 9), (23, 12)), ("away", (23, 12), (23, 12, 30)),
                                 ("online", (24, 23), (25, 1))]:
        await sql(home, "INSERT INTO presence_periods (id, tenant_id, user_id, presence, "
                        "started_at, ended_at) VALUES (gen_random_uuid(), :t, :u, :p, :s, :e)",
                  t=home.tenant_id, u=bora, p=presence,
                  s=datetime(2026, 11, *start, tzinfo=ISTANBUL),
                  e=datetime(2026, 11, *end, tzinfo=ISTANBUL))
    rows = {row.name: row for row in await _agents(home, Query(MONDAY_TUESDAY))}
    assert (rows["Bora"].messages, rows["Bora"].replies, rows["Bora"].conversations) == (2, 2, 1)
    assert (rows["Bora"].first_response_average, rows["Bora"].reply_median) == (120, 90)
    assert (rows["Bora"].closed, rows["Bora"].resolution_average) == (1, 300)
    assert (rows["Bora"].online_seconds, rows["Bora"].away_seconds) == (4 * 3600, 1800)
    assert (rows["Deniz"].messages, rows["Deniz"].first_response_average) == (2, 240)
    assert rows["Sevgi"].messages == 0  # active, with nothing in the range: still listed

    # An agent reads their own page only, and never the company's.
    own = await _agents(home, Query(MONDAY_TUESDAY), person="bora", own=True)
    assert [row.name for row in own] == ["Bora"]
    with pytest.raises(PermissionDenied):
        await _agents(home, Query(MONDAY_TUESDAY), person="bora")
    with pytest.raises(PermissionDenied):
        await _overview(home, Query(MONDAY_TUESDAY), person="bora")


async def test_the_other_company_sees_none_of_it(two_days, world):
    found = await _overview(world.charlie, Query(MONDAY_TUESDAY), person="ayla")
    assert (found.current.opened, found.current.messages_in) == (0, 0)


def test_a_period_must_be_in_order_and_at_most_a_year():
    with pytest.raises(ValidationFailed) as backwards:
        Period(date(2026, 11, 24), date(2026, 11, 23))
    assert backwards.value.field == "end"
    with pytest.raises(ValidationFailed):
        Period(date(2025, 1, 1), date(2026, 1, 2))
    assert Period(date(2026, 11, 23), date(2026, 11, 29)).previous() == Period(
        date(2026, 11, 16), date(2026, 11, 22))

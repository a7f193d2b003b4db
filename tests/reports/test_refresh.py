"""The reports' refresher on the real database: conversations made through the real services
(inbound, assign, reply, transfer, close, reopen) reach ``report_facts`` through the triggers'
dirty list; the hourly and daily sums (of all conversations and per tag) equal what the source
tables say, also after a conversation changes, is re-tagged or deleted, and after the company
changes zone; companies stay apart; one refresher per company at a time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from invekto.reports import refresh as reports
from invekto.reports import timeline as t
from tests.reports.support import (
    T0,
    assert_rollups_equal_the_source_tables,
    post,
    set_times,
    sql,
    take_answer_close,
)


async def _facts(company, conversation_id) -> list[tuple]:
    return await sql(company, "SELECT kind, seconds, user_id, detail FROM report_facts "
                               "WHERE conversation_id = :c ORDER BY seq", c=conversation_id)


async def test_a_conversation_made_through_the_services_becomes_its_facts(world):
    home = world.home
    conversation = await take_answer_close(home, handle="ayse", agent="bora", transfer_to="deniz")
    # Its timeline, a minute a step: in 10:00, assigned 10:01, out 10:02, in 10:03,
    # transferred 10:04, out 10:05, closed 10:06.
    await set_times(home, conversation, T0, timedelta(minutes=1))
    assert await reports.refresh(home.rt.db, home.tenant_id) >= 1

    facts = await _facts(home, conversation)
    bora, deniz = home.bora.user_id, home.deniz.user_id
    by_kind = {}
    for kind, seconds, user_id, _detail in facts:
        by_kind.setdefault(kind, []).append((seconds, user_id))
    assert by_kind[t.ASSIGNMENT_WAIT] == [(60, bora)]
    assert by_kind[t.FIRST_RESPONSE] == [(120, bora)]
    assert by_kind[t.REPLY] == [(120, bora), (120, deniz)]
    assert by_kind[t.TRANSFER] == [(None, bora)] and by_kind[t.TRANSFER_IN] == [
        (None, deniz)]
    assert by_kind[t.CLOSED] == [(360, deniz)]
    assert len(by_kind[t.MESSAGE_IN]) == 2 and len(by_kind[t.MESSAGE_OUT]) == 2
    assert await sql(home, "SELECT count(*) FROM report_dirty") == [(0,)]

    # Reopened and closed again: the refresher sees it (the triggers) and adds the cycle.
    await post(home.sevgi, f"/conversations/{conversation}/reopen")
    await post(home.sevgi, f"/conversations/{conversation}/close")
    assert await sql(home, "SELECT count(*) FROM report_dirty") != [(0,)]
    await reports.refresh(home.rt.db, home.tenant_id)
    kinds = [kind for kind, *_ in await _facts(home, conversation)]
    assert kinds.count(t.CLOSED) == 2 and kinds.count(t.REOPENED) == 1


async def test_the_sums_equal_the_source_tables_through_changes_tags_and_deletes(world):
    home = world.home
    for tag in ("implant", "vip"):
        await post(home.sevgi, "/tags", {"name": tag})
    made = []
    for number, (agent, transfer_to, close) in enumerate([
            ("bora", None, True), ("deniz", None, False), ("bora", "deniz", True),
            ("deniz", "bora", True), ("bora", None, False)]):
        conversation = await take_answer_close(home, handle=f"c{number}", agent=agent,
                                           transfer_to=transfer_to, close=close)
        # Spread over two days and across local midnight (21:00 UTC is 00:00 in Istanbul).
        await set_times(home, conversation, T0 + timedelta(hours=7 * number),
                         timedelta(minutes=13))
        made.append(conversation)
    await post(home.sevgi, f"/conversations/{made[0]}/tags", {"add": ["implant"]})
    await post(home.sevgi, f"/conversations/{made[3]}/tags", {"add": ["implant", "vip"]})
    await reports.refresh(home.rt.db, home.tenant_id)
    await assert_rollups_equal_the_source_tables(home)
    assert len(await sql(home, "SELECT DISTINCT hour FROM report_hourly")) > 5
    assert len(await sql(home, "SELECT DISTINCT day FROM report_daily")) >= 2

    # A tag taken off: its sums lose that conversation's facts, the other tag keeps them.
    await post(home.sevgi, f"/conversations/{made[3]}/tags", {"remove": ["implant"]})
    await reports.refresh(home.rt.db, home.tenant_id)
    await assert_rollups_equal_the_source_tables(home)

    # A new message in an old conversation, then the customer deleted with their history.
    await home.inbound("Bir sorum daha var", handle="c1")
    await reports.refresh(home.rt.db, home.tenant_id)
    await assert_rollups_equal_the_source_tables(home)
    [(contact_id,)] = await sql(home, "SELECT contact_id FROM conversations WHERE id = :c",
                                 c=made[2])
    response = await home.sevgi.client.delete(f"/api/v1/contacts/{contact_id}")
    assert response.status_code == 204, response.text
    await reports.refresh(home.rt.db, home.tenant_id)
    assert await _facts(home, made[2]) == []
    await assert_rollups_equal_the_source_tables(home)

    # The other company sees none of it, and has its own nothing to do.
    assert await sql(world.charlie, "SELECT count(*) FROM report_facts") == [(0,)]
    assert await sql(world.charlie, "SELECT count(*) FROM report_hourly") == [(0,)]


async def test_one_refresher_per_company_at_a_time(world):
    home = world.home
    await home.inbound("Merhaba", handle="solo")
    assert home.tenant_id in await reports.tenants_to_refresh(home.rt.db)
    async with home.rt.db.tenant_session(home.tenant_id) as first:
        assert await reports.refresh_batch(first, home.tenant_id) >= 1
        async with home.rt.db.tenant_session(home.tenant_id) as second:
            # The first still holds the company: the second does not wait, and does nothing.
            assert await reports.refresh_batch(second, home.tenant_id, wait=False) is None
        async with world.charlie.rt.db.tenant_session(world.charlie.tenant_id) as other:
            assert await reports.refresh_batch(other, world.charlie.tenant_id,
                                               wait=False) == 0
    assert home.tenant_id not in await reports.tenants_to_refresh(home.rt.db)


async def test_the_minute_job_derives_every_company_with_changes(world):
    from invekto.reports import tasks

    companies = (world.home, world.charlie)
    for company in companies:
        await company.inbound("Merhaba", handle="dakika")
    waiting = await reports.tenants_to_refresh(world.home.rt.db)
    assert {c.tenant_id for c in companies} <= set(waiting)
    assert await tasks.refresh(timestamp=0) >= 2
    waiting = await reports.tenants_to_refresh(world.home.rt.db)
    for company in companies:
        assert company.tenant_id not in waiting
        assert await sql(company, "SELECT count(*) FROM report_facts "
                                  "WHERE kind = 'message_in'") == [(1,)]


async def test_a_new_zone_rebuilds_the_daily_sums_in_it(world):
    home = world.home
    # 22:30 UTC: Tuesday 01:30 in Istanbul, still Monday 14:30 in Los Angeles.
    conversation = await take_answer_close(home, handle="gece", agent="bora")
    await set_times(home, conversation, T0 + timedelta(hours=15, minutes=30),
                    timedelta(minutes=1))
    await reports.refresh(home.rt.db, home.tenant_id)
    days = f"SELECT DISTINCT day FROM report_daily WHERE kind = '{t.OPENED}'"
    assert await sql(home, days) == [((T0 + timedelta(days=1)).date(),)]

    async with home.rt.db.system_session() as session:
        await session.execute(text("UPDATE tenants SET timezone = 'America/Los_Angeles' "
                                   "WHERE id = :id"), {"id": home.tenant_id})
    # Until rebuilt, the daily sums are in the old zone: a batch leaves them alone.
    await home.inbound("Bir şey daha", handle="gece")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await reports.refresh_batch(session, home.tenant_id) == 1
    assert await sql(home, "SELECT daily_zone FROM report_refreshes") == [("Europe/Istanbul",)]
    # Nothing left to derive, yet the minute job has the company to rebuild.
    assert home.tenant_id in await reports.tenants_to_refresh(home.rt.db)
    await reports.refresh(home.rt.db, home.tenant_id)
    assert home.tenant_id not in await reports.tenants_to_refresh(home.rt.db)
    assert await sql(home, "SELECT daily_zone FROM report_refreshes") == [
        ("America/Los_Angeles",)]
    assert (T0.date(),) in await sql(home, days)
    assert await sql(home, """
        SELECT day, sum(count)::int FROM report_daily WHERE kind = 'message_in' AND tag = ''
        GROUP BY day ORDER BY day""") == await sql(home, """
        SELECT (created_at AT TIME ZONE 'America/Los_Angeles')::date, count(*)::int
        FROM messages WHERE direction = 'inbound' GROUP BY 1 ORDER BY 1""")

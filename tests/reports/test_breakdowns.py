"""The reports by topic, with known answers on the two known days (``support.add_two_known_days``)
plus service-level targets and survey answers on them: by channel, by tag, SLA / CSAT / bots day
by day, campaigns; the page and the export show the same numbers; agents may not see them."""

from __future__ import annotations

import io
from datetime import date, timedelta

import openpyxl

from tests.reports.support import MONDAY_TUESDAY, T0, sql

PERIOD = {"start": str(MONDAY_TUESDAY.start), "end": str(MONDAY_TUESDAY.end)}


async def _with_targets_and_surveys(home):
    """Monday's first answer (after 2 minutes) within a 5-minute target, Tuesday's (after 4)
    past a 1-minute one; Monday's customer gives 5, Tuesday's 3."""
    monday, tuesday = (conversation for (conversation,) in await sql(home, """
        SELECT id FROM conversations WHERE opened_at IN (:monday, :tuesday)
        ORDER BY opened_at""", monday=T0, tuesday=T0 + timedelta(days=1)))
    for conversation, due in ((monday, T0 + timedelta(minutes=5)),
                              (tuesday, T0 + timedelta(days=1, minutes=1))):
        await sql(home, "UPDATE conversations SET first_response_due_at = :due WHERE id = :c",
                  c=conversation, due=due)
    for conversation, day, score in ((monday, 0, 5), (tuesday, 1, 3)):
        asked = T0 + timedelta(days=day, hours=1)
        await sql(home, """
            INSERT INTO csat_responses (id, tenant_id, conversation_id, contact_id, channel_id,
                                        agent_id, closed_at, due_at, asked_at, answered_at, score)
            SELECT gen_random_uuid(), tenant_id, id, contact_id, channel_id, assignee_id,
                   closed_at, :asked, :asked, :answered, :score
            FROM conversations WHERE id = :c""",
                  c=conversation, asked=asked, answered=asked + timedelta(minutes=3),
                  score=score)


async def _breakdown(person, topic: str, **params):
    response = await person.client.get(f"/api/v1/reports/breakdowns/{topic}",
                                       params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_by_channel_and_by_tag(two_days):
    home = two_days
    found = await _breakdown(home.sevgi, "channels")
    [web] = found["rows"]
    assert web["name"] == "Web"
    values = web["values"]
    assert (values["opened"], values["closed"], values["messages_in"],
            values["messages_out"]) == (2, 2, 4, 4)
    assert (values["first_response_average"], values["resolution_average"]) == (180, 450)
    assert found["total"]["values"] == values  # one channel: its row is the total

    tags = await _breakdown(home.sevgi, "tags")
    [implant] = tags["rows"]
    assert implant["name"] == "implant"
    # Tuesday's conversation: 2 in, 2 out, answered after 240 s, resolved after 600 s.
    assert (implant["values"]["opened"], implant["values"]["messages_in"],
            implant["values"]["first_response_average"],
            implant["values"]["resolution_average"]) == (1, 2, 240, 600)


async def test_sla_and_csat_day_by_day(two_days):
    home = two_days
    await _with_targets_and_surveys(home)
    sla = await _breakdown(home.sevgi, "sla")
    by_day = {row["name"]: row["values"] for row in sla["rows"]}
    assert list(by_day) == ["2026-11-23", "2026-11-24"]
    assert (by_day["2026-11-23"]["sla_first_response_met"],
            by_day["2026-11-23"]["sla_first_response_breached"]) == (1, 0)
    assert (by_day["2026-11-24"]["sla_first_response_met"],
            by_day["2026-11-24"]["sla_first_response_breached"]) == (0, 1)
    assert sla["total"]["values"]["sla_met_rate"] == 0.5

    csat = await _breakdown(home.sevgi, "csat")
    assert csat["total"]["values"] == {"csat_asked": 2, "csat_answers": 2,
                                       "csat_response_rate": 1.0, "csat_average": 4.0}
    assert csat["distribution"] == [[3, 1], [5, 1]]
    assert [row["values"]["csat_average"] for row in csat["rows"]] == [5.0, 3.0]

    bots = await _breakdown(home.sevgi, "bots")
    assert bots["total"]["values"]["bot_handled"] == 0
    assert bots["total"]["values"]["bot_containment_rate"] is None


async def test_campaigns_started_in_the_period(two_days):
    home = two_days
    found = await _breakdown(home.sevgi, "campaigns")
    assert found["rows"] == [] and found["total"] is None
    # A campaign started on Monday: its four customers read, replied, got it, or not.
    [(campaign,)] = await sql(home, """
        INSERT INTO campaigns (id, tenant_id, name, channel_id, status, reply_tag, started_at)
        VALUES (gen_random_uuid(), :tenant, 'Kasım indirimi', :channel, 'completed',
                'kampanya', :started) RETURNING id""",
                              tenant=home.tenant_id, channel=home.channel_id,
                              started=T0 + timedelta(hours=2))
    await sql(home, """
        INSERT INTO campaign_recipients (tenant_id, campaign_id, contact_id, state)
        SELECT :tenant, :campaign, id,
               (ARRAY['read', 'replied', 'delivered', 'failed'])[row_number() OVER (ORDER BY id)]
        FROM contacts""", tenant=home.tenant_id, campaign=campaign)
    found = await _breakdown(home.sevgi, "campaigns")
    [row] = found["rows"]
    assert row["name"] == "Kasım indirimi"
    assert row["values"] == {
        "recipients": 3, "sent": 3, "delivered": 3, "read": 2, "replied": 1, "failed": 0,
        "delivered_rate": 1.0, "read_rate": 2 / 3, "replied_rate": 1 / 3}
    # Outside the period, it is not there.
    later = await _breakdown(home.sevgi, "campaigns", start="2026-11-25", end="2026-11-26")
    assert later["rows"] == []


async def test_the_page_and_the_export_show_the_same_numbers(two_days):
    home = two_days
    await _with_targets_and_surveys(home)
    page = await home.sevgi.client.get("/reports/csat", params=PERIOD)
    assert page.status_code == 200, page.text
    assert 'id="breakdown-table"' in page.text and 'data-tab="csat"' in page.text
    export = await home.sevgi.client.get("/api/v1/reports/breakdowns/csat/export",
                                         params={**PERIOD, "format": "xlsx"})
    assert export.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(export.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[-1][1:] == (2, 2, 100.0, 4.0)  # the total: asked, answered, rate (%), score
    assert [row[0].date() if hasattr(row[0], "date") else row[0] for row in rows[1:3]] == [
        date(2026, 11, 23), date(2026, 11, 24)]
    # The page's cells carry the export's numbers.
    for value in ('data-field="csat_response_rate" data-value="100.0"',
                  'data-field="csat_average" data-value="4.0"'):
        assert value in page.text
    scores = list(book.worksheets[1].iter_rows(values_only=True))
    assert scores[1:] == [(3, 1, 50.0), (5, 1, 50.0)]


async def test_agents_may_not_and_unknown_topics_are_refused(two_days):
    home = two_days
    response = await home.bora.client.get("/api/v1/reports/breakdowns/channels",
                                          params=PERIOD)
    assert response.status_code == 403
    response = await home.sevgi.client.get("/api/v1/reports/breakdowns/weather")
    assert response.status_code == 422
    response = await home.sevgi.client.get("/reports/weather")
    assert response.status_code == 404


async def test_conversions_by_referral_follow_the_tags_that_mark_them(two_days):
    home = two_days
    monday, tuesday = (conversation for (conversation,) in await sql(home, """
        SELECT id FROM conversations WHERE opened_at IN (:monday, :tuesday)
        ORDER BY opened_at""", monday=T0, tuesday=T0 + timedelta(days=1)))
    await sql(home, """UPDATE conversations SET referral = '{"source": "ad", "source_id": "120210"}'
                       WHERE id IN (:monday, :tuesday)""", monday=monday, tuesday=tuesday)
    response = await home.sevgi.client.post("/api/v1/tags", json={
        "name": "satış", "marks_conversion": True})
    assert response.status_code == 201 and response.json()["marks_conversion"] is True
    response = await home.deniz.client.post(f"/api/v1/conversations/{tuesday}/tags",
                                            json={"add": ["satış", "implant"]})
    assert response.status_code == 200, response.text

    response = await home.sevgi.client.get("/api/v1/reports/overview", params=PERIOD)
    assert response.json()["referrals"] == [
        {"name": "120210", "conversations": 2, "conversions": 1}]
    # A tag that stops marking conversions stops counting.
    [tag] = [t for t in (await home.sevgi.client.get("/api/v1/tags")).json()
             if t["name"] == "satış"]
    response = await home.sevgi.client.patch(f"/api/v1/tags/{tag['id']}",
                                             json={"marks_conversion": False})
    assert response.status_code == 200, response.text
    response = await home.sevgi.client.get("/api/v1/reports/overview", params=PERIOD)
    assert response.json()["referrals"][0]["conversions"] == 0

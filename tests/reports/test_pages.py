"""The reports pages on the two known days: the dashboard's tiles, heatmap and export links, the
live panel, the agents' table and its sorting, an agent's own page, and who may open what."""

from __future__ import annotations

import re

PERIOD = {"start": "2026-11-23", "end": "2026-11-24"}


def kpi(page: str, key: str) -> str:
    found = re.search(rf'data-kpi="{key}" data-value="([^"]*)"', page)
    assert found, key
    return found.group(1)


async def test_the_dashboard(two_days):
    home = two_days
    response = await home.sevgi.client.get("/reports", params=PERIOD)
    assert response.status_code == 200, response.text
    page = response.text
    assert (kpi(page, "opened"), kpi(page, "closed"), kpi(page, "reply_median")) == (
        "2", "2", "120")
    assert kpi(page, "csat_average") == ""  # nothing to average
    assert re.search(r'data-kpi="opened" data-value="2">.*?data-previous="1"', page, re.S)
    assert 'data-weekday="1" data-hour="10" data-count="2"' in page
    assert 'data-weekday="3" data-hour="10" data-count="0"' in page
    assert ('href="/api/v1/reports/overview/export?start=2026-11-23&amp;end=2026-11-24'
            '&amp;format=xlsx"') in page
    assert 'class="shell-link active" href="/reports"' in page
    assert '<script src="/static/chartjs/chart.umd.min.js"></script>' in page
    days = re.findall(r'class="report-day" data-day="([0-9-]+)"', page)
    assert days == ["2026-11-23", "2026-11-24"]
    # A preset keeps the filters and changes the dates.
    tagged = await home.sevgi.client.get("/reports", params={**PERIOD, "tag": "implant"})
    assert kpi(tagged.text, "opened") == "1"
    assert re.search(r'data-preset="2" href="/reports\?start=[0-9-]+&amp;end=[0-9-]+'
                     r'&amp;tag=implant"', tagged.text)

    live = await home.sevgi.client.get("/reports/now")
    assert live.status_code == 200
    figures = dict(re.findall(r'data-now="(\w+)"><div class="h3 m-0">([^<]*)<', live.text))
    assert figures["open"] == "1"  # the Sunday conversation, still open
    assert figures["waiting"] == "0"


async def test_the_agents_table_sorts(two_days):
    home = two_days
    fastest_first = await home.sevgi.client.get("/reports/agents", params={
        **PERIOD, "sort": "first_response_average", "desc": "false"})
    assert fastest_first.status_code == 200, fastest_first.text
    names = re.findall(r'class="agent-row" data-user-id="[^"]+">\s*<td>(\w+)</td>',
                       fastest_first.text)
    assert names[:2] == ["Bora", "Deniz"]  # 120 s, 240 s; those with none come last
    slowest_first = await home.sevgi.client.get("/reports/agents", params={
        **PERIOD, "sort": "first_response_average"})
    names = re.findall(r'class="agent-row" data-user-id="[^"]+">\s*<td>(\w+)</td>',
                       slowest_first.text)
    assert names[:2] == ["Deniz", "Bora"]
    assert 'aria-sort="descending"' in slowest_first.text
    wrong = await home.sevgi.client.get("/reports/agents", params={"sort": "password"})
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "sort")


async def test_an_agent_has_their_own_page_only(two_days, world):
    home = two_days
    to_own = await home.bora.client.get("/reports", follow_redirects=False)
    assert (to_own.status_code, to_own.headers["location"]) == (303, "/reports/me")
    own = await home.bora.client.get("/reports/me", params=PERIOD)
    assert own.status_code == 200
    assert re.search(r'data-field="messages">\s*<div class="card-body"><div[^>]*>[^<]*</div>'
                     r'<div class="h2 m-0">2</div>', own.text)
    assert 'data-tab="agents"' not in own.text
    for path in ("/reports/agents", "/reports/now", "/reports/analysis"):
        refused = await home.bora.client.get(path)
        assert refused.status_code == 403, path
    other = await world.charlie.ayla.client.get("/reports", params=PERIOD)
    assert kpi(other.text, "opened") == "0"


async def test_a_bad_period_is_a_clear_error(two_days):
    home = two_days
    response = await home.sevgi.client.get("/reports", params={"start": "2026-11-24",
                                                               "end": "2026-11-01"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "end"

"""The reports' API on the two known days: the overview's JSON, filters as query parameters,
clear 422s for a bad period, who may read what, and the CSV and XLSX exports holding the same
numbers as the JSON."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

PERIOD = {"start": "2026-11-23", "end": "2026-11-24"}


async def _get(person, path: str, params=None, *, expect: int = 200):
    response = await person.client.get(f"/api/v1{path}", params=params or {})
    assert response.status_code == expect, response.text
    return response


async def test_the_overview_as_json(two_days):
    home = two_days
    found = (await _get(home.sevgi, "/reports/overview", PERIOD)).json()
    assert (found["start"], found["end"]) == ("2026-11-23", "2026-11-24")
    current = found["current"]
    assert (current["opened"], current["closed"], current["messages_in"]) == (2, 2, 4)
    assert (current["reply_average"], current["reply_median"]) == (135, 120)
    assert found["previous"]["opened"] == 1
    assert [d["opened"] for d in found["days"]] == [1, 1]
    assert found["heatmap"] == [{"weekday": 1, "hour": 10, "messages_in": 2},
                                {"weekday": 2, "hour": 10, "messages_in": 2}]
    assert found["channels"] == [{"channel_id": str(home.channel_id), "opened": 2, "closed": 2,
                                  "messages_in": 4, "messages_out": 4}]
    assert found["tags"] == [{"name": "implant", "conversations": 1}]
    # Without comparing, no previous period; filters as repeatable parameters.
    alone = (await _get(home.sevgi, "/reports/overview", {
        **PERIOD, "compare": "false", "user_id": [str(home.deniz.user_id)]})).json()
    assert alone["previous"] is None and alone["current"]["closed"] == 1
    tagged = (await _get(home.sevgi, "/reports/overview", {**PERIOD, "tag": "implant"})).json()
    assert tagged["current"]["opened"] == 1
    # No dates: the last seven days, today included, on the company's clock.
    recent = (await _get(home.sevgi, "/reports/overview")).json()
    today = datetime.now(ZoneInfo("Europe/Istanbul")).date()
    assert (recent["start"], recent["end"]) == (str(today - timedelta(days=6)), str(today))
    # Only the end: the seven days up to it.
    week = (await _get(home.sevgi, "/reports/overview", {"end": "2026-11-24"})).json()
    assert (week["start"], week["current"]["opened"]) == ("2026-11-18", 3)


async def test_a_bad_period_names_its_field(two_days):
    home = two_days
    backwards = (await _get(home.sevgi, "/reports/overview",
                            {"start": "2026-11-24", "end": "2026-11-23"}, expect=422)).json()
    assert backwards["error"]["field"] == "end"
    too_long = (await _get(home.sevgi, "/reports/agents",
                           {"start": "2024-01-01", "end": "2026-01-01"}, expect=422)).json()
    assert too_long["error"]["field"] == "start"
    await _get(home.sevgi, "/reports/overview", {"start": "23.11.2026"}, expect=422)
    bad_id = (await _get(home.sevgi, "/reports/overview", {"channel_id": "kanal"},
                         expect=422)).json()
    assert bad_id["error"]["field"] == "channel_id"
    # An empty value (a form's "all" option) is no filter.
    everything = (await _get(home.sevgi, "/reports/overview", {
        **PERIOD, "channel_id": "", "group_id": "", "user_id": "", "tag": ""})).json()
    assert everything["current"]["opened"] == 2


async def test_agents_see_their_own_numbers_only(two_days):
    home = two_days
    await _get(home.bora, "/reports/overview", PERIOD, expect=403)
    await _get(home.bora, "/reports/agents", PERIOD, expect=403)
    own = (await _get(home.bora, "/reports/me", PERIOD)).json()
    assert (own["name"], own["messages"], own["first_response_average"]) == ("Bora", 2, 120)
    table = (await _get(home.sevgi, "/reports/agents", PERIOD)).json()
    assert {row["name"]: row["replies"] for row in table if row["replies"]} == {
        "Bora": 2, "Deniz": 2}


async def test_the_exports_hold_the_screens_numbers(two_days):
    home = two_days
    found = (await _get(home.sevgi, "/reports/overview", PERIOD)).json()
    response = await _get(home.sevgi, "/reports/overview/export", {**PERIOD, "format": "xlsx"})
    assert response.headers["content-disposition"] == (
        'attachment; filename="report-2026-11-23-2026-11-24.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Özet", "Günler", "Kanallar", "Etiketler", "Yönlendirmeler"]
    summary = {row[0]: row[1:] for row in book["Özet"].iter_rows(min_row=2, values_only=True)}
    assert summary["Açılan konuşmalar"] == (2, 1)
    assert summary["Yanıt süresi (medyan) (saniye)"] == (120, None)  # averages are compared
    assert summary["Memnuniyet (ortalama puan)"] == (None, None)
    days = list(book["Günler"].iter_rows(min_row=2, values_only=True))
    assert [(row[0].date().isoformat(), row[1]) for row in days] == [
        (d["day"], d["opened"]) for d in found["days"]]

    response = await _get(home.sevgi, "/reports/agents/export", {**PERIOD, "format": "csv"})
    assert response.content.startswith("\ufeff".encode())  # Excel reads Turkish letters
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Temsilci", "Konuşmalar", "Gönderilen mesajlar"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["Bora"][1:4] == ["1", "2", "2"]

"""Conversation history export (admins): one conversation or a filtered set, as JSON, CSV and
an HTML transcript, with the messages, notes and events the database holds; audited; escaped;
bounded; other companies' conversations stay out."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from invekto.inbox import export
from tests.reports.support import T0, post, set_times, sql, take_answer_close


async def _one_with_a_note(home):
    conversation = await take_answer_close(home, handle="ayse", agent="bora",
                                           transfer_to="deniz")
    await set_times(home, conversation, T0, timedelta(minutes=1))
    await post(home.deniz, f"/conversations/{conversation}/notes",
               {"body": "Fiyat listesi gönderildi"})
    return conversation


async def test_one_conversation_as_json_holds_everything_in_order(world):
    home = world.home
    conversation = await _one_with_a_note(home)
    response = await home.ayla.client.get(f"/api/v1/conversations/{conversation}/export",
                                          params={"format": "json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert f'conversation-{conversation}.json' in response.headers["content-disposition"]
    document = response.json()
    assert document["format"] == "invekto.conversations/1"
    assert document["time_zone"] == "Europe/Istanbul"
    [exported] = document["conversations"]
    assert exported["id"] == str(conversation) and exported["status"] == "closed"
    assert exported["assignee"] == "Deniz"  # by name, not id
    texts = [(m["direction"], m["sender"]["kind"], m["text"]) for m in exported["messages"]]
    assert texts == [("inbound", "contact", "Merhaba, fiyat alabilir miyim?"),
                     ("outbound", "agent", "Tabii, hangisi?"),
                     ("inbound", "contact", "İmplant"),
                     ("outbound", "agent", "15.000 TL")]
    # Times are UTC and one minute apart, as set.
    assert exported["messages"][0]["at"].startswith(T0.isoformat()[:16])
    assert [n["text"] for n in exported["notes"]] == ["Fiyat listesi gönderildi"]
    kinds = [e["kind"] for e in exported["events"]]
    assert kinds == ["assigned", "transferred", "closed"]
    transferred = exported["events"][1]
    assert transferred["by"] == "Bora" and transferred["data"]["user_name"] == "Deniz"
    # The export is on the audit trail.
    [(data,)] = await sql(home, "SELECT data FROM audit_events "
                                "WHERE action = 'conversations.exported'")
    assert data["format"] == "json" and data["conversations"] == 1 and data["messages"] == 4


async def test_csv_has_a_row_per_message_on_the_company_clock(world):
    home = world.home
    conversation = await _one_with_a_note(home)
    response = await home.ayla.client.get(f"/api/v1/conversations/{conversation}/export",
                                          params={"format": "csv"})
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Konuşma", "Kanal"]  # the admin's language
    assert len(body) == 4
    assert [row[9] for row in body] == ["Merhaba, fiyat alabilir miyim?", "Tabii, hangisi?",
                                        "İmplant", "15.000 TL"]
    # 07:00 UTC is 10:00 in Istanbul.
    assert body[0][4].startswith("2026-11-23 10:00")


async def test_the_html_transcript_is_readable_and_escapes_what_customers_wrote(world):
    home = world.home
    first = await home.inbound('<script>alert("x")</script> <img src=x onerror=alert(1)>',
                               handle="kotu")
    response = await home.ayla.client.get(
        f"/api/v1/conversations/{first.conversation_id}/export", params={"format": "html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="tr">' in page
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<title>Konuşma geçmişi</title>" in page


async def test_a_filtered_set_and_its_bounds(world):
    home = world.home
    tagged = await _one_with_a_note(home)
    await post(home.sevgi, "/tags", {"name": "implant"})
    await post(home.sevgi, f"/conversations/{tagged}/tags", {"add": ["implant"]})
    other = await take_answer_close(home, handle="mehmet", agent="bora", close=False)
    client = home.ayla.client

    response = await client.get("/api/v1/conversations/export",
                                params={"format": "json", "tag": "implant"})
    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()["conversations"]] == [str(tagged)]

    response = await client.get("/api/v1/conversations/export",
                                params={"format": "json", "status": "open"})
    assert [c["id"] for c in response.json()["conversations"]] == [str(other)]

    # Opened on 23 November (the first, moved there) and not the second, opened today.
    response = await client.get("/api/v1/conversations/export", params={
        "format": "csv", "start": "2026-11-23", "end": "2026-11-23"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert {row[0] for row in rows} == {str(tagged)}

    response = await client.get("/api/v1/conversations/export", params={
        "format": "json", "start": "2026-11-24", "end": "2026-11-23"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "end"
    response = await client.get("/api/v1/conversations/export", params={"format": "pdf"})
    assert response.status_code == 422


async def test_more_than_the_limit_asks_to_narrow_the_filter(world, monkeypatch):
    home = world.home
    for handle in ("a1", "a2", "a3"):
        await home.inbound("Merhaba", handle=handle)
    monkeypatch.setattr(export, "MAX_CONVERSATIONS", 2)
    response = await home.ayla.client.get("/api/v1/conversations/export")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "start"


async def test_only_admins_export_and_only_their_company(world):
    home = world.home
    conversation = await _one_with_a_note(home)
    for person in (home.sevgi, home.bora):
        response = await person.client.get(f"/api/v1/conversations/{conversation}/export")
        assert response.status_code == 403, response.text
        response = await person.client.get("/api/v1/conversations/export")
        assert response.status_code == 403
    charlie = world.charlie.ayla.client
    response = await charlie.get(f"/api/v1/conversations/{conversation}/export")
    assert response.status_code == 404
    response = await charlie.get("/api/v1/conversations/export")
    assert response.status_code == 200 and response.json()["conversations"] == []


async def test_the_inbox_exports_the_list_as_filtered_for_admins(world):
    home = world.home
    closed = await _one_with_a_note(home)
    await take_answer_close(home, handle="mehmet", agent="bora", close=False)
    client = home.ayla.client

    page = await client.get("/inbox", params={"tab": "all"})
    assert 'data-export-format="csv"' in page.text
    htmx = {"hx-request": "true"}
    thread = await client.get(f"/inbox/c/{closed}", headers=htmx)
    assert f"/api/v1/conversations/{closed}/export?format=html" in thread.text

    response = await client.get("/inbox/export", params={
        "tab": "all", "status": "closed", "format": "csv"})
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert {row[0] for row in rows} == {str(closed)} and len(rows) == 4

    # A supervisor has no such menu, and no such download.
    supervisor = home.sevgi.client
    assert 'data-export-format' not in (await supervisor.get("/inbox")).text
    thread = await supervisor.get(f"/inbox/c/{closed}", headers=htmx)
    assert thread.status_code == 200 and "/export?format=" not in thread.text
    response = await supervisor.get("/inbox/export", params={"tab": "all", "format": "csv"})
    assert response.status_code == 403

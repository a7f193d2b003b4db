"""Sending through the company's mail server (a real SMTP stub on 127.0.0.1): the test e-mail,
the weekly summary at the company's weekday and local hour — once, with the dashboard's numbers
for last week against the week before — failures recorded and tried again, and "Send now"."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import select, text

from invekto.core import i18n
from invekto.core.actor import Actor
from invekto.mail import service as mail
from invekto.mail import summary, tasks
from invekto.mail.models import SummarySend
from invekto.reports import service as reports
from tests.mail.support import SMTP_USER, free_port, run_hour, save_server, save_summary

HX = {"hx-request": "true"}
# two_days' conversations are on Sunday 22, Monday 23 and Tuesday 24 November 2026: the week
# of Monday 23 November, and the Sunday in the week before.
WEEK = date(2026, 11, 23)
# Monday 30 November 2026, 08:00 in Istanbul (UTC+3): the default moment to send that week's.
SEND_AT = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
RECIPIENTS = ["mudur@example.com", "ekip@example.com"]
ISTANBUL = ZoneInfo("Europe/Istanbul")


async def sends(company) -> list[SummarySend]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(SummarySend).where(
            SummarySend.tenant_id == company.tenant_id))).all())


async def week_overview(company) -> reports.Overview:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await reports.overview(session, Actor.system(company.tenant_id),
                                      reports.Query(reports.Period(WEEK, WEEK + timedelta(6))))


# ---- the test e-mail -------------------------------------------------------------------------

async def test_the_test_email_arrives_from_the_sender_to_the_address_given(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    response = await home.ayla.client.post("/api/v1/settings/email/test",
                                           json={"to": "ayla@example.com"})
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    [received] = smtp_stub.received
    assert received.mail_from == "rapor@example.com"
    assert received.rcpt_tos == ["ayla@example.com"]
    assert received.login == SMTP_USER  # it logged in with the saved user and password
    [sender] = received.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Test Kliniği Raporları",
                                                       "rapor@example.com")
    assert [a.addr_spec for a in received.message["To"].addresses] == ["ayla@example.com"]
    assert "Test Kliniği" in received.text()


async def test_a_test_email_the_server_refuses_says_why(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port, password="wrong-password")
    response = await home.ayla.client.post("/api/v1/settings/email/test",
                                           json={"to": "ayla@example.com"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["ok"], answer["error_code"]) == (False, "auth")
    assert answer["message"] == mail.failure_message("auth", "tr")
    assert answer["detail"].startswith("535")  # the server's own words
    assert "wrong-password" not in response.text
    assert smtp_stub.received == []


async def test_the_settings_page_sends_a_test_email_and_shows_the_answer(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    response = await home.ayla.client.post("/settings/email/test", headers=HX,
                                           data={"to": "ayla@example.com"})
    assert response.status_code == 200, response.text
    assert 'data-ok="true"' in response.text
    assert [r.rcpt_tos for r in smtp_stub.received] == [["ayla@example.com"]]
    # Nothing listens on the port any more: the reason, readable, where the button is.
    smtp_stub.stop()
    response = await home.ayla.client.post("/settings/email/test", headers=HX,
                                           data={"to": "ayla@example.com"})
    assert response.status_code == 200, response.text
    assert 'data-ok="false"' in response.text and 'data-error-code="unreachable"' in response.text
    assert str(escape(mail.failure_message("unreachable", "tr"))) in response.text
    # A bad address is refused before anything is sent.
    response = await home.ayla.client.post("/settings/email/test", headers=HX,
                                           data={"to": "not an address"})
    assert response.status_code == 422
    assert 'data-ok="false"' in response.text


# ---- the weekly summary ------------------------------------------------------------------

async def test_the_summary_goes_at_the_local_hour_once_with_last_weeks_numbers(world, two_days,
                                                                               smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, RECIPIENTS)
    # Before Monday 08:00 in Istanbul: nothing; nor, on Friday, the week before's (its moment
    # was days ago, before the summary was turned on).
    assert await run_hour(home, SEND_AT - timedelta(minutes=1)) == []
    assert await run_hour(home, SEND_AT - timedelta(days=3)) == []
    assert smtp_stub.received == []

    [result] = await run_hour(home, SEND_AT)
    assert result.ok
    # Again, in the same hour and the hours after: sent already.
    assert await run_hour(home, SEND_AT) == []
    assert await run_hour(home, SEND_AT + timedelta(hours=5)) == []
    [received] = smtp_stub.received  # one message to the whole list
    assert sorted(received.rcpt_tos) == sorted(RECIPIENTS)
    assert [a.addr_spec for a in received.message["To"].addresses] == RECIPIENTS
    assert received.message["Subject"] == "Invekto weekly summary: 23–29 November 2026"

    # The numbers are the dashboard's for that week and the week before.
    overview = await week_overview(home)
    assert (overview.current.opened, overview.previous.opened) == (2, 1)
    assert (overview.current.messages_in, overview.previous.messages_in) == (4, 2)
    fmt = i18n.Formatter("en", "Europe/Istanbul")
    text = received.text()
    for label, key in (("Conversations opened", "opened"), ("Messages received", "messages_in"),
                       ("Messages sent", "messages_out"),
                       ("Resolution time (average)", "resolution_average")):
        now, before = getattr(overview.current, key), getattr(overview.previous, key)
        unit = "seconds" if key.endswith("average") else "count"
        assert (f"- {label}: {summary.shown(fmt, now, unit)} "
                f"(the week before: {summary.shown(fmt, before, unit)})") in text, text
    assert "- Conversations opened: 2 (the week before: 1)" in text
    # The agents who wrote, busiest first; the HTML has the same tiles.
    assert "Bora" in text and "Deniz" in text
    html = received.html()
    assert 'data-kpi="opened"' in html and "Bora" in html
    [row] = await sends(home)
    assert (row.week_start, row.status, row.attempts, row.sent_at) == (WEEK, "sent", 1,
                                                                      SEND_AT)


async def test_the_summary_follows_the_chosen_day_hour_and_language(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"], weekday=3, hour=17, language="tr")
    wednesday_17 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 17:00 in Istanbul
    assert await run_hour(home, SEND_AT) == []  # Monday: not yet
    assert await run_hour(home, wednesday_17 - timedelta(hours=1)) == []
    [result] = await run_hour(home, wednesday_17)
    assert result.ok
    [received] = smtp_stub.received
    assert received.message["Subject"] == i18n.text(
        "tr", "Invekto weekly summary: %(week)s", week="23–29 Kasım 2026")
    assert i18n.text("tr", "Conversations opened") in received.text()


async def test_a_missed_moment_is_caught_up_within_a_day_only(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"])
    assert await run_hour(home, SEND_AT + mail.SEND_WITHIN) == []  # Tuesday 08:00: too late
    [result] = await run_hour(home, SEND_AT + mail.SEND_WITHIN - timedelta(hours=1))
    assert result.ok


async def test_concurrent_runs_send_once(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"])
    results = await asyncio.gather(run_hour(home, SEND_AT), run_hour(home, SEND_AT))
    assert sorted(len(found) for found in results) == [0, 1]
    assert len(smtp_stub.received) == 1


async def test_a_failed_summary_is_recorded_shown_and_tried_again(world, smtp_stub):
    home = world.home
    closed_port = free_port()
    await save_server(home, closed_port)
    await save_summary(home, ["mudur@example.com"])
    [result] = await run_hour(home, SEND_AT)
    assert (result.ok, result.error_code) == (False, "unreachable")
    [row] = await sends(home)
    assert (row.status, row.attempts, row.error_code) == ("failed", 1, "unreachable")
    assert str(closed_port) in row.error_detail

    html = (await home.ayla.client.get("/settings/email")).text
    assert 'id="email-last-send" class="mb-2" data-status="failed"' in html
    assert str(escape(mail.failure_message("unreachable", "tr"))) in html

    # The server is back (the right port): the next run sends it.
    await save_server(home, smtp_stub.port)
    [result] = await run_hour(home, SEND_AT + timedelta(hours=1))
    assert result.ok
    [row] = await sends(home)
    assert (row.status, row.attempts, row.error_code) == ("sent", 2, None)
    assert len(smtp_stub.received) == 1
    html = (await home.ayla.client.get("/settings/email")).text
    assert 'data-status="sent"' in html


async def test_a_summary_that_keeps_failing_is_given_up_on_for_the_week(world):
    home = world.home
    await save_server(home, free_port())
    await save_summary(home, ["mudur@example.com"])
    for hour in range(mail.MAX_SCHEDULED_ATTEMPTS):
        [result] = await run_hour(home, SEND_AT + timedelta(hours=hour))
        assert not result.ok
    assert await run_hour(home, SEND_AT + timedelta(hours=10)) == []
    [row] = await sends(home)
    assert (row.status, row.attempts) == ("failed", mail.MAX_SCHEDULED_ATTEMPTS)


async def test_a_summary_turned_off_or_without_a_server_is_not_sent(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"], enabled=False)
    assert await run_hour(home, SEND_AT) == []
    assert smtp_stub.received == []


async def test_send_now_sends_last_week_and_the_hour_does_not_send_it_again(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"])
    response = await home.ayla.client.post("/settings/email/summary/send", headers=HX)
    assert response.status_code == 200, response.text
    assert 'id="email-send-now-alert"' in response.text and 'data-ok="true"' in response.text
    assert 'data-status="sent"' in response.text
    [received] = smtp_stub.received
    assert received.rcpt_tos == ["mudur@example.com"]
    [row] = await sends(home)  # last week of the real clock
    assert row.status == "sent"
    assert row.week_start == mail.last_week_start(datetime.now(UTC), ISTANBUL)
    # The hourly job, at this week's moment and after, finds it sent.
    this_monday_8 = datetime.combine(row.week_start + timedelta(days=7), time(8),
                                     tzinfo=ISTANBUL)
    assert await run_hour(home, this_monday_8) == []
    assert await run_hour(home, this_monday_8 + timedelta(days=2)) == []
    assert len(smtp_stub.received) == 1


async def test_send_now_needs_a_server_and_recipients(world, smtp_stub):
    home = world.home
    response = await home.ayla.client.post("/api/v1/settings/email/summary/send")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "host"
    await save_server(home, smtp_stub.port)
    response = await home.ayla.client.post("/api/v1/settings/email/summary/send")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "recipients"
    # On the page: the reason beside the field.
    response = await home.ayla.client.post("/settings/email/summary/send", headers=HX)
    assert response.status_code == 422
    assert 'data-error-for="recipients"' in response.text
    assert smtp_stub.received == []


async def test_the_hourly_job_itself(world, smtp_stub):
    home = world.home
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"], weekday=7, hour=22)
    sunday_22 = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)  # 22:00 in Istanbul
    assert await tasks.send_weekly_summaries(timestamp=int(sunday_22.timestamp())) >= 1
    assert await tasks.send_weekly_summaries(timestamp=int(sunday_22.timestamp())) == 0
    [received] = smtp_stub.received
    assert received.message["Subject"] == "Invekto weekly summary: 23–29 November 2026"


async def test_the_summary_links_to_the_weeks_dashboard_and_escapes_what_people_typed(
        world, two_days, smtp_stub, settings, monkeypatch):
    home = world.home
    monkeypatch.setattr(settings, "public_url", "https://crm.example.com/")
    evil = "<b>Klinik</b> & Co"
    async with home.rt.db.transaction() as session:
        await session.execute(text("UPDATE tenants SET name = :name WHERE id = :id"),
                              {"name": evil, "id": home.tenant_id})
    await save_server(home, smtp_stub.port)
    await save_summary(home, ["mudur@example.com"])
    [result] = await run_hour(home, SEND_AT)
    assert result.ok
    [received] = smtp_stub.received
    html = received.html()
    assert evil not in html and str(escape(evil)) in html
    assert ('href="https://crm.example.com/reports?start=2026-11-23&amp;end=2026-11-29"'
            in html)
    assert "https://crm.example.com/reports?start=2026-11-23&end=2026-11-29" in received.text()


async def test_the_hourly_job_is_registered():
    from invekto.core.jobs import job_app

    periodic = {task.task.name: task.cron for task in
                job_app.periodic_registry.periodic_tasks.values()}
    assert periodic["mail:send_weekly_summaries"] == "0 * * * *"


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_encryption_the_server_does_not_offer_is_a_tls_failure(world, smtp_stub,
                                                                      security):
    # The stub speaks plain SMTP only: no STARTTLS to offer, no TLS handshake to answer.
    await save_server(world.home, smtp_stub.port, security=security)
    response = await world.home.ayla.client.post("/api/v1/settings/email/test",
                                                 json={"to": "ayla@example.com"})
    answer = response.json()
    assert (answer["ok"], answer["error_code"]) == (False, "tls"), answer
    assert smtp_stub.received == []

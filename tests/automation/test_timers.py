"""Timers and schedules, run by the minute scan with the clock moved forward: no agent reply
and no customer reply for N minutes (once per silence, the rule's own message not starting it
again), and scheduled rules on the company's clock (once per due minute)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from invekto.automation import service as automation
from invekto.automation.models import AutomationRun
from invekto.inbox.models import Conversation
from tests.automation.conftest import later, make_rule, make_tags, runs, sent, tick

ISTANBUL = ZoneInfo("Europe/Istanbul")


async def _reply(home, conversation_id, body="Buyurun, nasıl yardımcı olabilirim?"):
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": body})
    assert response.status_code == 201, response.text


def _fired(found: list[AutomationRun]) -> list:
    return [r.conversation_id for r in found if r.conversation_id is not None]


async def test_no_agent_reply_fires_once_when_the_customer_has_waited_n_minutes(world):
    home = world.home
    rule = await make_rule(home, event="no_agent_reply", event_options={"minutes": 30},
                           actions=[{"type": "assign", "user_id": str(home.bora.user_id)}])
    waiting = await home.inbound("Merhaba, kimse yok mu?", handle="a")
    answered = await home.inbound("Merhaba", handle="b")
    await _reply(home, answered.conversation_id)
    assert await tick(home, later(minutes=29)) == 0
    assert await tick(home, later(minutes=31)) == 1
    assert await tick(home, later(minutes=32)) == 0  # the same wait: once
    assert _fired(await runs(home, rule["id"])) == [waiting.conversation_id]
    (run,) = await runs(home, rule["id"])
    assert (run.event, run.status) == ("no_agent_reply", "done")
    # Answered, then the customer writes again: a new wait, a new firing.
    await _reply(home, waiting.conversation_id)
    await home.inbound("Bir sorum daha var", handle="a")
    assert await tick(home, later(minutes=31)) == 1
    assert _fired(await runs(home, rule["id"])) == [waiting.conversation_id] * 2


async def test_a_timer_due_long_ago_is_let_go(world):
    home = world.home
    rule = await make_rule(home, event="no_agent_reply", event_options={"minutes": 30},
                           actions=[{"type": "add_note", "body": "bekliyor"}])
    await home.inbound("Merhaba")
    assert await tick(home, later(minutes=30 + 16)) == 0  # the workers were down too long
    assert await runs(home, rule["id"]) == []


async def test_no_customer_reply_fires_once_and_its_own_message_does_not_start_it_again(world):
    home = world.home
    rule = await make_rule(home, event="no_customer_reply", event_options={"minutes": 60},
                           actions=[{"type": "send_message", "body": "Hâlâ orada mısınız?"}])
    message = await home.inbound("Fiyat alabilir miyim?", handle="musteri")
    assert await tick(home, later(minutes=61)) == 0  # the customer wrote last
    await _reply(home, message.conversation_id, "Tabii, hangi hizmet için?")
    assert await tick(home, later(minutes=59)) == 0
    assert await tick(home, later(minutes=61)) == 1
    assert await sent(home, message.conversation_id) == [
        "Tabii, hangi hizmet için?", "Hâlâ orada mısınız?"]
    # The rule's message is the last one now: another hour of silence fires nothing more.
    assert await tick(home, later(minutes=62)) == 0
    assert await tick(home, later(minutes=121)) == 0
    assert len(await runs(home, rule["id"])) == 1
    # The customer answers and is answered: a new silence.
    await home.inbound("Diş beyazlatma", handle="musteri")
    await _reply(home, message.conversation_id, "Fiyatımız 3000 TL")
    assert await tick(home, later(minutes=61)) == 1
    assert len(await runs(home, rule["id"])) == 2


async def test_timers_skip_closed_conversations_and_ones_a_bot_holds(world):
    home = world.home
    rule = await make_rule(home, event="no_agent_reply", event_options={"minutes": 10},
                           actions=[{"type": "add_note", "body": "bekliyor"}])
    closed = await home.inbound("Merhaba", handle="a")
    await home.sevgi.client.post(f"/api/v1/conversations/{closed.conversation_id}/close")
    held = await home.inbound("Merhaba", handle="b")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Conversation).where(
            Conversation.id == held.conversation_id).values(held_by_bot=True))
    waiting = await home.inbound("Merhaba", handle="c")
    assert await tick(home, later(minutes=11)) == 1
    assert _fired(await runs(home, rule["id"])) == [waiting.conversation_id]


async def test_a_disabled_timer_rule_fires_nothing(world):
    home = world.home
    rule = await make_rule(home, event="no_agent_reply", event_options={"minutes": 10},
                           actions=[{"type": "add_note", "body": "bekliyor"}])
    await home.sevgi.client.put(f"/api/v1/automation/rules/{rule['id']}/enabled",
                                json={"enabled": False})
    await home.inbound("Merhaba", handle="a")
    assert await tick(home, later(minutes=11)) == 0
    assert await runs(home, rule["id"]) == []


async def test_a_scheduled_rule_runs_at_its_minute_on_the_companys_clock(world):
    home = world.home
    await make_tags(home, "bekliyor")
    rule = await make_rule(home, event="scheduled", event_options={"cron": "0 9 * * *"},
                           conditions={"all": [{"field": "conversation.tags", "op": "has_any",
                                                "value": ["bekliyor"]}]},
                           actions=[{"type": "send_message", "body": "Günaydın, size dönüş "
                                                                     "yapacağız."}])
    tagged = await home.inbound("Merhaba", handle="a")
    untagged = await home.inbound("Merhaba", handle="b")
    closed = await home.inbound("Merhaba", handle="c")
    for conversation_id in (tagged.conversation_id, closed.conversation_id):
        await home.sevgi.client.post(f"/api/v1/conversations/{conversation_id}/tags",
                                     json={"add": ["bekliyor"], "remove": []})
    await home.sevgi.client.post(f"/api/v1/conversations/{closed.conversation_id}/close")
    tomorrow = (datetime.now(ISTANBUL) + timedelta(days=1)).date()
    nine = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=ISTANBUL)
    assert await tick(home, nine - timedelta(minutes=1)) == 0
    assert await tick(home, nine + timedelta(seconds=20)) == 1
    assert await tick(home, nine + timedelta(seconds=50)) == 0  # the same minute: once
    assert await tick(home, nine + timedelta(minutes=5)) == 0  # caught up already
    assert await sent(home, tagged.conversation_id) == ["Günaydın, size dönüş yapacağız."]
    assert await sent(home, untagged.conversation_id) == []
    assert await sent(home, closed.conversation_id) == []
    found = await runs(home, rule["id"])
    assert _fired(found) == [tagged.conversation_id]
    (minute,) = [r for r in found if r.conversation_id is None]
    assert minute.occurrence == nine.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    assert minute.results[0]["detail"] == "2 conversations checked, 1 fired"
    # The next day again.
    assert await tick(home, nine + timedelta(days=1, seconds=5)) == 1
    assert len(_fired(await runs(home, rule["id"]))) == 2


async def test_a_late_scan_catches_up_a_due_minute_but_not_one_before_the_rule(world):
    home = world.home
    await home.inbound("Merhaba")
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    cron = f"{soon.astimezone(ISTANBUL).minute} {soon.astimezone(ISTANBUL).hour} * * *"
    rule = await make_rule(home, event="scheduled", event_options={"cron": cron},
                           actions=[{"type": "add_note", "body": "zamanı geldi"}])
    assert await tick(home, soon + timedelta(minutes=7)) == 1  # missed by 7 minutes
    assert await tick(home, soon + timedelta(days=1, minutes=11)) == 0  # missed by too much
    # A rule made after its minute passed waits for the next one.
    late = await make_rule(home, event="scheduled",
                           event_options={"cron": _cron_minutes_ago(2)},
                           actions=[{"type": "add_note", "body": "geç"}])
    assert await tick(home, datetime.now(UTC)) == 0
    assert await runs(home, late["id"]) == []
    assert len(_fired(await runs(home, rule["id"]))) == 1


def _cron_minutes_ago(minutes: int) -> str:
    moment = datetime.now(ISTANBUL) - timedelta(minutes=minutes)
    return f"{moment.minute} {moment.hour} * * *"


def test_the_latest_due_minute_follows_the_company_clock():
    monday_nine = datetime(2026, 3, 30, 9, 0, tzinfo=ISTANBUL)
    assert automation.latest_due("0 9 * * 1", ISTANBUL, monday_nine + timedelta(seconds=30)
                                 ) == monday_nine
    assert automation.latest_due("0 9 * * 1", ISTANBUL, monday_nine - timedelta(seconds=1)
                                 ) == monday_nine - timedelta(days=7)
    assert automation.latest_due("*/15 * * * *", ISTANBUL, monday_nine.astimezone(UTC)
                                 + timedelta(minutes=20)) == monday_nine + timedelta(minutes=15)

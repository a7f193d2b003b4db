"""Report metrics on hand-built timelines with known answers (docs/metrics.md): reply and
first-response times in elapsed and business time (Istanbul, and Berlin across its change to
summer time), reopened conversations, transfers, bots, SLA, CSAT, calls and attribution."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from invekto.reports import timeline as t
from invekto.reports.timeline import (
    BotRun,
    Survey,
    Timeline,
    TimelineChange,
    TimelineMessage,
    derive,
)
from invekto.routing.hours import elapsed_seconds, open_seconds_between

ISTANBUL, BERLIN = ZoneInfo("Europe/Istanbul"), ZoneInfo("Europe/Berlin")
AYSE, BORA = uuid.UUID(int=1), uuid.UUID(int=2)
WEEKDAYS_9_TO_18 = {str(d): [["09:00", "18:00"]] for d in range(5)}


def always_open(start: datetime, end: datetime) -> int:
    return elapsed_seconds(start, end)


def office(zone=ISTANBUL, holidays=frozenset()):
    return lambda start, end: open_seconds_between(WEEKDAYS_9_TO_18, holidays, zone, start,
                                                   end)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 23) -> datetime:
    """A moment on Monday 23 November 2026 (by default), Istanbul time."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=ISTANBUL)


def customer(moment: datetime) -> TimelineMessage:
    return TimelineMessage(moment, "contact")


def agent(moment: datetime, user: uuid.UUID = AYSE) -> TimelineMessage:
    return TimelineMessage(moment, "agent", user)


def assigned(moment: datetime, user: uuid.UUID | None = AYSE) -> TimelineChange:
    return TimelineChange(moment, "assigned", {"assignee_id": str(user) if user else None})


def of(facts, kind):
    return [f for f in facts if f.kind == kind]


def seconds(facts, kind):
    return [f.seconds for f in of(facts, kind)]


def test_a_plain_conversation_first_response_replies_assignment_and_resolution():
    facts = derive(Timeline(
        opened_at=at(10),
        messages=[customer(at(10)), agent(at(10, 2, 5)), customer(at(10, 5)),
                  customer(at(10, 5, 30)),  # a second message while waiting: one wait
                  agent(at(10, 6)), agent(at(10, 7))],  # nobody waited for this one
        changes=[assigned(at(10, 0, 30)), TimelineChange(at(10, 10), "closed")],
    ), always_open)
    assert seconds(facts, t.ASSIGNMENT_WAIT) == [30]
    assert seconds(facts, t.FIRST_RESPONSE) == [125]
    assert seconds(facts, t.REPLY) == [125, 60]
    assert [f.user_id for f in of(facts, t.REPLY)] == [AYSE, AYSE]
    assert seconds(facts, t.CLOSED) == [600]
    assert of(facts, t.CLOSED)[0].user_id == AYSE
    assert len(of(facts, t.MESSAGE_IN)) == 3
    assert [(f.detail, f.user_id) for f in of(facts, t.MESSAGE_OUT)] == [("agent", AYSE)] * 3
    assert facts[0].kind == t.OPENED
    assert facts == sorted(facts, key=lambda f: f.at)


def test_business_hours_leave_out_the_night_and_the_weekend():
    # Friday 17:50 the customer writes; the answer comes on Monday at 09:10.
    friday, monday = at(17, 50, day=27), at(9, 10, day=30)
    facts = derive(Timeline(opened_at=friday, messages=[customer(friday), agent(monday)],
                            changes=[TimelineChange(monday + timedelta(minutes=5), "closed")]),
                   office())
    [first] = of(facts, t.FIRST_RESPONSE)
    assert first.seconds == int((monday - friday).total_seconds())  # 63 h 20 min elapsed
    assert first.business_seconds == 20 * 60  # 10 minutes Friday, 10 Monday
    [closed] = of(facts, t.CLOSED)
    assert closed.business_seconds == 25 * 60
    # Monday a holiday: the wait runs on to Tuesday's hours, and none of Monday counts.
    tuesday = datetime(2026, 12, 1, 9, 10, tzinfo=ISTANBUL)
    facts = derive(Timeline(opened_at=friday, messages=[customer(friday), agent(tuesday)]),
                   office(holidays={date(2026, 11, 30)}))
    assert of(facts, t.FIRST_RESPONSE)[0].business_seconds == 20 * 60


def test_business_time_in_berlin_across_the_change_to_summer_time():
    # Open all day Sunday 29 March 2026, when Berlin's clocks jump from 02:00 to 03:00.
    clock = lambda s, e: open_seconds_between(  # noqa: E731
        {"6": [["00:00", "24:00"]]}, set(), BERLIN, s, e)
    asked = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    answered = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)  # one real hour later
    facts = derive(Timeline(opened_at=asked, messages=[customer(asked), agent(answered)]),
                   clock)
    [first] = of(facts, t.FIRST_RESPONSE)
    assert (first.seconds, first.business_seconds) == (3600, 3600)
    assert first.at.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_reopened_conversation_counts_each_close_from_its_own_start():
    facts = derive(Timeline(
        opened_at=at(9),
        messages=[customer(at(9)), agent(at(9, 1)), customer(at(11)), agent(at(11, 4))],
        changes=[assigned(at(9)), TimelineChange(at(9, 30), "closed"),
                 TimelineChange(at(11, 0, 10), "reopened"),
                 TimelineChange(at(11, 20), "closed"),
                 # Closing twice is one close; a snoozed one waking is not a reopening.
                 TimelineChange(at(11, 21), "closed"),
                 TimelineChange(at(12), "reopened", {"reason": "snooze_ended"})],
    ), always_open)
    assert seconds(facts, t.CLOSED) == [30 * 60, 20 * 60 - 10]
    assert len(of(facts, t.REOPENED)) == 1
    # Only the first answer is the first response; the second wait is a reply.
    assert seconds(facts, t.FIRST_RESPONSE) == [60]
    assert seconds(facts, t.REPLY) == [60, 240]


def test_a_wait_that_ends_in_a_close_is_not_a_reply():
    facts = derive(Timeline(
        opened_at=at(9), messages=[customer(at(9)), agent(at(9, 10))],
        changes=[TimelineChange(at(9, 5), "closed"), TimelineChange(at(9, 8), "reopened")],
    ), always_open)
    assert of(facts, t.FIRST_RESPONSE) == [] and of(facts, t.REPLY) == []


def test_transfers_and_who_a_close_belongs_to():
    facts = derive(Timeline(
        opened_at=at(9),
        messages=[customer(at(9)), agent(at(9, 2), AYSE), customer(at(9, 3)),
                  agent(at(9, 9), BORA)],
        changes=[assigned(at(9, 1)),
                 TimelineChange(at(9, 5), "transferred",
                                {"from_user_id": str(AYSE), "user_id": str(BORA)}),
                 TimelineChange(at(9, 10), "closed")],
    ), always_open)
    assert [(f.kind, f.user_id) for f in facts if f.kind.startswith("transfer")] == [
        (t.TRANSFER, AYSE), (t.TRANSFER_IN, BORA)]
    assert [(f.seconds, f.user_id) for f in of(facts, t.REPLY)] == [(120, AYSE), (360, BORA)]
    assert of(facts, t.CLOSED)[0].user_id == BORA
    assert seconds(facts, t.ASSIGNMENT_WAIT) == [60]  # the first person only


def test_an_unassigned_agent_who_answers_takes_it_and_an_away_message_is_no_reply():
    facts = derive(Timeline(
        opened_at=at(20),
        messages=[customer(at(20)), TimelineMessage(at(20, 0, 1), "system"),
                  agent(at(20, 45), BORA)],
    ), always_open)
    assert seconds(facts, t.FIRST_RESPONSE) == [45 * 60]
    assert [(f.seconds, f.user_id) for f in of(facts, t.ASSIGNMENT_WAIT)] == [(45 * 60, BORA)]
    assert [f.detail for f in of(facts, t.MESSAGE_OUT)] == ["system", "agent"]


def test_a_bot_that_hands_off_and_one_that_contains():
    # The flow talks from 10:00 to 10:01 and hands off; the customer wrote during it.
    facts = derive(Timeline(
        opened_at=at(10),
        messages=[customer(at(10)), TimelineMessage(at(10, 0, 1), "bot"),
                  customer(at(10, 0, 20)), agent(at(10, 3))],
        bot_runs=[BotRun(at(10), at(10, 1), handed_off=True)],
        changes=[assigned(at(10, 2)), TimelineChange(at(10, 5), "closed")],
    ), always_open)
    assert len(of(facts, t.BOT_HANDLED)) == 1 and len(of(facts, t.BOT_HANDOFF)) == 1
    assert of(facts, t.BOT_CONTAINED) == []
    assert seconds(facts, t.FIRST_RESPONSE) == [120]  # from the hand-off, not 10:00
    assert seconds(facts, t.ASSIGNMENT_WAIT) == [60]

    contained = derive(Timeline(
        opened_at=at(10),
        messages=[customer(at(10)), TimelineMessage(at(10, 0, 1), "bot"),
                  customer(at(10, 1)), TimelineMessage(at(10, 1, 1), "bot")],
        bot_runs=[BotRun(at(10), at(10, 2))],
        changes=[TimelineChange(at(10, 2), "closed")],
    ), always_open)
    assert [f.kind for f in contained if f.kind.startswith("bot_")] == [
        t.BOT_HANDLED, t.BOT_CONTAINED]
    assert of(contained, t.FIRST_RESPONSE) == []


def test_sla_met_and_breached():
    facts = derive(Timeline(
        opened_at=at(9), messages=[customer(at(9)), agent(at(9, 20))],
        changes=[TimelineChange(at(11), "closed")],
        first_response_due_at=at(9, 30), resolution_due_at=at(10),
    ), always_open)
    assert sorted((f.kind, f.detail) for f in facts if f.kind.startswith("sla")) == [
        (t.SLA_BREACHED, "resolution"), (t.SLA_MET, "first_response")]
    # A breach the SLA scan recorded counts once, at its moment.
    facts = derive(Timeline(
        opened_at=at(9), messages=[customer(at(9)), agent(at(9, 40))],
        first_response_due_at=at(9, 30), breaches=[("first_response", at(9, 30, 5))],
    ), always_open)
    assert [(f.kind, f.detail, f.at) for f in facts if f.kind.startswith("sla")] == [
        (t.SLA_BREACHED, "first_response", at(9, 30, 5))]


def test_csat_calls_tags_and_attribution():
    facts = derive(Timeline(
        opened_at=at(9),
        messages=[TimelineMessage(at(9), "contact", call={
                      "direction": "inbound", "outcome": "answered", "duration_seconds": 95}),
                  TimelineMessage(at(9, 30), "contact", call={
                      "direction": "inbound", "outcome": "no_answer", "duration_seconds": 0})],
        surveys=[Survey(at(12), at(12, 5), 4, AYSE), Survey(at(13))],
        tags=["randevu", "implant", "randevu"],
        referral={"source": "chat_link", "ref": "KIS24"},
    ), always_open)
    assert [(f.kind, f.seconds, f.detail) for f in facts if f.kind.startswith("call")] == [
        (t.CALL_ANSWERED, 95, "inbound"), (t.CALL_MISSED, None, "inbound")]
    assert of(facts, t.MESSAGE_IN) == [] and of(facts, t.FIRST_RESPONSE) == []
    assert [(f.value, f.user_id) for f in of(facts, t.CSAT_ANSWERED)] == [(4, AYSE)]
    assert len(of(facts, t.CSAT_ASKED)) == 2
    assert [f.detail for f in of(facts, t.TAGGED)] == ["implant", "randevu"]
    assert of(facts, t.OPENED)[0].detail == "KIS24"
    assert t.referral_code({"source": "ad", "source_id": "120210"}) == "120210"
    assert t.referral_code(None) == ""

"""Business hours as pure functions: windows, midnight, holidays, and two time zones (Istanbul,
which keeps UTC+3 all year, and Berlin across its daylight-saving changes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from invekto.core.errors import ValidationFailed
from invekto.routing.hours import checked_schedule, is_open, next_opening

ISTANBUL, BERLIN = ZoneInfo("Europe/Istanbul"), ZoneInfo("Europe/Berlin")
# Weekdays 09:00–12:30 and 13:30–18:00; Saturday 10:00–14:00; Sunday closed.
WEEK = {**{str(d): [["09:00", "12:30"], ["13:30", "18:00"]] for d in range(5)},
        "5": [["10:00", "14:00"]]}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "open_"), [
    (utc(2026, 11, 23, 5, 59), False),   # Monday 08:59 in Istanbul
    (utc(2026, 11, 23, 6, 0), True),     # 09:00: opening time is inside
    (utc(2026, 11, 23, 9, 29), True),    # 12:29
    (utc(2026, 11, 23, 9, 30), False),   # 12:30: the lunch break
    (utc(2026, 11, 23, 14, 59), True),   # 17:59
    (utc(2026, 11, 23, 15, 0), False),   # 18:00: closing time is outside
    (utc(2026, 11, 28, 8, 0), True),     # Saturday 11:00
    (utc(2026, 11, 29, 8, 0), False),    # Sunday
    (utc(2026, 11, 22, 21, 30), False),  # Sunday 21:30 UTC is Monday 00:30 in Istanbul
])
def test_open_hours_in_istanbul(moment, open_):
    assert is_open(WEEK, set(), ISTANBUL, moment) is open_


def test_a_holiday_is_closed_all_day_in_local_time():
    republic_day = {date(2026, 10, 29)}  # a Thursday
    assert not is_open(WEEK, republic_day, ISTANBUL, utc(2026, 10, 29, 8, 0))
    # 21:30 UTC on the 28th is already the 29th in Istanbul.
    all_day = {"2": [["00:00", "24:00"]], "3": [["00:00", "24:00"]]}
    assert not is_open(all_day, republic_day, ISTANBUL, utc(2026, 10, 28, 21, 30))
    assert is_open(all_day, republic_day, ISTANBUL, utc(2026, 10, 28, 20, 30))


def test_until_midnight():
    late = {"4": [["18:00", "24:00"]]}  # Friday evening
    assert is_open(late, set(), ISTANBUL, utc(2026, 11, 27, 20, 59, 59))  # 23:59:59
    assert not is_open(late, set(), ISTANBUL, utc(2026, 11, 27, 21, 0))  # Saturday 00:00


def test_berlin_keeps_wall_clock_hours_across_daylight_saving():
    # Summer time starts on 29 March 2026: 09:00 in Berlin is 08:00 UTC before, 07:00 after.
    assert is_open(WEEK, set(), BERLIN, utc(2026, 3, 27, 8, 0))       # Friday 09:00 CET
    assert not is_open(WEEK, set(), BERLIN, utc(2026, 3, 27, 7, 30))  # 08:30 CET
    assert is_open(WEEK, set(), BERLIN, utc(2026, 3, 30, 7, 0))       # Monday 09:00 CEST
    assert not is_open(WEEK, set(), BERLIN, utc(2026, 3, 30, 6, 30))  # 08:30 CEST
    # And back on 25 October: 18:00 CET is 17:00 UTC.
    assert is_open(WEEK, set(), BERLIN, utc(2026, 10, 26, 16, 59))
    assert not is_open(WEEK, set(), BERLIN, utc(2026, 10, 26, 17, 0))


def test_the_next_opening():
    friday_evening = utc(2026, 11, 27, 16, 0)  # 19:00 in Istanbul
    assert next_opening(WEEK, set(), ISTANBUL, friday_evening) == datetime(
        2026, 11, 28, 10, 0, tzinfo=ISTANBUL)  # Saturday 10:00
    assert next_opening(WEEK, {date(2026, 11, 28)}, ISTANBUL, friday_evening) == datetime(
        2026, 11, 30, 9, 0, tzinfo=ISTANBUL)  # Saturday a holiday: Monday
    during = utc(2026, 11, 23, 7, 0)
    assert next_opening(WEEK, set(), ISTANBUL, during) == during
    # Across Berlin's change to summer time: Monday 09:00 CEST is 07:00 UTC.
    monday = next_opening(WEEK, set(), BERLIN, utc(2026, 3, 28, 20, 0))
    assert monday == datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)
    assert monday.astimezone(UTC) == utc(2026, 3, 30, 7, 0)
    assert next_opening({}, set(), ISTANBUL, during) is None


@pytest.mark.parametrize("schedule", [
    {"7": [["09:00", "18:00"]]}, {"0": [["9:00", "18:00"]]}, {"0": [["18:00", "09:00"]]},
    {"0": [["09:00", "13:00"], ["12:00", "18:00"]]}, {"0": [["09:00"]]},
    {"0": [["25:00", "26:00"]]},
])
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(ValidationFailed):
        checked_schedule(schedule)


def test_a_good_schedule_is_kept_sorted_and_empty_days_dropped():
    assert checked_schedule({"0": [["13:30", "18:00"], ["09:00", "12:30"]], "6": []}) == {
        "0": [["09:00", "12:30"], ["13:30", "18:00"]]}


def test_open_minutes_skip_nights_breaks_weekends_and_holidays():
    from invekto.routing.hours import add_open_minutes

    monday_8 = datetime(2026, 11, 23, 8, 0, tzinfo=ISTANBUL)
    # Before opening: the clock starts at 09:00.
    assert add_open_minutes(WEEK, set(), ISTANBUL, monday_8, 30) == datetime(
        2026, 11, 23, 9, 30, tzinfo=ISTANBUL)
    # Across the lunch break: 12:00 + 60 min of open time = 12:30 then 13:30 + 30 = 14:00.
    assert add_open_minutes(WEEK, set(), ISTANBUL, datetime(2026, 11, 23, 12, 0,
                                                              tzinfo=ISTANBUL), 60) == datetime(
        2026, 11, 23, 14, 0, tzinfo=ISTANBUL)
    # Friday 17:00 + 4 hours: 1 hour Friday, 3 of Saturday's 4 (10:00-13:00).
    assert add_open_minutes(WEEK, set(), ISTANBUL, datetime(2026, 11, 27, 17, 0,
                                                              tzinfo=ISTANBUL), 240) == datetime(
        2026, 11, 28, 13, 0, tzinfo=ISTANBUL)
    # With Saturday a holiday: Friday's last hour, then Monday 09:00 + 3 hours.
    assert add_open_minutes(WEEK, {date(2026, 11, 28)}, ISTANBUL,
                            datetime(2026, 11, 27, 17, 0, tzinfo=ISTANBUL), 240) == datetime(
        2026, 11, 30, 12, 0, tzinfo=ISTANBUL)
    assert add_open_minutes({}, set(), ISTANBUL, monday_8, 10) is None


def test_open_minutes_across_berlins_change_to_summer_time():
    from invekto.routing.hours import add_open_minutes

    always = {str(d): [["00:00", "24:00"]] for d in range(7)}
    # Saturday 28 March 23:00 CET + 5 hours open all night: the clocks jump from 02:00 to
    # 03:00, so 5 elapsed hours end at 05:00 CEST (03:00 UTC), not 04:00.
    start = datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN)
    due = add_open_minutes(always, set(), BERLIN, start, 300)
    assert due.astimezone(UTC) == utc(2026, 3, 29, 3, 0)
    assert (due.hour, due.minute) == (5, 0)
    # A Sunday-only window 09:00–17:00 that day is 8 real hours (the change was at night).
    sunday = {"6": [["09:00", "17:00"]]}
    assert add_open_minutes(sunday, set(), BERLIN, start, 480) == datetime(
        2026, 3, 29, 17, 0, tzinfo=BERLIN)


def test_open_seconds_between_two_moments():
    from invekto.routing.hours import open_seconds_between

    def between(start, end, holidays=frozenset()):
        return open_seconds_between(WEEK, holidays, ISTANBUL, start, end)

    monday = datetime(2026, 11, 23, tzinfo=ISTANBUL)
    # Asked at 08:00, answered 09:10: only the ten open minutes count.
    assert between(monday.replace(hour=8), monday.replace(hour=9, minute=10)) == 600
    # 12:00 to 14:00 across the lunch break: 30 + 30 minutes.
    assert between(monday.replace(hour=12), monday.replace(hour=14)) == 3600
    # Friday 17:30 to Monday 09:05: half an hour Friday, Saturday's four hours, five minutes.
    friday = datetime(2026, 11, 27, 17, 30, tzinfo=ISTANBUL)
    next_monday = datetime(2026, 11, 30, 9, 5, tzinfo=ISTANBUL)
    assert between(friday, next_monday) == (30 + 240 + 5) * 60
    assert between(friday, next_monday, {date(2026, 11, 28)}) == (30 + 5) * 60
    # Seconds count, and an end before the start is no time at all.
    assert between(monday.replace(hour=10), monday.replace(hour=10, second=42)) == 42
    assert between(monday.replace(hour=11), monday.replace(hour=10)) == 0
    # Overnight on a closed Sunday: nothing.
    assert between(datetime(2026, 11, 29, 8, tzinfo=ISTANBUL),
                   datetime(2026, 11, 29, 20, tzinfo=ISTANBUL)) == 0


def test_open_seconds_agree_with_open_minutes_and_daylight_saving():
    from invekto.routing.hours import add_open_minutes, open_seconds_between

    start = datetime(2026, 11, 26, 16, 20, tzinfo=ISTANBUL)
    for minutes in (5, 100, 600, 3000):
        due = add_open_minutes(WEEK, set(), ISTANBUL, start, minutes)
        assert open_seconds_between(WEEK, set(), ISTANBUL, start, due) == minutes * 60
    # Berlin's night of the change to summer time is an hour short in real time.
    always = {str(d): [["00:00", "24:00"]] for d in range(7)}
    assert open_seconds_between(always, set(), BERLIN,
                                datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN),
                                datetime(2026, 3, 29, 5, 0, tzinfo=BERLIN)) == 5 * 3600

"""When a week's summary is due, and how its week is named: pure functions of the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from invekto.mail import service as mail
from invekto.mail.summary import week_label

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("week_start", "language", "label"), [
    (date(2026, 11, 16), "tr", "16–22 Kasım 2026"),
    (date(2026, 11, 16), "en", "16–22 November 2026"),
    (date(2026, 11, 30), "tr", "30 Kasım – 6 Aralık 2026"),
    (date(2026, 12, 28), "en", "28 December 2026 – 3 January 2027"),
])
def test_a_week_is_named_in_the_summarys_language(week_start, language, label):
    assert week_label(week_start, language) == label


def test_the_week_due_is_last_weeks_from_the_local_moment_for_a_day():
    # Monday 30 March 2026, 08:00 in Berlin: summer time (UTC+2) began the day before.
    moment = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert mail.due_week(moment - timedelta(seconds=1), BERLIN, 1, 8) is None
    assert mail.due_week(moment, BERLIN, 1, 8) == date(2026, 3, 23)
    assert mail.due_week(moment + timedelta(hours=23), BERLIN, 1, 8) == date(2026, 3, 23)
    assert mail.due_week(moment + timedelta(hours=24), BERLIN, 1, 8) is None
    # Sunday 23:00 is still in the week it ends: the summary of the week before it.
    sunday = datetime(2026, 4, 5, 21, 0, tzinfo=UTC)
    assert mail.due_week(sunday, BERLIN, 7, 23) == date(2026, 3, 23)
    assert mail.last_week_start(sunday, BERLIN) == date(2026, 3, 23)

"""Business hours as pure functions: a weekly schedule in the company's time zone, closed on
holidays. Kept free of the database so that time zones, daylight saving and midnight are
tested directly.

A schedule maps weekday (0 = Monday) to ``[["09:00", "18:00"], ...]``: open from the first
time, inclusive, to the second, exclusive; "24:00" ends at midnight. A day not listed is closed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from invekto.core.errors import ValidationFailed

Schedule = Mapping[str, Sequence[Sequence[str]]]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
MIDNIGHT_END = time.max


def _clock(value: str) -> time:
    return MIDNIGHT_END if value == "24:00" else time.fromisoformat(value)


def checked_schedule(schedule: Schedule, *, field: str = "schedule") -> dict[str, list[list[str]]]:
    """The schedule if every day is 0–6 with "HH:MM" windows that start before they end and do
    not overlap; ValidationFailed naming the first fault."""
    clean: dict[str, list[list[str]]] = {}
    for day, windows in schedule.items():
        if day not in {str(n) for n in range(7)}:
            raise ValidationFailed("days are numbered 0 (Monday) to 6 (Sunday)", field=field)
        spans = []
        for window in windows:
            if len(window) != 2 or not all(_CLOCK.match(str(t)) for t in window):
                raise ValidationFailed("opening hours are written as HH:MM, such as 09:00",
                                       field=field)
            start, end = (_clock(str(t)) for t in window)
            if start >= end:
                raise ValidationFailed("an opening time must come before its closing time",
                                       field=field)
            spans.append((start, end, [str(window[0]), str(window[1])]))
        spans.sort()
        for (_, end, _w), (start, _e, _v) in pairwise(spans):
            if start < end:
                raise ValidationFailed("opening hours of one day overlap", field=field)
        if spans:
            clean[day] = [w for _, _, w in spans]
    return clean


def is_open(schedule: Schedule, holidays: Collection[date], zone: ZoneInfo,
            moment: datetime, *,
            overrides: Mapping[date, Sequence[Sequence[str]]] | None = None) -> bool:
    """Whether the business (or an agent's shift) is open at ``moment`` (any time zone): the
    local weekday's windows, never on a holiday; a day in ``overrides`` has those windows
    instead (none: a day off)."""
    local = moment.astimezone(zone)
    if local.date() in holidays:
        return False
    windows = (overrides[local.date()] if overrides and local.date() in overrides
               else schedule.get(str(local.weekday()), ()))
    now = local.time().replace(tzinfo=None)
    return any(_clock(start) <= now and (end == "24:00" or now < _clock(end))
               for start, end in windows)


def next_opening(schedule: Schedule, holidays: Collection[date], zone: ZoneInfo,
                 moment: datetime, *, horizon_days: int = 400) -> datetime | None:
    """When the business next opens after ``moment`` (``moment`` itself when open); None when
    the schedule never opens. Local wall-clock times, so a window "09:00" is 09:00 on both
    sides of a daylight-saving change."""
    if is_open(schedule, holidays, zone, moment):
        return moment
    local = moment.astimezone(zone)
    for offset in range(horizon_days):
        day = local.date() + timedelta(days=offset)
        if day in holidays:
            continue
        for start, _end in sorted(schedule.get(str(day.weekday()), ())):
            opening = datetime.combine(day, _clock(start), tzinfo=zone)
            if opening > local:
                return opening
    return None


def _open_windows(schedule: Schedule, holidays: Collection[date], zone: ZoneInfo,
                  first_day: date, horizon_days: int) -> Iterator[tuple[datetime, datetime]]:
    """The schedule's open windows from ``first_day`` on, in order, as UTC instants: read on
    the local wall clock and measured in elapsed time, so a window across a daylight-saving
    change counts its real length."""
    for offset in range(horizon_days):
        day = first_day + timedelta(days=offset)
        if day in holidays:
            continue
        for opens, closes in sorted(schedule.get(str(day.weekday()), ())):
            window_start = datetime.combine(day, _clock(opens), tzinfo=zone).astimezone(UTC)
            window_end = (datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
                          if closes == "24:00" else
                          datetime.combine(day, _clock(closes), tzinfo=zone)).astimezone(UTC)
            yield window_start, window_end


def add_open_minutes(schedule: Schedule, holidays: Collection[date], zone: ZoneInfo,
                     start: datetime, minutes: int, *, horizon_days: int = 400
                     ) -> datetime | None:
    """The moment ``minutes`` of open time after ``start``: time outside the schedule (nights,
    weekends, holidays) does not count (an SLA "business-hours aware"). None when the schedule
    never opens within the horizon."""
    remaining = timedelta(minutes=minutes)
    moment = start.astimezone(UTC)
    for window_start, window_end in _open_windows(schedule, holidays, zone,
                                                  start.astimezone(zone).date(), horizon_days):
        begin = max(window_start, moment)
        if begin >= window_end:
            continue
        if begin + remaining <= window_end:
            return (begin + remaining).astimezone(zone)
        remaining -= window_end - begin
    return None


def elapsed_seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (never negative). In UTC: Python subtracts two
    times of the same zone on their wall clocks, which a daylight-saving change makes wrong."""
    return max(0, int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()))


def open_seconds_between(schedule: Schedule, holidays: Collection[date], zone: ZoneInfo,
                         start: datetime, end: datetime) -> int:
    """The whole seconds of open time from ``start`` to ``end`` (0 when ``end`` is not after
    ``start``): a reply time "in business hours", which a night or a holiday does not
    lengthen."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # as in ``elapsed_seconds``
    if end <= start:
        return 0
    days = (end.astimezone(zone).date() - start.astimezone(zone).date()).days + 1
    open_time = timedelta()
    for window_start, window_end in _open_windows(schedule, holidays, zone,
                                                  start.astimezone(zone).date(), days):
        overlap = min(window_end, end) - max(window_start, start)
        if overlap > timedelta():
            open_time += overlap
    return int(open_time.total_seconds())

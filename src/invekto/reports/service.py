"""Report queries over a range of the company's local days, with filters (channel, group,
agent, tag): counts, sums and averages from the daily sums (the hourly ones for the weekly
heatmap, and while the daily ones are rebuilt for a new zone), medians from the facts
(docs/metrics.md defines each number). Before reading, a report brings the facts up to date
when no refresher is busy with the company (``refresh.refresh_batch``): numbers to the second.
The medians, a sort of every duration in the period, run on a second connection while the
sums are read (``db.session.alongside``): two cores, about the time of the slower one.

Supervisors and admins see the whole company; an agent sees their own numbers only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import TEXT, Integer, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.contacts.models import Tag
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.db.session import alongside
from invekto.inbox.models import Conversation
from invekto.reports import refresh as refreshing
from invekto.reports import timeline as t
from invekto.reports.models import ALL_CONVERSATIONS as ALL
from invekto.reports.models import ReportDaily, ReportFact, ReportHourly, ReportRefresh
from invekto.routing.service import company_zone
from invekto.users.models import PresencePeriod, User

# A range longer than this is refused (a report of many years is a data export).
MAX_DAYS = 366
# Before a report reads, it derives at most this many batches of changed conversations itself;
# a larger backlog (right after an upgrade) is left to the job, and the page says so.
REFRESH_BATCHES = 3
REPORT_WORK_MEM = "32MB"


@dataclass(frozen=True)
class Period:
    """Local calendar days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed("the end date comes before the start date", field="end")
        if self.days > MAX_DAYS:
            raise ValidationFailed("a report covers at most %(days)s days", field="start",
                                   params={"days": MAX_DAYS})

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before (what "compared with" reads)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC instants of the first day's local midnight and the midnight after the last."""
        return (datetime.combine(self.start, time(), tzinfo=zone).astimezone(UTC),
                datetime.combine(self.end + timedelta(days=1), time(),
                                 tzinfo=zone).astimezone(UTC))


DEFAULT_DAYS = 7


def last_days(zone: ZoneInfo, days: int = DEFAULT_DAYS, *, now: datetime | None = None
              ) -> Period:
    """The ``days`` local days up to and including today (a report's default)."""
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    return Period(today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class Filters:
    channel_ids: tuple[uuid.UUID, ...] = ()
    group_ids: tuple[uuid.UUID, ...] = ()
    user_ids: tuple[uuid.UUID, ...] = ()
    tag: str | None = None


@dataclass(frozen=True)
class Query:
    period: Period
    filters: Filters = Filters()
    business_hours: bool = False  # durations in business time instead of elapsed


@dataclass(frozen=True)
class Sum:
    count: int = 0
    seconds: int = 0
    business_seconds: int = 0
    value: int = 0

    def __add__(self, other: Sum) -> Sum:
        return Sum(self.count + other.count, self.seconds + other.seconds,
                   self.business_seconds + other.business_seconds, self.value + other.value)

    def average(self, business: bool) -> float | None:
        total = self.business_seconds if business else self.seconds
        return total / self.count if self.count else None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---- reading -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Whose report: the company, in its zone; ``own_user`` set when an agent reads their own."""

    tenant_id: uuid.UUID
    zone: ZoneInfo
    own_user: uuid.UUID | None
    daily: bool = False  # the daily sums are in the company's zone


async def _sort_in_memory(session: AsyncSession) -> None:
    # A report sorts hundreds of thousands of durations for its medians: in memory, not in
    # temporary files (this transaction only).
    await session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


async def scope_for(session: AsyncSession, actor: Actor, *, own: bool = False) -> Scope:
    """The actor's reporting scope: the company's (supervisors, admins and their API keys),
    or with ``own`` the person's own numbers (anyone signed in)."""
    zone = await company_zone(session, actor.tenant_id)
    await _sort_in_memory(session)
    if own:
        if actor.user_id is None:
            raise ValidationFailed("only a person has their own numbers", field="user_id")
    else:
        actor.require(Permission.SEE_REPORTS)
    daily = await refreshing.usable_daily_zone(session, actor.tenant_id, zone.key)
    return Scope(actor.tenant_id, zone, actor.user_id if own else None, daily is not None)


async def bring_up_to_date(session: AsyncSession, tenant_id: uuid.UUID) -> datetime | None:
    """Derive the company's changed conversations (a few batches, without waiting on a busy
    refresher), committed in a transaction of their own so that every connection of the
    report sees them; when the facts were last brought up to date."""
    async with alongside(session) as deriving:
        for _ in range(REFRESH_BATCHES):
            done = await refreshing.refresh_batch(deriving, tenant_id, wait=False)
            if not done:
                break
    return await session.scalar(select(ReportRefresh.refreshed_at).where(
        ReportRefresh.tenant_id == tenant_id))


@asynccontextmanager
async def _medians_alongside(session: AsyncSession, scope: Scope, query: Query,
                             kinds: Iterable[str], *, by_user: bool = False
                             ) -> AsyncIterator[asyncio.Task]:
    """The medians, computed on another connection while the block reads the rest; the
    task's result once the block is done."""
    async with alongside(session) as other, asyncio.TaskGroup() as tasks:
        await _sort_in_memory(other)
        yield tasks.create_task(medians(other, scope, query, kinds, by_user=by_user))


def filter_conditions(columns, scope: Scope, filters: Filters) -> list:
    """The conditions ``filters`` put on a table of facts or sums (``columns``)."""
    conditions = []
    if filters.channel_ids:
        conditions.append(columns.channel_id.in_(filters.channel_ids))
    if filters.group_ids:
        conditions.append(columns.group_id.in_(filters.group_ids))
    users = (scope.own_user,) if scope.own_user else filters.user_ids
    if users:
        conditions.append(columns.user_id.in_(users))
    return conditions


def of_tagged(statement: Select, scope: Scope, tag: str | None) -> Select:
    """Only the facts of conversations carrying ``tag`` (when one is given): the tagged
    conversations first (the tags' GIN index), then their facts in the period."""
    if not tag:
        return statement
    return statement.where(ReportFact.conversation_id.in_(select(Conversation.id).where(
        Conversation.tenant_id == scope.tenant_id, Conversation.tags.contains([tag]))))


def _source(scope: Scope, query: Query, kinds: Iterable[str], *, hourly: bool,
            per_tag: bool = False):
    """The sums a report adds up, as (kind, detail, moment, n, seconds, business_seconds,
    value, channel_id, group_id, user_id, tag): the daily ones (``moment`` a local date) or
    with ``hourly`` the hourly ones (a UTC hour), of the tag filtered on or of every
    conversation; with ``per_tag``, those of each tag (a fact counts under each of its
    conversation's tags)."""
    start, end = query.period.bounds(scope.zone)
    if hourly or not scope.daily:
        table, moment, since, until = ReportHourly, ReportHourly.hour, start, end
    else:
        table, moment = ReportDaily, ReportDaily.day
        since, until = query.period.start, query.period.end + timedelta(days=1)
    return select(
        table.kind, table.detail, moment.label("moment"), table.count.label("n"),
        table.seconds_sum.label("seconds"),
        table.business_seconds_sum.label("business_seconds"), table.value_sum.label("value"),
        table.channel_id, table.group_id, table.user_id, table.tag,
    ).where(table.tenant_id == scope.tenant_id,
            table.tag == query.filters.tag if query.filters.tag
            else (table.tag != ALL if per_tag else table.tag == ALL),
            table.kind.in_(list(kinds)), moment >= since, moment < until,
            *filter_conditions(table, scope, query.filters)).subquery()


def _sum_columns(source) -> list:
    return [func.sum(source.c.n), func.sum(source.c.seconds),
            func.sum(source.c.business_seconds), func.sum(source.c.value)]


def _as_sum(row, first: int) -> Sum:
    return Sum(*(int(row[i] or 0) for i in range(first, first + 4)))


async def sums(session: AsyncSession, scope: Scope, query: Query, kinds: Iterable[str], *,
               by: tuple[str, ...] = ()) -> dict[tuple, Sum]:
    """Sums per (kind, detail, *by), ``by`` naming keys among "day" (local date), "weekday"
    (ISO), "hour" (local), "channel", "group", "user" and "tag"."""
    hourly = bool({"weekday", "hour"} & set(by))
    source = _source(scope, query, kinds, hourly=hourly, per_tag="tag" in by)
    local = func.timezone(scope.zone.key, source.c.moment)
    daily = not hourly and scope.daily
    columns = {"day": source.c.moment if daily else func.date(local),
               "weekday": func.extract("isodow", local).cast(Integer),
               "hour": func.extract("hour", local).cast(Integer),
               "channel": source.c.channel_id, "group": source.c.group_id,
               "user": source.c.user_id, "tag": source.c.tag}
    group = [source.c.kind, source.c.detail, *(columns[name] for name in by)]
    rows = (await session.execute(select(*group, *_sum_columns(source)).group_by(*group))).all()
    return {tuple(row[:len(group)]): _as_sum(row, len(group)) for row in rows}


def total(found: dict[tuple, Sum], kind: str, *, detail: str | None = None,
          where: tuple = ()) -> Sum:
    """Add up ``found``'s sums of ``kind`` (and ``detail``; and, when grouped, of the keys
    that begin with ``where``)."""
    result = Sum()
    for key, value in found.items():
        if key[0] != kind or (detail is not None and key[1] != detail):
            continue
        if key[2:2 + len(where)] != where:
            continue
        result += value
    return result


async def medians(session: AsyncSession, scope: Scope, query: Query, kinds: Iterable[str], *,
                  by_user: bool = False) -> dict[tuple, float | None]:
    """The median seconds (business seconds with ``query.business_hours``) per kind (and
    agent), from the facts."""
    start, end = query.period.bounds(scope.zone)
    f = ReportFact
    measure = f.business_seconds if query.business_hours else f.seconds
    group = [f.kind, f.user_id] if by_user else [f.kind]
    statement = of_tagged(select(
        *group, func.percentile_cont(0.5).within_group(measure)).where(
        f.tenant_id == scope.tenant_id, f.kind.in_(list(kinds)), f.at >= start, f.at < end,
        *filter_conditions(f, scope, query.filters)).group_by(*group), scope, query.filters.tag)
    return {tuple(row[:-1]): (float(row[-1]) if row[-1] is not None else None)
            for row in await session.execute(statement)}


# ---- the overview ----------------------------------------------------------------------------

DURATIONS = (t.FIRST_RESPONSE, t.REPLY, t.CLOSED, t.ASSIGNMENT_WAIT)
OVERVIEW_KINDS = (t.OPENED, t.CLOSED, t.REOPENED, t.MESSAGE_IN, t.MESSAGE_OUT, t.FIRST_RESPONSE,
                  t.REPLY, t.ASSIGNMENT_WAIT, t.TRANSFER, t.CSAT_ASKED, t.CSAT_ANSWERED,
                  t.SLA_MET, t.SLA_BREACHED, t.BOT_HANDLED, t.BOT_HANDOFF, t.BOT_CONTAINED,
                  t.CALL_ANSWERED, t.CALL_MISSED)


@dataclass(frozen=True)
class Kpis:
    """The dashboard's tiles for one period (None: nothing to average or divide)."""

    opened: int
    closed: int
    reopened: int
    messages_in: int
    messages_out: int
    first_response_average: float | None
    first_response_median: float | None
    reply_average: float | None
    reply_median: float | None
    resolution_average: float | None
    resolution_median: float | None
    assignment_wait_average: float | None
    assignment_wait_median: float | None
    transfers: int
    csat_average: float | None
    csat_response_rate: float | None
    sla_met_rate: float | None
    bot_handled: int
    bot_containment_rate: float | None
    bot_handoff_rate: float | None
    calls_answered: int
    calls_missed: int
    talk_seconds: int


def kpis(query: Query, found: dict[tuple, Sum], middle: dict[tuple, float | None]) -> Kpis:
    """The tiles, from the period's sums (grouped any way) and ``medians`` of DURATIONS (empty
    for the previous period's tiles: averages are compared, medians are the one costly
    number)."""
    business = query.business_hours

    def count(kind: str, detail: str | None = None) -> int:
        return total(found, kind, detail=detail).count

    csat = total(found, t.CSAT_ANSWERED)
    handled = count(t.BOT_HANDLED)
    return Kpis(
        opened=count(t.OPENED), closed=count(t.CLOSED), reopened=count(t.REOPENED),
        messages_in=count(t.MESSAGE_IN), messages_out=count(t.MESSAGE_OUT),
        first_response_average=total(found, t.FIRST_RESPONSE).average(business),
        first_response_median=middle.get((t.FIRST_RESPONSE,)),
        reply_average=total(found, t.REPLY).average(business),
        reply_median=middle.get((t.REPLY,)),
        resolution_average=total(found, t.CLOSED).average(business),
        resolution_median=middle.get((t.CLOSED,)),
        assignment_wait_average=total(found, t.ASSIGNMENT_WAIT).average(business),
        assignment_wait_median=middle.get((t.ASSIGNMENT_WAIT,)),
        transfers=count(t.TRANSFER),
        csat_average=csat.value / csat.count if csat.count else None,
        csat_response_rate=rate(csat.count, count(t.CSAT_ASKED)),
        sla_met_rate=rate(count(t.SLA_MET), count(t.SLA_MET) + count(t.SLA_BREACHED)),
        bot_handled=handled, bot_containment_rate=rate(count(t.BOT_CONTAINED), handled),
        bot_handoff_rate=rate(count(t.BOT_HANDOFF), handled),
        calls_answered=count(t.CALL_ANSWERED), calls_missed=count(t.CALL_MISSED),
        talk_seconds=total(found, t.CALL_ANSWERED).seconds)


@dataclass(frozen=True)
class DayPoint:
    day: date
    opened: int
    closed: int
    messages_in: int
    messages_out: int


@dataclass(frozen=True)
class Referral:
    """An ad or UTM code: the conversations it opened in the period, and how many of them now
    carry a tag that marks a conversion (a sale, a booking)."""

    name: str
    conversations: int
    conversions: int


@dataclass(frozen=True)
class Overview:
    query: Query
    refreshed_at: datetime | None
    current: Kpis
    previous: Kpis | None
    days: list[DayPoint]
    heatmap: dict[tuple[int, int], int]  # (ISO weekday, local hour) -> messages in
    by_channel: dict[uuid.UUID, dict[str, int]] = field(default_factory=dict)
    tags: list[tuple[str, int]] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)


async def overview(session: AsyncSession, actor: Actor, query: Query, *,
                   compare: bool = True) -> Overview:
    """The dashboard: tiles (and the previous period's), a day-by-day series, the weekly
    heatmap of incoming messages, and the split by channel, tag and referral."""
    scope = await scope_for(session, actor)
    refreshed_at = await bring_up_to_date(session, scope.tenant_id)
    async with _medians_alongside(session, scope, query, DURATIONS) as middle:
        # One pass over the period's sums, grouped by day and channel: the tiles, the series,
        # the channels, tags and referrals all come from it.
        found = await sums(session, scope, query, (*OVERVIEW_KINDS, t.TAGGED),
                           by=("day", "channel"))
        before = replace(query, period=query.period.previous())
        previous = (kpis(before, await sums(session, scope, before, OVERVIEW_KINDS), {})
                    if compare else None)
        weekly = await sums(session, scope, query, (t.MESSAGE_IN,), by=("weekday", "hour"))
    current = kpis(query, found, middle.result())
    series = (t.OPENED, t.CLOSED, t.MESSAGE_IN, t.MESSAGE_OUT)
    by_day: dict[tuple[str, date], int] = defaultdict(int)
    by_channel: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_detail: dict[tuple[str, str], int] = defaultdict(int)
    for (kind, detail, day, channel_id), value in found.items():
        if kind in series:
            by_day[kind, day] += value.count
            by_channel[channel_id][kind] += value.count
        by_detail[kind, detail] += value.count
    days = [DayPoint(day, *(by_day[kind, day] for kind in series))
            for day in (query.period.start + timedelta(days=n)
                        for n in range(query.period.days))]
    heatmap = {(weekday, hour): value.count for (_k, _d, weekday, hour), value in weekly.items()}
    tags = sorted(((d, n) for (k, d), n in by_detail.items() if k == t.TAGGED),
                  key=lambda item: (-item[1], item[0]))
    converted = await _conversions(session, scope, query)
    referrals = sorted((Referral(d, n, converted.get(d, 0))
                        for (k, d), n in by_detail.items() if k == t.OPENED and d),
                       key=lambda r: (-r.conversations, r.name))
    return Overview(query, refreshed_at, current, previous, days, heatmap,
                    {channel: dict(counts) for channel, counts in by_channel.items()},
                    tags, referrals)


async def _conversions(session: AsyncSession, scope: Scope, query: Query) -> dict[str, int]:
    """Per referral, the conversations opened in the period that carry a conversion tag (the
    facts carry their conversation's tags)."""
    marked = select(func.array_agg(Tag.name.cast(TEXT))).where(
        Tag.tenant_id == scope.tenant_id, Tag.marks_conversion.is_(True)).scalar_subquery()
    start, end = query.period.bounds(scope.zone)
    f = ReportFact
    statement = of_tagged(select(f.detail, func.count()).where(
        f.tenant_id == scope.tenant_id, f.kind == t.OPENED, f.at >= start, f.at < end,
        f.detail != "", f.tags.overlap(marked),
        *filter_conditions(f, scope, query.filters)).group_by(f.detail),
        scope, query.filters.tag)
    return dict((await session.execute(statement)).all())


# ---- agents ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentRow:
    user_id: uuid.UUID
    name: str
    conversations: int  # distinct conversations they wrote in
    messages: int
    replies: int
    first_response_average: float | None
    first_response_median: float | None
    reply_average: float | None
    reply_median: float | None
    closed: int
    resolution_average: float | None
    transfers_out: int
    transfers_in: int
    csat_average: float | None
    csat_answers: int
    online_seconds: int
    away_seconds: int


AGENT_KINDS = (t.MESSAGE_OUT, t.REPLY, t.FIRST_RESPONSE, t.CLOSED, t.TRANSFER, t.TRANSFER_IN,
               t.CSAT_ANSWERED)


async def agents(session: AsyncSession, actor: Actor, query: Query, *,
                 own: bool = False) -> list[AgentRow]:
    """A row per agent (active, or with numbers in the range); with ``own``, the person's own
    row only (what an agent may see)."""
    scope = await scope_for(session, actor, own=own)
    await bring_up_to_date(session, scope.tenant_id)
    async with _medians_alongside(session, scope, query, (t.FIRST_RESPONSE, t.REPLY),
                                  by_user=True) as medians_task:
        found = await sums(session, scope, query, AGENT_KINDS, by=("user",))
        written = await _conversations_written(session, scope, query)
        presence = await presence_seconds(session, scope, query)
    middle = medians_task.result()
    people = (await session.execute(select(User.id, User.display_name, User.is_active).where(
        User.tenant_id == scope.tenant_id).order_by(User.display_name))).all()
    business = query.business_hours
    rows = []
    for user_id, name, active in people:
        if scope.own_user and user_id != scope.own_user:
            continue
        if query.filters.user_ids and user_id not in query.filters.user_ids:
            continue

        def of(kind: str, detail: str | None = None, user=user_id) -> Sum:
            return total(found, kind, detail=detail, where=(user,))

        csat = of(t.CSAT_ANSWERED)
        row = AgentRow(
            user_id=user_id, name=name, conversations=written.get(user_id, 0),
            messages=of(t.MESSAGE_OUT, "agent").count, replies=of(t.REPLY).count,
            first_response_average=of(t.FIRST_RESPONSE).average(business),
            first_response_median=middle.get((t.FIRST_RESPONSE, user_id)),
            reply_average=of(t.REPLY).average(business),
            reply_median=middle.get((t.REPLY, user_id)),
            closed=of(t.CLOSED).count, resolution_average=of(t.CLOSED).average(business),
            transfers_out=of(t.TRANSFER).count, transfers_in=of(t.TRANSFER_IN).count,
            csat_average=csat.value / csat.count if csat.count else None,
            csat_answers=csat.count,
            online_seconds=presence.get((user_id, "online"), 0),
            away_seconds=presence.get((user_id, "away"), 0))
        if active or own or row.messages or row.closed or row.online_seconds:
            rows.append(row)
    return rows


async def _conversations_written(session: AsyncSession, scope: Scope, query: Query
                                 ) -> dict[uuid.UUID, int]:
    start, end = query.period.bounds(scope.zone)
    f = ReportFact
    statement = of_tagged(select(f.user_id, func.count(f.conversation_id.distinct())).where(
        f.tenant_id == scope.tenant_id, f.kind == t.MESSAGE_OUT, f.detail == "agent",
        f.at >= start, f.at < end, f.user_id.is_not(None),
        *filter_conditions(f, scope, query.filters)).group_by(f.user_id), scope, query.filters.tag)
    return {user_id: count for user_id, count in await session.execute(statement)}


async def presence_seconds(session: AsyncSession, scope: Scope, query: Query, *,
                           now: datetime | None = None) -> dict[tuple[uuid.UUID, str], int]:
    """Seconds online and away per agent within the period (an open period runs to now)."""
    start, end = query.period.bounds(scope.zone)
    now = now or datetime.now(UTC)
    p = PresencePeriod
    ends = func.least(func.coalesce(p.ended_at, now), end)
    begins = func.greatest(p.started_at, start)
    statement = select(p.user_id, p.presence,
                       func.sum(func.extract("epoch", ends - begins))).where(
        p.tenant_id == scope.tenant_id, p.started_at < end,
        func.coalesce(p.ended_at, now) > start).group_by(p.user_id, p.presence)
    if scope.own_user:
        statement = statement.where(p.user_id == scope.own_user)
    return {(user_id, presence): max(0, int(seconds or 0))
            for user_id, presence, seconds in await session.execute(statement)}


# ---- now -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Now:
    """The company this moment (the dashboard's live panel)."""

    open: int
    waiting: int  # open, the customer's message unanswered
    unassigned: int  # open, with no person and no bot
    with_bot: int
    longest_wait_since: datetime | None
    online: int
    away: int


async def now(session: AsyncSession, actor: Actor) -> Now:
    scope = await scope_for(session, actor)
    c = Conversation
    counts = (await session.execute(select(
        func.count(),
        func.count().filter(c.waiting_since.is_not(None)),
        func.count().filter(c.assignee_id.is_(None), c.held_by_bot.is_(False)),
        func.count().filter(c.held_by_bot.is_(True)),
        func.min(c.waiting_since),
    ).where(c.tenant_id == scope.tenant_id, c.status == "open"))).one()
    presence = dict((await session.execute(select(User.presence, func.count()).where(
        User.tenant_id == scope.tenant_id, User.is_active.is_(True)).group_by(
        User.presence))).all())
    return Now(*counts, online=presence.get("online", 0), away=presence.get("away", 0))

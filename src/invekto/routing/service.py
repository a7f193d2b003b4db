"""Routing: who of a channel's groups gets a new conversation, and the channel's settings for it.

``decide`` runs in the transaction that opened the conversations (the ingest's), holding the
channel's routing row locked while it reads the team and chooses, so two workers routing at the
same moment take turns: no conversation is assigned twice and round robin's rotation stays
fair. It only decides; ``inbox.service`` applies the decisions (assignment, the thread's event
with its reason, the live event). A channel without routing settings is not routed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as public_holidays
from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels import service as channels
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.inbox.models import Conversation, ConversationEvent, Message
from invekto.replies import service as replies
from invekto.routing import hours
from invekto.routing.choice import Candidate, choose
from invekto.routing.models import (
    AgentShift,
    BusinessHours,
    ChannelOperations,
    ChannelRouting,
    Holiday,
    ShiftException,
)
from invekto.routing.schemas import (
    BusinessHoursIn,
    HolidayIn,
    OperationsIn,
    RoutingIn,
    ShiftExceptionIn,
    ShiftPlanIn,
)
from invekto.tenants.models import Tenant
from invekto.users import service as users
from invekto.users.models import GroupMembership, User

# Why a conversation went to whom, as the thread and the reports name it.
REASONS = ("round_robin", "random", "least_today", "longest_waiting", "sticky", "manual",
           "takeover", "idle", "queue")


@dataclass(frozen=True)
class Decision:
    """What routing decided for one new conversation: an agent (``user_id`` with ``reason``),
    or the queue of ``group_id`` to wait in (``user_id`` None)."""

    conversation_id: uuid.UUID
    group_id: uuid.UUID | None
    user_id: uuid.UUID | None
    reason: str
    away_message: str = ""  # to send the customer when nobody could take it


# ---- settings ---------------------------------------------------------------------------------

async def get_routing(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                      ) -> ChannelRouting | None:
    await channels.get_channel(session, actor, channel_id)  # another company's: not found
    return await session.scalar(select(ChannelRouting).where(
        ChannelRouting.tenant_id == actor.tenant_id, ChannelRouting.channel_id == channel_id))


async def set_routing(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                      data: RoutingIn) -> ChannelRouting:
    """A channel's routing, as a supervisor sets it."""
    actor.require(Permission.MANAGE_ROUTING)
    routing = await get_routing(session, actor, channel_id)
    known = {group.id for group in await users.list_groups(session, actor)}
    if unknown := [g for g in data.group_ids if g not in known]:
        raise ValidationFailed("no such group: %(id)s", field="group_ids",
                               params={"id": str(unknown[0])})
    await replies.check_text(session, actor, data.away_message, field="away_message")
    if data.when_nobody == "away_message" and not data.away_message.strip():
        raise ValidationFailed("write the away message customers get when nobody is available",
                               field="away_message")
    if routing is None:
        routing = ChannelRouting(tenant_id=actor.tenant_id, channel_id=channel_id)
        session.add(routing)
    fields = ("group_ids", "algorithm", "sticky", "when_nobody", "away_message")
    before = {name: getattr(routing, name) for name in fields}
    routing.group_ids = list(dict.fromkeys(data.group_ids))
    routing.algorithm = data.algorithm
    routing.sticky = data.sticky
    routing.when_nobody = data.when_nobody
    routing.away_message = data.away_message.strip()
    await session.flush()
    await audit.record(session, actor, "channel.routing_changed", target_type="channel",
                       target_id=channel_id, data=data.model_dump(mode="json"),
                       **audit.diff(before, {name: getattr(routing, name) for name in fields}))
    return routing


async def get_operations(session: AsyncSession, actor: Actor, channel_id: uuid.UUID
                         ) -> ChannelOperations | None:
    await channels.get_channel(session, actor, channel_id)
    return await operations_of(session, actor.tenant_id, channel_id)


async def operations_of(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
                        ) -> ChannelOperations | None:
    return await session.scalar(select(ChannelOperations).where(
        ChannelOperations.tenant_id == tenant_id, ChannelOperations.channel_id == channel_id))


async def set_operations(session: AsyncSession, actor: Actor, channel_id: uuid.UUID,
                         data: OperationsIn) -> ChannelOperations:
    """A channel's welcome messages, idle reassignment and auto-close, as a supervisor sets
    them."""
    actor.require(Permission.MANAGE_ROUTING)
    for name in ("welcome_new", "welcome_returning", "closing_message"):
        await replies.check_text(session, actor, getattr(data, name), field=name)
    operations = await get_operations(session, actor, channel_id)
    if operations is None:
        operations = ChannelOperations(tenant_id=actor.tenant_id, channel_id=channel_id)
        session.add(operations)
    for name, value in data.model_dump().items():
        setattr(operations, name, value.strip() if isinstance(value, str) else value)
    await session.flush()
    await audit.record(session, actor, "channel.operations_changed", target_type="channel",
                       target_id=channel_id, data=data.model_dump(mode="json"))
    return operations


# ---- deciding -----------------------------------------------------------------------------------

async def decide(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                 conversations: Sequence[Conversation], *,
                 group_for: dict[uuid.UUID, uuid.UUID] | None = None) -> list[Decision]:
    """Where each new conversation of the channel goes (in the order given: oldest first).
    ``group_for``: conversations that go to another group than the channel's (opened after
    hours, to the after-hours group)."""
    if not conversations:
        return []
    routing = await session.scalar(select(ChannelRouting).where(
        ChannelRouting.tenant_id == tenant_id, ChannelRouting.channel_id == channel_id
    ).with_for_update())
    if routing is None or not routing.group_ids:
        return []
    teams: dict[tuple[uuid.UUID, ...], dict[uuid.UUID, Candidate]] = {}
    # Shifts as they were when the customers wrote (the batch's latest moment).
    at = max(c.opened_at for c in conversations)
    for groups in {tuple(routing.group_ids), *((g,) for g in (group_for or {}).values())}:
        teams[groups] = {c.user_id: c for c in await candidates(session, tenant_id, groups,
                                                                at=at)}
    last_handlers = (await _last_handlers(session, tenant_id, conversations)
                     if routing.sticky else {})
    decisions = []
    for conversation in conversations:
        special = (group_for or {}).get(conversation.id)
        groups = (special,) if special else tuple(routing.group_ids)
        team = teams[groups]
        handler = last_handlers.get(conversation.contact_id)
        if handler is not None and handler in team and team[handler].available:
            chosen, reason = handler, "sticky"
        else:
            chosen = choose(routing.algorithm, list(team.values()),
                            last_assigned=routing.last_assigned_user_id)
            reason = routing.algorithm
        if chosen is None:
            decisions.append(Decision(
                conversation.id, groups[0], None, "queue",
                routing.away_message if routing.when_nobody == "away_message" and not special
                else ""))
            continue
        if reason == "round_robin":
            routing.last_assigned_user_id = chosen
        team[chosen] = one_more(team[chosen])
        decisions.append(Decision(conversation.id, groups[0], chosen, reason))
    return decisions


async def choose_other(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID, *,
                       exclude: set[uuid.UUID], at: datetime | None = None) -> uuid.UUID | None:
    """Another agent for a conversation of the channel (idle reassignment): the channel's
    algorithm over its team without ``exclude``; None when it is not routed or nobody else
    is available. Takes the channel's routing row lock, as ``decide`` does."""
    routing = await session.scalar(select(ChannelRouting).where(
        ChannelRouting.tenant_id == tenant_id, ChannelRouting.channel_id == channel_id
    ).with_for_update())
    if routing is None or not routing.group_ids:
        return None
    team = [c for c in await candidates(session, tenant_id, routing.group_ids, at=at)
            if c.user_id not in exclude]
    chosen = choose(routing.algorithm, team, last_assigned=routing.last_assigned_user_id)
    if chosen is not None and routing.algorithm == "round_robin":
        routing.last_assigned_user_id = chosen
    return chosen


def one_more(candidate: Candidate) -> Candidate:
    """The same agent once this decision holds: one more open conversation today."""
    return Candidate(candidate.user_id, candidate.presence, candidate.open_conversations + 1,
                     candidate.capacity, candidate.assigned_today + 1, candidate.last_sent_at,
                     candidate.on_shift)


async def candidates(session: AsyncSession, tenant_id: uuid.UUID,
                     group_ids: Sequence[uuid.UUID], *, at: datetime | None = None
                     ) -> list[Candidate]:
    """The active members of the groups with what the algorithms weigh: presence, open
    conversations, today's assignments (in the company's time zone), their last reply, and
    whether they are on shift ``at`` (now by default)."""
    at = at or datetime.now(UTC)
    zone = await company_zone(session, tenant_id)
    members = select(GroupMembership.user_id).where(
        GroupMembership.tenant_id == tenant_id,
        GroupMembership.group_id.in_(list(group_ids))).distinct().scalar_subquery()
    open_count = select(func.count()).where(
        Conversation.tenant_id == tenant_id, Conversation.assignee_id == User.id,
        Conversation.status != "closed").correlate(User).scalar_subquery()
    today = select(func.count()).where(
        ConversationEvent.tenant_id == tenant_id, ConversationEvent.kind == "assigned",
        ConversationEvent.data["assignee_id"].astext == cast(User.id, Text),
        ConversationEvent.created_at >= datetime.combine(at.astimezone(zone).date(), time(),
                                                         tzinfo=zone),
    ).correlate(User).scalar_subquery()
    last_sent = select(func.max(Message.created_at)).where(
        Message.tenant_id == tenant_id, Message.sender_user_id == User.id,
        Message.direction == "outbound").correlate(User).scalar_subquery()
    rows = (await session.execute(select(
        User.id, User.presence, open_count, User.max_open_conversations, today, last_sent
    ).where(User.tenant_id == tenant_id, User.is_active.is_(True), User.id.in_(members)))).all()
    on_shift = await _on_shift(session, tenant_id, [row[0] for row in rows], zone, at)
    return [Candidate(user_id, presence, int(opened), capacity, int(assigned), sent,
                      on_shift[user_id])
            for user_id, presence, opened, capacity, assigned, sent in rows]


async def company_zone(session: AsyncSession, tenant_id: uuid.UUID) -> ZoneInfo:
    return ZoneInfo(await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
                    or "Europe/Istanbul")


async def _on_shift(session: AsyncSession, tenant_id: uuid.UUID, user_ids: list[uuid.UUID],
                    zone: ZoneInfo, at: datetime) -> dict[uuid.UUID, bool]:
    """Each agent's shift at ``at``: their plan, or that day's exception; always on without a
    plan."""
    plans = {plan.user_id: plan.schedule for plan in (await session.scalars(select(
        AgentShift).where(AgentShift.tenant_id == tenant_id,
                          AgentShift.user_id.in_(user_ids)))).all()}
    day = at.astimezone(zone).date()
    exceptions = {e.user_id: e.windows for e in (await session.scalars(select(
        ShiftException).where(ShiftException.tenant_id == tenant_id,
                              ShiftException.user_id.in_(user_ids),
                              ShiftException.day == day))).all()}
    return {user_id: (user_id not in plans and user_id not in exceptions) or hours.is_open(
        plans.get(user_id, {}), (), zone, at,
        overrides={day: exceptions[user_id]} if user_id in exceptions else None)
        for user_id in user_ids}


async def _last_handlers(session: AsyncSession, tenant_id: uuid.UUID,
                         conversations: Sequence[Conversation]) -> dict[uuid.UUID, uuid.UUID]:
    """Each returning contact's agent: who held their latest earlier conversation."""
    contact_ids = [c.contact_id for c in conversations]
    new_ids = [c.id for c in conversations]
    latest = (select(Conversation.contact_id, Conversation.assignee_id)
              .where(Conversation.tenant_id == tenant_id,
                     Conversation.contact_id.in_(contact_ids), Conversation.id.not_in(new_ids),
                     Conversation.assignee_id.is_not(None))
              .order_by(Conversation.contact_id, Conversation.last_message_at.desc())
              .ext(distinct_on(Conversation.contact_id)))
    return {contact_id: user_id for contact_id, user_id in (await session.execute(latest)).all()}



# ---- the waiting queue ------------------------------------------------------------------------

_PRIORITY_RANK = case({"urgent": 0, "high": 1, "normal": 2, "low": 3},
                      value=Conversation.priority, else_=2)


async def agent_state(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *,
                      at: datetime | None = None) -> Candidate | None:
    """One agent as routing sees them (their row locked: offers to them take turns)."""
    await session.execute(select(User.id).where(
        User.tenant_id == tenant_id, User.id == user_id).with_for_update())
    groups = list(await users.group_ids_of(session, tenant_id, user_id))
    return next((c for c in await candidates(session, tenant_id, groups, at=at)
                 if c.user_id == user_id), None)


async def next_waiting(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
                       ) -> Conversation | None:
    """The conversation the agent should take from their groups' queues: of the routed
    channels' open, unassigned conversations, the most urgent, then the longest waiting.
    Locked, skipping those another offer holds, so two agents never get the same one."""
    groups = list(await users.group_ids_of(session, tenant_id, user_id))
    if not groups:
        return None
    routed = select(ChannelRouting.channel_id).where(ChannelRouting.tenant_id == tenant_id)
    return await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.status == "open",
        Conversation.assignee_id.is_(None), Conversation.group_id.in_(groups),
        Conversation.channel_id.in_(routed),
    ).order_by(_PRIORITY_RANK, func.coalesce(Conversation.waiting_since,
                                             Conversation.opened_at), Conversation.id)
        .limit(1).with_for_update(skip_locked=True))


@dataclass(frozen=True)
class QueueLength:
    """A group's queue now: how many conversations wait in it, and since when the oldest."""

    group_id: uuid.UUID
    waiting: int
    oldest: datetime | None


async def queue_lengths(session: AsyncSession, actor: Actor) -> list[QueueLength]:
    """Each group's waiting conversations (open, unassigned, in its queue), for supervisors'
    live monitor; groups with none are listed too."""
    actor.require(Permission.MANAGE_ROUTING)
    rows = (await session.execute(
        select(Conversation.group_id, func.count(),
               func.min(func.coalesce(Conversation.waiting_since, Conversation.opened_at)))
        .where(Conversation.tenant_id == actor.tenant_id, Conversation.status == "open",
               Conversation.assignee_id.is_(None), Conversation.group_id.is_not(None))
        .group_by(Conversation.group_id))).all()
    waiting = {group_id: (count, oldest) for group_id, count, oldest in rows}
    return [QueueLength(group.id, *waiting.get(group.id, (0, None)))
            for group in await users.list_groups(session, actor)]


# ---- business hours and holidays ----------------------------------------------------------------

async def get_business_hours(session: AsyncSession, actor: Actor,
                             channel_id: uuid.UUID | None = None) -> BusinessHours | None:
    """The company's hours (``channel_id`` None) or a channel's own."""
    if channel_id is not None:
        await channels.get_channel(session, actor, channel_id)
    return await session.scalar(select(BusinessHours).where(
        BusinessHours.tenant_id == actor.tenant_id,
        BusinessHours.channel_id.is_(None) if channel_id is None
        else BusinessHours.channel_id == channel_id))


async def set_business_hours(session: AsyncSession, actor: Actor, data: BusinessHoursIn,
                             channel_id: uuid.UUID | None = None) -> BusinessHours:
    actor.require(Permission.MANAGE_ROUTING)
    schedule = hours.checked_schedule(data.schedule)
    await replies.check_text(session, actor, data.away_message, field="away_message")
    if data.after_hours_group_id is not None and data.after_hours_group_id not in {
            g.id for g in await users.list_groups(session, actor)}:
        raise ValidationFailed("no such group: %(id)s", field="after_hours_group_id",
                               params={"id": str(data.after_hours_group_id)})
    found = await get_business_hours(session, actor, channel_id)
    if found is None:
        found = BusinessHours(tenant_id=actor.tenant_id, channel_id=channel_id)
        session.add(found)
    found.schedule = schedule
    found.away_message = data.away_message.strip()
    found.after_hours_group_id = data.after_hours_group_id
    await session.flush()
    await audit.record(session, actor, "business_hours.changed", target_type="channel"
                       if channel_id else None, target_id=channel_id,
                       data=data.model_dump(mode="json"))
    return found


async def list_holidays(session: AsyncSession, actor: Actor) -> list[Holiday]:
    return list((await session.scalars(select(Holiday).where(
        Holiday.tenant_id == actor.tenant_id).order_by(Holiday.day))).all())


async def add_holiday(session: AsyncSession, actor: Actor, data: HolidayIn) -> Holiday:
    actor.require(Permission.MANAGE_ROUTING)
    holiday = Holiday(tenant_id=actor.tenant_id, day=data.day, name=data.name.strip())
    session.add(holiday)
    await flush_unique(session, "that day is already a holiday", field="day")
    await audit.record(session, actor, "holiday.added", target_type="holiday",
                       target_id=holiday.id, after={"day": str(holiday.day), "name": holiday.name})
    return holiday


async def delete_holiday(session: AsyncSession, actor: Actor, holiday_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    holiday = await get_in_tenant(session, Holiday, actor.tenant_id, holiday_id,
                                  what=N_("holiday"))
    await session.delete(holiday)
    await session.flush()
    await audit.record(session, actor, "holiday.deleted", target_type="holiday",
                       target_id=holiday_id, before={"day": str(holiday.day),
                                                     "name": holiday.name})


async def load_public_holidays(session: AsyncSession, actor: Actor, year: int,
                               language: str = "tr") -> int:
    """Türkiye's official holidays of ``year`` (religious ones by the official calendar, from
    the ``holidays`` library) added as the company's; days it has already are kept. Returns how
    many were added."""
    actor.require(Permission.MANAGE_ROUTING)
    if not 2000 <= year <= 2100:
        raise ValidationFailed("choose a year between 2000 and 2100", field="year")
    known = {h.day for h in await list_holidays(session, actor)}
    official = public_holidays.Turkey(years=year, language="en_US" if language == "en" else "tr")
    added = 0
    for day, name in sorted(official.items()):
        if day not in known:
            session.add(Holiday(tenant_id=actor.tenant_id, day=day, name=str(name)[:100]))
            added += 1
    await session.flush()
    await audit.record(session, actor, "holiday.loaded", data={"year": year, "added": added})
    return added


@dataclass(frozen=True)
class Opening:
    """Whether the company was open when a customer wrote, and what to do if not."""

    open: bool
    away_message: str = ""
    after_hours_group_id: uuid.UUID | None = None


async def openings(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                   moments: list[datetime]) -> list[Opening]:
    """The channel's hours (its own, else the company's) at each moment, in a fixed number of
    queries however many (an ingest batch's new conversations); always open without hours."""
    found = {h.channel_id: h for h in (await session.scalars(select(BusinessHours).where(
        BusinessHours.tenant_id == tenant_id,
        (BusinessHours.channel_id == channel_id) | BusinessHours.channel_id.is_(None)))).all()}
    schedule = found.get(channel_id) or found.get(None)
    if schedule is None or not moments:
        return [Opening(True) for _ in moments]
    zone = await company_zone(session, tenant_id)
    days = {moment.astimezone(zone).date() for moment in moments}
    closed_days = set((await session.scalars(select(Holiday.day).where(
        Holiday.tenant_id == tenant_id, Holiday.day.in_(days)))).all())
    return [Opening(True) if hours.is_open(schedule.schedule, closed_days, zone, moment)
            else Opening(False, schedule.away_message, schedule.after_hours_group_id)
            for moment in moments]


# ---- shifts ---------------------------------------------------------------------------------

async def get_shift_plan(session: AsyncSession, actor: Actor, user_id: uuid.UUID
                         ) -> AgentShift | None:
    """An agent's plan: theirs to read, and supervisors'."""
    if actor.user_id != user_id:
        actor.require(Permission.MANAGE_ROUTING)
    await users.get_user(session, actor, user_id)
    return await session.scalar(select(AgentShift).where(
        AgentShift.tenant_id == actor.tenant_id, AgentShift.user_id == user_id))


async def set_shift_plan(session: AsyncSession, actor: Actor, user_id: uuid.UUID,
                         data: ShiftPlanIn) -> AgentShift:
    actor.require(Permission.MANAGE_ROUTING)
    schedule = hours.checked_schedule(data.schedule)
    plan = await get_shift_plan(session, actor, user_id)
    if plan is None:
        plan = AgentShift(tenant_id=actor.tenant_id, user_id=user_id)
        session.add(plan)
    plan.schedule = schedule
    await session.flush()
    await audit.record(session, actor, "user.shifts_changed", target_type="user",
                       target_id=user_id, data={"schedule": schedule})
    return plan


async def clear_shift_plan(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> None:
    """The agent works without a plan again: always on shift."""
    plan = await get_shift_plan(session, actor, user_id)
    actor.require(Permission.MANAGE_ROUTING)
    if plan is not None:
        await session.delete(plan)
        await session.flush()


async def set_shift_exception(session: AsyncSession, actor: Actor, user_id: uuid.UUID,
                              data: ShiftExceptionIn) -> ShiftException:
    """One day's other hours (or a day off) for an agent; replaces that day's earlier one."""
    actor.require(Permission.MANAGE_ROUTING)
    await users.get_user(session, actor, user_id)
    windows = hours.checked_schedule({"0": data.windows}, field="windows").get("0", [])
    found = await session.scalar(select(ShiftException).where(
        ShiftException.tenant_id == actor.tenant_id, ShiftException.user_id == user_id,
        ShiftException.day == data.day))
    if found is None:
        found = ShiftException(tenant_id=actor.tenant_id, user_id=user_id, day=data.day)
        session.add(found)
    found.windows, found.note = windows, data.note.strip()
    await session.flush()
    return found


async def list_shift_exceptions(session: AsyncSession, actor: Actor, *,
                                since: date | None = None) -> list[ShiftException]:
    """The company's shift exceptions (from ``since``), by day: supervisors'."""
    actor.require(Permission.MANAGE_ROUTING)
    return list((await session.scalars(select(ShiftException).where(
        ShiftException.tenant_id == actor.tenant_id,
        *([ShiftException.day >= since] if since else [])
    ).order_by(ShiftException.day, ShiftException.user_id))).all())


async def delete_shift_exception(session: AsyncSession, actor: Actor,
                                 exception_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    found = await get_in_tenant(session, ShiftException, actor.tenant_id, exception_id,
                                what=N_("shift exception"))
    await session.delete(found)
    await session.flush()


@dataclass(frozen=True)
class ShiftDay:
    """One cell of the shift calendar: an agent's windows on a day, and whether an exception
    set them."""

    day: date
    windows: list[list[str]]
    exception: ShiftException | None = None


async def shift_week(session: AsyncSession, actor: Actor, monday: date
                     ) -> dict[uuid.UUID, list[ShiftDay]]:
    """The week from ``monday``, per active agent with a plan or an exception that week: what
    they work each day. For supervisors' calendar."""
    actor.require(Permission.MANAGE_ROUTING)
    days = [monday + timedelta(days=n) for n in range(7)]
    plans = {p.user_id: p.schedule for p in (await session.scalars(select(AgentShift).where(
        AgentShift.tenant_id == actor.tenant_id))).all()}
    exceptions: dict[tuple[uuid.UUID, date], ShiftException] = {
        (e.user_id, e.day): e for e in (await session.scalars(select(ShiftException).where(
            ShiftException.tenant_id == actor.tenant_id,
            ShiftException.day.between(days[0], days[-1])))).all()}
    people = set(plans) | {user_id for user_id, _ in exceptions}
    return {user_id: [ShiftDay(day, exceptions[(user_id, day)].windows,
                               exceptions[(user_id, day)])
                      if (user_id, day) in exceptions
                      else ShiftDay(day, list(plans.get(user_id, {}).get(str(day.weekday()),
                                                                          [])))
                      for day in days]
            for user_id in people}


async def online_agents_on_shift(session: AsyncSession, *, now: datetime | None = None
                                ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, user) of online agents with a shift plan who are on shift now: the queue may
    have waited for them (system scope; the minute's job offers it to them)."""
    now = now or datetime.now(UTC)
    rows = (await session.execute(select(AgentShift.tenant_id, AgentShift.user_id).join(User, (
        User.tenant_id == AgentShift.tenant_id) & (User.id == AgentShift.user_id)).where(
        User.presence == "online", User.is_active.is_(True)))).all()
    found = []
    for tenant_id, user_id in rows:
        zone = await company_zone(session, tenant_id)
        if (await _on_shift(session, tenant_id, [user_id], zone, now))[user_id]:
            found.append((tenant_id, user_id))
    return found

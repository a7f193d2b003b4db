"""SLA policies: which applies to a conversation, when its targets fall due (counting only
business hours, if the policy says so), and which conversations have missed one.

Due times are kept on the conversation (``first_response_due_at``, ``resolution_due_at``), set
when it opens and again when its tags change, so the minute's scan reads an index instead of
working out every open conversation's policy. A breach is a row per conversation and target
(unique), so overlapping scans record and escalate it once; ``inbox.service`` acts on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.channels import service as channels
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.db.base import new_id
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.inbox.models import Conversation
from invekto.routing import hours
from invekto.routing.models import BusinessHours, Holiday, SlaBreach, SlaPolicy
from invekto.routing.schemas import SlaPolicyIn
from invekto.routing.service import company_zone

# ---- policies -----------------------------------------------------------------------------

async def list_policies(session: AsyncSession, actor: Actor) -> list[SlaPolicy]:
    return list((await session.scalars(select(SlaPolicy).where(
        SlaPolicy.tenant_id == actor.tenant_id).order_by(SlaPolicy.name))).all())


async def save_policy(session: AsyncSession, actor: Actor, data: SlaPolicyIn,
                      policy_id: uuid.UUID | None = None) -> SlaPolicy:
    """Create a policy, or change one (``policy_id``). Supervisors'."""
    actor.require(Permission.MANAGE_ROUTING)
    if data.channel_id is not None:
        try:
            await channels.get_channel(session, actor, data.channel_id)
        except Exception as exc:
            raise ValidationFailed("no such channel", field="channel_id") from exc
    if data.channel_id is not None and data.tag:
        raise ValidationFailed("a policy is for a channel or for a tag, not both", field="tag")
    if data.first_response_minutes is None and data.resolution_minutes is None:
        raise ValidationFailed("give a first response or a resolution target",
                               field="first_response_minutes")
    if data.escalation == "tag" and not data.escalation_tag.strip():
        raise ValidationFailed("name the tag a breach adds", field="escalation_tag")
    policy = (await get_in_tenant(session, SlaPolicy, actor.tenant_id, policy_id,
                                  what=N_("SLA policy")) if policy_id else None)
    if policy is None:
        policy = SlaPolicy(tenant_id=actor.tenant_id)
        session.add(policy)
    for name, value in data.model_dump().items():
        setattr(policy, name, value.strip() if isinstance(value, str) else value)
    policy.tag = policy.tag or None
    await flush_unique(session, "a policy with this name exists", field="name")
    await audit.record(session, actor, "sla_policy.saved", target_type="sla_policy",
                       target_id=policy.id, data=data.model_dump(mode="json"))
    return policy


async def delete_policy(session: AsyncSession, actor: Actor, policy_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    policy = await get_in_tenant(session, SlaPolicy, actor.tenant_id, policy_id,
                                 what=N_("SLA policy"))
    await session.delete(policy)
    await session.flush()


def _most_specific(policies: list[SlaPolicy], conversation: Conversation) -> SlaPolicy | None:
    """A tag's policy over a channel's over the company's default (by name among equals)."""
    for matches in (lambda p: p.tag is not None and p.tag in (conversation.tags or []),
                    lambda p: p.channel_id == conversation.channel_id,
                    lambda p: p.tag is None and p.channel_id is None):
        found = sorted((p for p in policies if matches(p)), key=lambda p: p.name)
        if found:
            return found[0]
    return None


# ---- due times ----------------------------------------------------------------------------

async def set_due_times(session: AsyncSession, tenant_id: uuid.UUID,
                        conversations: list[Conversation]) -> None:
    """Each conversation's policy and due times, counted from when it opened (call when it
    opens, and when its tags change). A fixed number of queries however many conversations."""
    if not conversations:
        return
    policies = list((await session.scalars(select(SlaPolicy).where(
        SlaPolicy.tenant_id == tenant_id))).all())
    if not policies and not any(c.sla_policy_id for c in conversations):
        return
    clock = await BusinessClock.load(
        session, tenant_id, {c.channel_id for c in conversations},
        min(c.opened_at for c in conversations).date() - timedelta(days=1))
    for conversation in conversations:
        policy = _most_specific(policies, conversation)
        conversation.sla_policy_id = policy.id if policy else None
        conversation.first_response_due_at = clock.due(
            conversation, policy, policy.first_response_minutes if policy else None)
        conversation.resolution_due_at = clock.due(
            conversation, policy, policy.resolution_minutes if policy else None)
    await session.flush()


@dataclass(frozen=True)
class BusinessClock:
    """The hours (the company's and channels' own), holidays and zone that business time
    counts in, read once for a set of channels: SLA due times, and the reports' "in business
    hours" durations."""

    schedules: dict[uuid.UUID | None, dict]
    holidays: frozenset[date]
    zone: ZoneInfo

    @classmethod
    async def load(cls, session: AsyncSession, tenant_id: uuid.UUID,
                   channel_ids: Collection[uuid.UUID], since: date) -> BusinessClock:
        """For ``channel_ids``, with the holidays from ``since`` on."""
        schedules = {h.channel_id: h.schedule for h in (await session.scalars(
            select(BusinessHours).where(
                BusinessHours.tenant_id == tenant_id,
                or_(BusinessHours.channel_id.in_(set(channel_ids)),
                    BusinessHours.channel_id.is_(None))))).all()}
        holidays = frozenset((await session.scalars(select(Holiday.day).where(
            Holiday.tenant_id == tenant_id, Holiday.day >= since))).all())
        return cls(schedules, holidays, await company_zone(session, tenant_id))

    def schedule(self, channel_id: uuid.UUID) -> dict | None:
        """The channel's own hours, else the company's; None: none set (always open)."""
        return self.schedules.get(channel_id, self.schedules.get(None))

    def due(self, conversation: Conversation, policy: SlaPolicy | None,
            minutes: int | None) -> datetime | None:
        if policy is None or minutes is None:
            return None
        start = conversation.opened_at
        schedule = self.schedule(conversation.channel_id)
        if not policy.business_hours or schedule is None:  # no hours set: always open
            return start + timedelta(minutes=minutes)
        return hours.add_open_minutes(schedule, self.holidays, self.zone, start, minutes)

    def open_seconds(self, channel_id: uuid.UUID, start: datetime, end: datetime) -> int:
        """The seconds of business time from ``start`` to ``end`` on the channel's hours (all
        of it when no hours are set)."""
        schedule = self.schedule(channel_id)
        if schedule is None:
            return hours.elapsed_seconds(start, end)
        return hours.open_seconds_between(schedule, self.holidays, self.zone, start, end)


# ---- breaches -----------------------------------------------------------------------------

async def overdue(session: AsyncSession, *, now: datetime | None = None, limit: int = 500
                  ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, conversation) of open conversations past a due time they have not met and not
    yet recorded as breached. System scope: the minute's job's list."""
    now = now or datetime.now(UTC)
    missed_first = and_(Conversation.first_response_at.is_(None),
                        Conversation.first_response_due_at < now, ~_breached("first_response"))
    missed_resolution = and_(Conversation.resolution_due_at < now, ~_breached("resolution"))
    return [(tenant, conversation) for tenant, conversation in (await session.execute(
        select(Conversation.tenant_id, Conversation.id).where(
            Conversation.status != "closed", or_(missed_first, missed_resolution))
        .limit(limit))).all()]


def _breached(target: str):
    return exists().where(SlaBreach.tenant_id == Conversation.tenant_id,
                          SlaBreach.conversation_id == Conversation.id,
                          SlaBreach.target == target)


async def record_breaches(session: AsyncSession, tenant_id: uuid.UUID,
                          conversation: Conversation, now: datetime
                          ) -> tuple[list[str], SlaPolicy | None]:
    """The targets the conversation missed by ``now``, each recorded once (a second scan finds
    it recorded: nothing new); returns the new ones and the policy."""
    due = {"first_response": conversation.first_response_due_at
           if conversation.first_response_at is None else None,
           "resolution": conversation.resolution_due_at}
    missed = [(target, at) for target, at in due.items() if at is not None and at < now]
    if not missed:
        return [], None
    new = set((await session.scalars(insert(SlaBreach).values([
        {"id": new_id(), "tenant_id": tenant_id, "conversation_id": conversation.id,
         "policy_id": conversation.sla_policy_id, "target": target, "due_at": at,
         "breached_at": now} for target, at in missed]).on_conflict_do_nothing(
        index_elements=["tenant_id", "conversation_id", "target"]).returning(
        SlaBreach.target))).all())
    policy = (await session.get(SlaPolicy, conversation.sla_policy_id)
              if conversation.sla_policy_id else None)
    return [target for target, _ in missed if target in new], policy

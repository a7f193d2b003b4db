"""Bringing a company's report facts and hourly sums up to date.

Triggers put every changed conversation on ``report_dirty`` in the changing transaction; a
refresh takes a batch of them in order, reads their timelines (messages, changes, bot runs,
surveys, SLA breaches), derives their facts (``timeline.derive``), replaces the old ones and
re-sums every hour the old or new facts fall in. A company has one refresher at a time (an
advisory lock), so two never re-sum the same hour from different views of the facts; a report
page that finds one running reads what is there rather than wait. ``report_refreshes`` records
when a company was last caught up: everything changed before then is in its reports.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai.models import AutoAnswerSession
from invekto.db.session import Database
from invekto.flows.models import TO_PEOPLE, FlowSession
from invekto.follow_ups.models import CsatResponse
from invekto.inbox.models import Conversation, ConversationEvent, Message
from invekto.reports.models import ReportDirty, ReportFact, ReportHourly, ReportRefresh
from invekto.reports.timeline import (
    BotRun,
    Fact,
    Survey,
    Timeline,
    TimelineChange,
    TimelineMessage,
    derive,
)
from invekto.routing.models import SlaBreach
from invekto.routing.sla import BusinessClock

# Conversations per batch: a few hundred milliseconds of work, one transaction.
BATCH = 200
_CHANGE_KINDS = ("assigned", "transferred", "takeover", "closed", "reopened")


async def _lock(session: AsyncSession, tenant_id: uuid.UUID, *, wait: bool) -> bool:
    key = text("hashtextextended('reports:' || :tenant, 0)").bindparams(tenant=str(tenant_id))
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(key)))
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))


async def refresh_batch(session: AsyncSession, tenant_id: uuid.UUID, *, wait: bool = True,
                        batch: int = BATCH) -> int | None:
    """Derive the conversations of the company's next ``batch`` listed changes, in the
    session's transaction; the number done (0: all up to date), or None when another
    refresher holds the company and ``wait`` is off."""
    if not await _lock(session, tenant_id, wait=wait):
        return None
    conversation_ids = list(set((await session.scalars(
        select(ReportDirty.conversation_id).where(ReportDirty.tenant_id == tenant_id)
        .order_by(ReportDirty.id).limit(batch))).all()))
    if conversation_ids:
        # Every listed change of these conversations, not only the batch's: each one was
        # committed before this statement, so the timelines read below include it.
        dirty_ids = (await session.scalars(select(ReportDirty.id).where(
            ReportDirty.tenant_id == tenant_id,
            ReportDirty.conversation_id.in_(conversation_ids)))).all()
        hours = await _hours_of_facts(session, tenant_id, conversation_ids)
        await session.execute(delete(ReportFact).where(
            ReportFact.tenant_id == tenant_id, ReportFact.conversation_id.in_(conversation_ids)))
        rows = await _derived_rows(session, tenant_id, conversation_ids)
        await _insert_facts(session, rows)
        hours |= {_hour(row["at"]) for row in rows}
        await _resum(session, tenant_id, hours)
        await session.execute(delete(ReportDirty).where(
            ReportDirty.tenant_id == tenant_id, ReportDirty.id.in_(dirty_ids)))
    else:  # caught up: everything changed before this transaction is derived
        await session.execute(pg_insert(ReportRefresh).values(tenant_id=tenant_id)
                              .on_conflict_do_update(index_elements=[ReportRefresh.tenant_id],
                                                     set_={"refreshed_at": func.now()}))
    return len(conversation_ids)


async def refresh(db: Database, tenant_id: uuid.UUID, *, max_batches: int | None = None
                  ) -> int:
    """Bring the company's facts up to date, a batch per transaction; the conversations done.
    ``max_batches`` bounds the work (a job comes back for the rest)."""
    done = batches = 0
    while max_batches is None or batches < max_batches:
        async with db.tenant_session(tenant_id) as session:
            count = await refresh_batch(session, tenant_id)
        batches += 1
        done += count or 0
        if not count:
            break
    return done


async def tenants_to_refresh(db: Database) -> list[uuid.UUID]:
    """The companies with conversations waiting to be derived (system scope)."""
    async with db.system_session() as session:
        return list((await session.scalars(select(ReportDirty.tenant_id).distinct())).all())


# One INSERT ... SELECT FROM unnest(...) of a column array each: twelve parameters whatever
# the number of rows (COPY is not allowed on a table with row-level security).
_FACT_COLUMNS = ("tenant_id", "conversation_id", "seq", "kind", "detail", "at", "seconds",
                 "business_seconds", "value", "channel_id", "group_id", "user_id")
_INSERT_FACTS = text("""
    INSERT INTO report_facts (tenant_id, conversation_id, seq, kind, detail, at, seconds,
                              business_seconds, value, channel_id, group_id, user_id)
    SELECT * FROM unnest(CAST(:tenant_id AS uuid[]), CAST(:conversation_id AS uuid[]),
                         CAST(:seq AS int[]), CAST(:kind AS text[]), CAST(:detail AS text[]),
                         CAST(:at AS timestamptz[]), CAST(:seconds AS bigint[]),
                         CAST(:business_seconds AS bigint[]), CAST(:value AS int[]),
                         CAST(:channel_id AS uuid[]), CAST(:group_id AS uuid[]),
                         CAST(:user_id AS uuid[]))""")


async def _insert_facts(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.execute(_INSERT_FACTS, {name: [row[name] for row in rows]
                                              for name in _FACT_COLUMNS})


def _hour(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (as ``date_trunc('hour', at, 'UTC')``)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def _hours_of_facts(session: AsyncSession, tenant_id: uuid.UUID,
                          conversation_ids: list[uuid.UUID]) -> set[datetime]:
    """The UTC hours the conversations' present facts fall in."""
    return set((await session.scalars(select(
        func.date_trunc("hour", ReportFact.at, "UTC")).where(
        ReportFact.tenant_id == tenant_id,
        ReportFact.conversation_id.in_(conversation_ids)).distinct())).all())


async def _resum(session: AsyncSession, tenant_id: uuid.UUID, hours: set[datetime]) -> None:
    """Replace the company's hourly sums for ``hours`` by sums of the facts in them."""
    if not hours:
        return
    ordered = sorted(hours)
    await session.execute(delete(ReportHourly).where(
        ReportHourly.tenant_id == tenant_id, ReportHourly.hour.in_(ordered)))
    await session.execute(text("""
        INSERT INTO report_hourly (tenant_id, hour, kind, detail, channel_id, group_id, user_id,
                                   count, seconds_sum, business_seconds_sum, value_sum)
        SELECT f.tenant_id, h.hour, f.kind, f.detail, f.channel_id, f.group_id, f.user_id,
               count(*), coalesce(sum(f.seconds), 0), coalesce(sum(f.business_seconds), 0),
               coalesce(sum(f.value), 0)
        FROM unnest(CAST(:hours AS timestamptz[])) AS h(hour)
        JOIN report_facts f ON f.tenant_id = :tenant AND f.at >= h.hour
                           AND f.at < h.hour + interval '1 hour'
        GROUP BY f.tenant_id, h.hour, f.kind, f.detail, f.channel_id, f.group_id, f.user_id
    """), {"hours": ordered, "tenant": tenant_id})


async def _derived_rows(session: AsyncSession, tenant_id: uuid.UUID,
                        conversation_ids: list[uuid.UUID]) -> list[dict]:
    """The facts of the conversations (those that still exist), as rows to insert."""
    conversations = (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id.in_(conversation_ids)))).all()
    if not conversations:
        return []
    timelines = await _timelines(session, tenant_id, conversations)
    clock = await BusinessClock.load(
        session, tenant_id, {c.channel_id for c in conversations},
        min(c.opened_at for c in conversations).date() - timedelta(days=1))
    rows: list[dict] = []
    for conversation in conversations:
        facts: list[Fact] = derive(
            timelines[conversation.id],
            lambda start, end, channel=conversation.channel_id: clock.open_seconds(
                channel, start, end))
        rows += [{"tenant_id": tenant_id, "conversation_id": conversation.id, "seq": seq,
                  "kind": fact.kind, "detail": fact.detail, "at": fact.at,
                  "seconds": fact.seconds, "business_seconds": fact.business_seconds,
                  "value": fact.value, "channel_id": conversation.channel_id,
                  "group_id": conversation.group_id, "user_id": fact.user_id}
                 for seq, fact in enumerate(facts)]
    return rows


async def _timelines(session: AsyncSession, tenant_id: uuid.UUID,
                     conversations: list[Conversation]) -> dict[uuid.UUID, Timeline]:
    ids = [c.id for c in conversations]
    messages: dict[uuid.UUID, list[TimelineMessage]] = defaultdict(list)
    for row in await session.execute(select(
            Message.conversation_id, Message.created_at, Message.sender_kind,
            Message.sender_user_id, Message.content_kind, Message.payload["call"].label("call"))
            .where(Message.tenant_id == tenant_id, Message.conversation_id.in_(ids))
            .order_by(Message.created_at, Message.id)):
        call = None
        if row.content_kind == "call":  # its record, or an empty one: a call, not a message
            call = row.call if isinstance(row.call, dict) else {}
        messages[row.conversation_id].append(TimelineMessage(
            row.created_at, row.sender_kind, row.sender_user_id, call))
    changes: dict[uuid.UUID, list[TimelineChange]] = defaultdict(list)
    for row in await session.execute(select(
            ConversationEvent.conversation_id, ConversationEvent.created_at,
            ConversationEvent.kind, ConversationEvent.data)
            .where(ConversationEvent.tenant_id == tenant_id,
                   ConversationEvent.conversation_id.in_(ids),
                   ConversationEvent.kind.in_(_CHANGE_KINDS))
            .order_by(ConversationEvent.created_at, ConversationEvent.id)):
        changes[row.conversation_id].append(TimelineChange(row.created_at, row.kind, row.data))
    bots: dict[uuid.UUID, list[BotRun]] = defaultdict(list)
    for row in await session.execute(select(
            FlowSession.conversation_id, FlowSession.started_at, FlowSession.ended_at,
            FlowSession.end_reason).where(FlowSession.tenant_id == tenant_id,
                                          FlowSession.conversation_id.in_(ids))):
        bots[row.conversation_id].append(BotRun(row.started_at, row.ended_at,
                                                row.end_reason in TO_PEOPLE))
    for row in await session.execute(select(
            AutoAnswerSession.conversation_id, AutoAnswerSession.started_at,
            AutoAnswerSession.ended_at, AutoAnswerSession.state).where(
            AutoAnswerSession.tenant_id == tenant_id,
            AutoAnswerSession.conversation_id.in_(ids))):
        bots[row.conversation_id].append(BotRun(row.started_at, row.ended_at,
                                                row.state == "handed_off"))
    surveys: dict[uuid.UUID, list[Survey]] = defaultdict(list)
    for row in await session.execute(select(
            CsatResponse.conversation_id, CsatResponse.asked_at, CsatResponse.answered_at,
            CsatResponse.score, CsatResponse.agent_id).where(
            CsatResponse.tenant_id == tenant_id, CsatResponse.conversation_id.in_(ids))):
        surveys[row.conversation_id].append(Survey(row.asked_at, row.answered_at, row.score,
                                                   row.agent_id))
    breaches: dict[uuid.UUID, list[tuple[str, datetime]]] = defaultdict(list)
    for row in await session.execute(select(
            SlaBreach.conversation_id, SlaBreach.target, SlaBreach.breached_at).where(
            SlaBreach.tenant_id == tenant_id, SlaBreach.conversation_id.in_(ids))):
        breaches[row.conversation_id].append((row.target, row.breached_at))
    return {c.id: Timeline(
        opened_at=c.opened_at, messages=messages[c.id], changes=changes[c.id],
        bot_runs=bots[c.id], surveys=surveys[c.id], breaches=breaches[c.id],
        first_response_due_at=c.first_response_due_at, resolution_due_at=c.resolution_due_at,
        tags=c.tags, referral=c.referral) for c in conversations}

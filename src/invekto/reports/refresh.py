"""Bringing a company's report facts and their sums up to date.

Triggers put every changed conversation on ``report_dirty`` in the changing transaction; a
refresh takes a batch of them in order, reads their timelines (messages, changes, bot runs,
surveys, SLA breaches), derives their facts (``timeline.derive``) and replaces the old ones. The
hourly and daily sums are kept by difference: the old facts' sums subtracted, the new ones'
added, so a batch costs what its own facts cost however busy the hours around them were. A
company has one refresher at a time (an advisory lock), so no two differences cross; a report
page that finds one running reads what is there rather than wait. ``report_refreshes`` records
when a company was last caught up (everything changed before then is in its reports) and the
zone its daily sums are in: a company that changes zone has them rebuilt from the facts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai.models import AutoAnswerSession
from invekto.db.session import Database
from invekto.flows.models import TO_PEOPLE, FlowSession
from invekto.follow_ups.models import CsatResponse
from invekto.inbox.models import Conversation, ConversationEvent, Message
from invekto.reports.models import ReportDirty, ReportFact, ReportRefresh
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
from invekto.routing.service import company_zone
from invekto.routing.sla import BusinessClock
from invekto.tenants.models import Tenant

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
        daily_zone = await usable_daily_zone(session, tenant_id)
        emptied = await _add_to_sums(session, tenant_id, conversation_ids, daily_zone, -1)
        await session.execute(delete(ReportFact).where(
            ReportFact.tenant_id == tenant_id, ReportFact.conversation_id.in_(conversation_ids)))
        await _insert_facts(session, await _derived_rows(session, tenant_id, conversation_ids))
        await _add_to_sums(session, tenant_id, conversation_ids, daily_zone, +1)
        await _drop_empty_sums(session, tenant_id, emptied)
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
    async with db.tenant_session(tenant_id) as session:
        await _lock(session, tenant_id, wait=True)
        await rebuild_daily_if_zone_changed(session, tenant_id)
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
    """The companies with conversations waiting to be derived, or whose daily sums are in
    another zone than theirs (system scope)."""
    async with db.system_session() as session:
        moved = select(ReportRefresh.tenant_id).join(
            Tenant, Tenant.id == ReportRefresh.tenant_id).where(
            ReportRefresh.daily_zone.is_distinct_from(Tenant.timezone))
        return list((await session.scalars(
            select(ReportDirty.tenant_id).distinct().union(moved))).all())


# One INSERT ... SELECT FROM unnest(...) of a column array each: thirteen parameters whatever
# the number of rows (COPY is not allowed on a table with row-level security).
_FACT_COLUMNS = ("tenant_id", "conversation_id", "seq", "kind", "detail", "at", "seconds",
                 "business_seconds", "value", "channel_id", "group_id", "user_id", "tags")
_INSERT_FACTS = text("""
    INSERT INTO report_facts (tenant_id, conversation_id, seq, kind, detail, at, seconds,
                              business_seconds, value, channel_id, group_id, user_id, tags)
    SELECT tenant_id, conversation_id, seq, kind, detail, at, seconds, business_seconds, value,
           channel_id, group_id, user_id,
           -- unnest flattens arrays of arrays: the tags travel as one text each
           CAST(tags AS text[])
    FROM unnest(CAST(:tenant_id AS uuid[]), CAST(:conversation_id AS uuid[]),
                CAST(:seq AS int[]), CAST(:kind AS text[]), CAST(:detail AS text[]),
                CAST(:at AS timestamptz[]), CAST(:seconds AS bigint[]),
                CAST(:business_seconds AS bigint[]), CAST(:value AS int[]),
                CAST(:channel_id AS uuid[]), CAST(:group_id AS uuid[]),
                CAST(:user_id AS uuid[]), CAST(:tags AS text[]))
        AS f(tenant_id, conversation_id, seq, kind, detail, at, seconds, business_seconds,
             value, channel_id, group_id, user_id, tags)""")


async def _insert_facts(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        values = {name: [row[name] for row in rows] for name in _FACT_COLUMNS}
        values["tags"] = ["{" + ",".join(_array_item(tag) for tag in row["tags"]) + "}"
                          for row in rows]
        await session.execute(_INSERT_FACTS, values)


def _array_item(tag: str) -> str:
    """A tag as an element of a PostgreSQL array literal (quoted, backslashes escaped)."""
    return '"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- the sums ----------------------------------------------------------------------------------
# Each fact counts once under the tag '' (every conversation) and once under each of its tags.
_SUMMED = """
    SELECT f.tenant_id, {time} AS time, f.kind, f.detail, f.channel_id, f.group_id, f.user_id,
           t.tag, {sign} * count(*), {sign} * coalesce(sum(f.seconds), 0),
           {sign} * coalesce(sum(f.business_seconds), 0), {sign} * coalesce(sum(f.value), 0)
    FROM report_facts f CROSS JOIN LATERAL unnest(array_prepend('', f.tags)) AS t(tag)
    WHERE f.tenant_id = :tenant {where}
    GROUP BY f.tenant_id, 2, f.kind, f.detail, f.channel_id, f.group_id, f.user_id, t.tag"""
_SUM_COLUMNS = ("kind, detail, channel_id, group_id, user_id, tag, count, seconds_sum, "
                "business_seconds_sum, value_sum")
_HOUR = "date_trunc('hour', f.at, 'UTC')"
_DAY = "CAST(timezone(:zone, f.at) AS date)"
_TABLES = (("report_hourly", "hour", _HOUR), ("report_daily", "day", _DAY))


async def _add_to_sums(session: AsyncSession, tenant_id: uuid.UUID,
                       conversation_ids: list[uuid.UUID], daily_zone: str | None,
                       sign: int) -> dict[str, list]:
    """Add (``sign`` +1) or subtract (-1) the conversations' present facts to or from the
    hourly sums, and the daily ones when they are in ``daily_zone``; the times of the sums
    changed, per table."""
    touched: dict[str, list] = {}
    for table, time_column, time in _TABLES:
        if table == "report_daily" and daily_zone is None:
            continue
        summed = _SUMMED.format(time=time, sign=sign,
                                where="AND f.conversation_id = ANY(:ids)")
        touched[table] = list((await session.scalars(text(f"""
            INSERT INTO {table} AS s (tenant_id, {time_column}, {_SUM_COLUMNS}) {summed}
            ON CONFLICT (tenant_id, {time_column}, kind, detail, channel_id, group_id,
                         user_id, tag)
            DO UPDATE SET count = s.count + excluded.count,
                          seconds_sum = s.seconds_sum + excluded.seconds_sum,
                          business_seconds_sum = s.business_seconds_sum
                                                 + excluded.business_seconds_sum,
                          value_sum = s.value_sum + excluded.value_sum
            RETURNING {time_column}"""), {"tenant": tenant_id, "ids": conversation_ids,
                                          "zone": daily_zone})).unique())
    return touched


async def _drop_empty_sums(session: AsyncSession, tenant_id: uuid.UUID,
                           touched: dict[str, list]) -> None:
    """Delete the sums subtracted to nothing (their facts are gone or moved)."""
    for table, time_column, _time in _TABLES:
        if touched.get(table):
            await session.execute(text(  # table and column: the constants above
                f"DELETE FROM {table} WHERE tenant_id = :tenant "  # noqa: S608
                f"AND {time_column} = ANY(:times) AND count = 0"),
                {"tenant": tenant_id, "times": sorted(set(touched[table]))})


async def usable_daily_zone(session: AsyncSession, tenant_id: uuid.UUID,
                            zone: str | None = None) -> str | None:
    """The zone the company's daily sums are kept in, when it is the company's (``zone``, read
    when not given); None while they wait to be rebuilt for a new zone, or were never built."""
    zone = zone or (await company_zone(session, tenant_id)).key
    built = await session.scalar(select(ReportRefresh.daily_zone).where(
        ReportRefresh.tenant_id == tenant_id))
    return built if built == zone else None


async def rebuild_daily_if_zone_changed(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Rebuild the company's daily sums from its facts when they are in another zone than
    the company's (or were never built); whether it did. Holds the refresher's lock."""
    zone = (await company_zone(session, tenant_id)).key
    if await usable_daily_zone(session, tenant_id, zone):
        return False
    await session.execute(text("DELETE FROM report_daily WHERE tenant_id = :tenant"),
                          {"tenant": tenant_id})
    await session.execute(text(
        f"INSERT INTO report_daily (tenant_id, day, {_SUM_COLUMNS}) "
        + _SUMMED.format(time=_DAY, sign=1, where="")), {"tenant": tenant_id, "zone": zone})
    # Not caught up by this: refreshed_at stays what it was (None for a new row).
    await session.execute(pg_insert(ReportRefresh).values(
        tenant_id=tenant_id, daily_zone=zone, refreshed_at=None)
        .on_conflict_do_update(index_elements=[ReportRefresh.tenant_id],
                               set_={"daily_zone": zone}))
    return True


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
                  "group_id": conversation.group_id, "user_id": fact.user_id,
                  "tags": list(conversation.tags or ())}
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

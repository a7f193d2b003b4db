"""Call entries that several provider callbacks complete (Twilio Voice), and their recordings.

A call entry is a ``call`` message keyed ``call:{id}``, made by the first final event the
ingest stores (``receive_inbound_batch`` for the customer's calls, ``record_echo`` for the
business's). Later events of the same call are merged into its ``payload["call"]`` without ever
taking it back: any order of the same events gives the same entry. A recording is kept in
``call_recordings`` (once per provider recording id) and attached to the entry as soon as both
exist, whichever came first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, any_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core import realtime
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.db.base import new_id
from invekto.inbox.models import CallRecording, Conversation, Message
from invekto.inbox.schemas import InboundMessage

# Which outcome wins when two events of a call disagree: a person answering is certain, the
# rest only say how it ended without one.
_OUTCOME_RANK = {"answered": 4, "busy": 3, "failed": 2, "no_answer": 1, "missed": 1}


def merge_call(stored: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """One call as two events describe it. Monotonic and order-free: the better outcome, the
    longer talk time, what one knows and the other not, and of the start and the end the
    earliest report (an event without the provider's time counts as received now, never
    earlier than the truth, so a late or repeated one changes nothing)."""
    merged = {**update, **{k: v for k, v in stored.items() if v not in (None, "")}}
    if _OUTCOME_RANK.get(update.get("outcome"), 0) > _OUTCOME_RANK.get(stored.get("outcome"), 0):
        merged["outcome"] = update["outcome"]
    merged["duration_seconds"] = max(int(stored.get("duration_seconds") or 0),
                                     int(update.get("duration_seconds") or 0))
    for key in ("started_at", "ended_at"):
        moments = [value for value in (stored.get(key), update.get(key)) if value]
        if moments:
            merged[key] = min(moments, key=datetime.fromisoformat)
    if merged.get("outcome") != "answered":
        merged.pop("agent", None)
    return merged


async def merge_call_events(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                            updates: list[InboundMessage]) -> int:
    """Fold each event into its call's stored entry (made just before, by this event or an
    earlier one); returns how many entries changed. Those are announced like a status change,
    so an open thread redraws them."""
    ids = sorted({u.provider_message_id for u in updates})
    if not ids:
        return 0
    entries = {m.provider_message_id: m for m in (await session.scalars(select(Message).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.provider_message_id == any_(ids), Message.content_kind == "call",
    ).order_by(Message.id).with_for_update())).all()}
    changed: dict[uuid.UUID, Message] = {}
    for update in updates:
        entry = entries.get(update.provider_message_id)
        if entry is None:
            continue
        stored = dict((entry.payload or {}).get("call") or {})
        merged = merge_call(stored, dict(update.payload.get("call") or {}))
        if merged != stored:
            entry.payload = {**(entry.payload or {}), "call": merged}
            changed[entry.id] = entry
    await session.flush()
    await _announce(session, tenant_id, list(changed.values()))
    return len(changed)


@dataclass
class RecordingIn:
    """A recording as the ingest hands it over, with its file once downloaded."""

    provider_message_id: str  # the call entry's
    recording_id: str
    duration_seconds: int | None = None
    attachment_id: uuid.UUID | None = None
    error: str | None = None


async def stored_recording_ids(session: AsyncSession, tenant_id: uuid.UUID,
                               channel_id: uuid.UUID, recording_ids: list[str]) -> set[str]:
    """Which of these recordings the channel already keeps (not to be downloaded again)."""
    if not recording_ids:
        return set()
    return set((await session.scalars(select(CallRecording.recording_id).where(
        CallRecording.tenant_id == tenant_id, CallRecording.channel_id == channel_id,
        CallRecording.recording_id == any_(recording_ids)))).all())


async def store_recordings(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                           recordings: list[RecordingIn], call_ids: list[str]) -> int:
    """Keep new recordings, then attach every kept one whose call entry has none yet, for the
    calls named here (``call_ids``: calls just stored or completed); returns how many entries
    got their recording."""
    if recordings:
        await session.execute(insert(CallRecording.__table__).on_conflict_do_nothing(
            index_elements=["tenant_id", "channel_id", "recording_id"]), [
            {"id": new_id(), "tenant_id": tenant_id, "channel_id": channel_id,
             "provider_message_id": r.provider_message_id, "recording_id": r.recording_id,
             "attachment_id": r.attachment_id, "duration_seconds": r.duration_seconds,
             "error": r.error} for r in recordings])
    ids = sorted({*call_ids, *(r.provider_message_id for r in recordings)})
    if not ids:
        return 0
    files: dict[str, uuid.UUID] = {}
    for provider_message_id, attachment_id in (await session.execute(
            select(CallRecording.provider_message_id, CallRecording.attachment_id).where(
                CallRecording.tenant_id == tenant_id, CallRecording.channel_id == channel_id,
                CallRecording.provider_message_id == any_(ids),
                CallRecording.attachment_id.is_not(None),
            ).order_by(CallRecording.created_at, CallRecording.id))).all():
        files.setdefault(provider_message_id, attachment_id)  # the first one, if several
    if not files:
        return 0
    entries = (await session.scalars(select(Message).where(
        Message.tenant_id == tenant_id, Message.channel_id == channel_id,
        Message.provider_message_id == any_(sorted(files)), Message.content_kind == "call",
        Message.attachment_id.is_(None)).order_by(Message.id).with_for_update())).all()
    for entry in entries:
        entry.attachment_id = files[entry.provider_message_id]
    await session.flush()
    await _announce(session, tenant_id, list(entries))
    return len(entries)


async def _announce(session: AsyncSession, tenant_id: uuid.UUID, entries: list[Message]
                    ) -> None:
    """An entry changed in place: open threads fetch it again (as after a status change)."""
    if not entries:
        return
    conversations = {c.id: c for c in (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id,
        Conversation.id == any_(list({e.conversation_id for e in entries}))))).all()}
    await realtime.publish_many(session, [realtime.Event(
        tenant_id=tenant_id, type="message.status",
        assignee_id=conversations[e.conversation_id].assignee_id,
        group_id=conversations[e.conversation_id].group_id,
        data={"conversation_id": str(e.conversation_id), "contact_id": str(e.contact_id),
              "message_id": str(e.id), "status": e.status, "error_code": e.error_code})
        for e in entries])


# ---- what the calls add up to (the reports read this) ---------------------------------------

@dataclass(frozen=True)
class AgentCalls:
    agent: str  # as the phone system names them: the agent's name, username or extension user
    calls: int
    talk_seconds: int


@dataclass(frozen=True)
class CallSummary:
    inbound: int
    outbound: int
    answered: int
    missed: int  # customers' calls nobody answered (missed, busy, no answer, failed)
    talk_seconds: int
    agents: list[AgentCalls]


async def call_summary(session: AsyncSession, actor: Actor, *, since: datetime,
                       until: datetime) -> CallSummary:
    """The company's calls that started in ``[since, until)``: how many each way, answered and
    missed, the talk time, and the answered calls and talk time of each agent. Supervisors'."""
    actor.require(Permission.SEE_REPORTS)
    if until <= since:
        raise ValidationFailed("the period ends before it starts", field="until")
    call = Message.payload["call"]
    direction, outcome = call["direction"].astext, call["outcome"].astext
    talk = func.coalesce(call["duration_seconds"].astext.cast(Integer), 0)
    in_period = and_(Message.tenant_id == actor.tenant_id, Message.content_kind == "call",
                     Message.created_at >= since, Message.created_at < until)
    totals = (await session.execute(select(
        func.count().filter(direction == "inbound"), func.count().filter(direction == "outbound"),
        func.count().filter(outcome == "answered"),
        func.count().filter(direction == "inbound", outcome != "answered"),
        func.coalesce(func.sum(talk), 0)).where(in_period))).one()
    agent = call["agent"].astext
    agents = (await session.execute(
        select(agent, func.count(), func.coalesce(func.sum(talk), 0))
        .where(in_period, agent.is_not(None), outcome == "answered")
        .group_by(agent).order_by(func.sum(talk).desc(), agent))).all()
    return CallSummary(*(int(value) for value in totals),
                       agents=[AgentCalls(name, int(count), int(seconds))
                               for name, count, seconds in agents])

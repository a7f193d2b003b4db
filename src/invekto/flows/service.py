"""Chatbot flows: drafts, publishing, and running a conversation through a version.

The runtime is called from the ingest's transaction (``on_inbound``): starting a flow and
answering the customer's replies happen with the messages that caused them, in order. Steps
that call out (HTTP requests, look-ups) run in a job outside it (``flows:advance``), and the
minute scan (``flows:tick``) times out waiting steps. See decisions/0018.

Each turn of the engine (``flows.engine``) runs in a savepoint: a failure ends the session
("failed") and hands the conversation to a person, and the customer's message is kept whatever
the flow did. While a session is not ended the bot holds the conversation
(``conversations.held_by_bot``): no welcome message and no routing; when it ends it lets go
(``inbox.service.route_to_humans``) unless a person took over or the conversation closed."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pydantic
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.automation import conditions
from invekto.channels.models import Channel
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import ContactUpdate
from invekto.core import jobs, outbound
from invekto.core.actor import Actor, Permission
from invekto.core.errors import AppError, Conflict, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import clean_text, fold, keyword_match
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.flows import engine, graph, render, steps, texts
from invekto.flows.engine import (
    ChangeTags,
    Effect,
    HandOff,
    Outcome,
    Reply,
    Send,
    SetField,
    Start,
    State,
    TimedOut,
    Woke,
)
from invekto.flows.models import TO_PEOPLE, Flow, FlowSession, FlowVersion
from invekto.flows.schemas import FlowCreate, FlowDraft, FlowTriggers, TestTurnIn, TestTurnOut
from invekto.flows.steps import StepCall, StepResult
from invekto.flows.templates import FLOW_TEMPLATES
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment, Conversation, Message
from invekto.replies import variables
from invekto.tenants.models import Tenant
from invekto.users.models import AgentGroup

log = structlog.get_logger(__name__)

DEFAULT_ESCAPE_WORDS = ("agent", "insan", "temsilci", "operatör", "human")
ESCAPE_SETTING = "bot_escape_words"  # in tenants.settings
TRAIL_LENGTH = 200
# An external step's job has this long beyond the step's own timeout before the minute scan
# counts the step as failed (a worker died with it).
EXTERNAL_GRACE = timedelta(minutes=2)
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_VALUE_BYTES = 10_000
# Endings after which the conversation goes to people; a takeover or a close has its person.
_RELEASING = ("completed", "handed_off", "escaped", "timed_out", "failed")
_TAPS = ("button_reply", "list_reply", "callback", "button")


def _now() -> datetime:
    return datetime.now(UTC)


# ---- flows -------------------------------------------------------------------------------------

async def list_flows(session: AsyncSession, actor: Actor) -> list[Flow]:
    actor.require(Permission.MANAGE_CONTENT)
    return list((await session.scalars(select(Flow).where(
        Flow.tenant_id == actor.tenant_id).order_by(Flow.name, Flow.id))).all())


@dataclass(frozen=True)
class FlowStats:
    version: int | None  # the number of the published version
    running: int  # conversations in the flow now


async def flow_stats(session: AsyncSession, actor: Actor, listed: list[Flow]
                     ) -> dict[uuid.UUID, FlowStats]:
    """Each flow's published version number and the conversations running through it."""
    actor.require(Permission.MANAGE_CONTENT)
    if not listed:
        return {}
    versions = dict((await session.execute(select(FlowVersion.id, FlowVersion.number).where(
        FlowVersion.tenant_id == actor.tenant_id,
        FlowVersion.id.in_([f.published_version_id for f in listed
                            if f.published_version_id])))).all())
    running = dict((await session.execute(select(FlowSession.flow_id, func.count()).where(
        FlowSession.tenant_id == actor.tenant_id, FlowSession.state != "ended",
        FlowSession.flow_id.in_([f.id for f in listed])).group_by(FlowSession.flow_id))).all())
    return {f.id: FlowStats(versions.get(f.published_version_id), running.get(f.id, 0))
            for f in listed}


async def create_flow(session: AsyncSession, actor: Actor, data: FlowCreate) -> Flow:
    """A new flow, empty or a copy of a ready-made template (``flows.templates``)."""
    actor.require(Permission.MANAGE_CONTENT)
    if data.template is not None:
        template = FLOW_TEMPLATES[data.template]
        draft, triggers = template["graph"], template["triggers"]
    else:
        draft, triggers = {"start": None, "nodes": {}}, FlowTriggers().model_dump(mode="json")
    name = clean_text(data.name)
    if not name:
        raise ValidationFailed("name the flow", field="name")
    flow = Flow(tenant_id=actor.tenant_id, name=name, draft=draft, draft_triggers=triggers,
                created_by=actor.user_id)
    session.add(flow)
    await flush_unique(session, "a flow named '%(name)s' exists", field="name",
                       params={"name": name})
    await audit.record(session, actor, "flow.created", target_type="flow", target_id=flow.id,
                       data={"template": data.template})
    await session.refresh(flow)
    return flow


async def get_flow(session: AsyncSession, actor: Actor, flow_id: uuid.UUID, *,
                   for_update: bool = False) -> Flow:
    actor.require(Permission.MANAGE_CONTENT)
    if for_update:
        flow = await session.scalar(select(Flow).where(
            Flow.tenant_id == actor.tenant_id, Flow.id == flow_id).with_for_update())
        if flow is not None:
            return flow
    return await get_in_tenant(session, Flow, actor.tenant_id, flow_id, what=N_("flow"))


async def save_draft(session: AsyncSession, actor: Actor, flow_id: uuid.UUID,
                     data: FlowDraft) -> Flow:
    """The builder's save: the draft's shape is checked, not its completeness (``publish``
    does that); what is left out stays as it was."""
    flow = await get_flow(session, actor, flow_id, for_update=True)
    name = flow.name
    if data.name is not None:
        name = clean_text(data.name)
        if not name:
            raise ValidationFailed("name the flow", field="name")
        flow.name = name
    if data.graph is not None:
        flow.draft = graph.check_shape(data.graph)
    if data.triggers is not None:
        flow.draft_triggers = graph.check_triggers(data.triggers.model_dump(mode="json"))
    flow.updated_at = func.now()
    await flush_unique(session, "a flow named '%(name)s' exists", field="name",
                       params={"name": name})
    await session.refresh(flow)
    return flow


async def publish(session: AsyncSession, actor: Actor, flow_id: uuid.UUID) -> FlowVersion:
    """The draft, fully checked, becomes the flow's next version: conversations start on it
    from now on, those already running finish on theirs."""
    flow = await get_flow(session, actor, flow_id, for_update=True)
    catalogue = await _catalogue(session, actor, flow.draft)
    checked = graph.check_complete(flow.draft, catalogue)
    triggers = graph.check_triggers(flow.draft_triggers or {}, catalogue)
    number = (await session.scalar(select(func.max(FlowVersion.number)).where(
        FlowVersion.tenant_id == actor.tenant_id, FlowVersion.flow_id == flow.id)) or 0) + 1
    version = FlowVersion(tenant_id=actor.tenant_id, flow_id=flow.id, number=number,
                          graph=checked, triggers=triggers, published_by=actor.user_id)
    session.add(version)
    await session.flush()
    flow.published_version_id = version.id
    flow.updated_at = func.now()
    await session.flush()
    await audit.record(session, actor, "flow.published", target_type="flow", target_id=flow.id,
                       data={"version": number})
    await session.refresh(version)
    return version


async def list_versions(session: AsyncSession, actor: Actor, flow_id: uuid.UUID
                        ) -> list[FlowVersion]:
    flow = await get_flow(session, actor, flow_id)
    return list((await session.scalars(select(FlowVersion).where(
        FlowVersion.tenant_id == actor.tenant_id, FlowVersion.flow_id == flow.id
    ).order_by(FlowVersion.number.desc()))).all())


async def set_enabled(session: AsyncSession, actor: Actor, flow_id: uuid.UUID, enabled: bool
                      ) -> Flow:
    """A switched-off flow starts no conversation; those running finish."""
    flow = await get_flow(session, actor, flow_id, for_update=True)
    if flow.enabled != enabled:
        flow.enabled = enabled
        flow.updated_at = func.now()
        await session.flush()
        await audit.record(session, actor, "flow.enabled" if enabled else "flow.disabled",
                           target_type="flow", target_id=flow.id)
        await session.refresh(flow)
    return flow


async def delete_flow(session: AsyncSession, actor: Actor, flow_id: uuid.UUID) -> None:
    """The flow and its versions go; conversations it was talking in go to people first."""
    flow = await get_flow(session, actor, flow_id, for_update=True)
    running = (await session.scalars(select(FlowSession).where(
        FlowSession.tenant_id == actor.tenant_id, FlowSession.flow_id == flow.id,
        FlowSession.state != "ended"))).all()
    for flow_session in running:
        conversation = await inbox.get_conversation(session, Actor.system(actor.tenant_id),
                                                    flow_session.conversation_id,
                                                    for_update=True)
        await _end(session, flow_session, conversation, "failed", why="flow_deleted")
    await session.delete(flow)
    await session.flush()
    await audit.record(session, actor, "flow.deleted", target_type="flow", target_id=flow_id,
                       data={"name": flow.name})


async def _catalogue(session: AsyncSession, actor: Actor, draft: dict) -> graph.Catalogue:
    """What of the company the draft may name, read once for the publish check."""
    referenced = set()
    for node in (draft.get("nodes") or {}).values() if isinstance(draft, dict) else ():
        if isinstance(node, dict) and node.get("attachment_id"):
            try:
                referenced.add(uuid.UUID(str(node["attachment_id"])))
            except ValueError:
                continue
    attachments = set((await session.scalars(select(Attachment.id).where(
        Attachment.tenant_id == actor.tenant_id, Attachment.id.in_(referenced))
    )).all()) if referenced else set()
    return graph.Catalogue(
        fields=await _fields(session, actor),
        tags=frozenset(t.name for t in await contacts.list_tags(session, actor)),
        group_ids=frozenset(str(g) for g in (await session.scalars(select(AgentGroup.id).where(
            AgentGroup.tenant_id == actor.tenant_id))).all()),
        attachment_ids=frozenset(str(a) for a in attachments),
        channel_ids=frozenset(str(c) for c in (await session.scalars(select(Channel.id).where(
            Channel.tenant_id == actor.tenant_id))).all()))


async def _fields(session: AsyncSession, actor: Actor) -> dict[str, dict]:
    return {d.key: {"type": d.field_type, "options": list(d.options or []), "label": d.label}
            for d in await contacts.list_custom_fields(session, actor)}


def step_kinds() -> list[dict]:
    """For the builder's palette: the built-in kinds, then those other modules registered."""
    return steps.step_kinds()


# ---- escape words ------------------------------------------------------------------------------

async def escape_words(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
    """Words that always take a customer from the bot to a person (the company's, else
    ``DEFAULT_ESCAPE_WORDS``)."""
    tenant = await session.get_one(Tenant, tenant_id)
    words = (tenant.settings or {}).get(ESCAPE_SETTING)
    return [str(w) for w in words] if isinstance(words, list) else list(DEFAULT_ESCAPE_WORDS)


async def set_escape_words(session: AsyncSession, actor: Actor, words: list[str]) -> list[str]:
    actor.require(Permission.MANAGE_CONTENT)
    cleaned = list(dict.fromkeys(clean_text(str(w)) for w in words if clean_text(str(w))))
    if not cleaned:
        raise ValidationFailed("give at least one word", field="escape_words")
    if len(cleaned) > 30:
        raise ValidationFailed("at most %(max)s words", field="escape_words",
                               params={"max": 30})
    for n, word in enumerate(cleaned):
        if len(word) > 50:
            raise ValidationFailed("at most %(max)s characters here",
                                   field=f"escape_words.{n}", params={"max": 50})
    tenant = await session.get_one(Tenant, actor.tenant_id)
    tenant.settings = {**(tenant.settings or {}), ESCAPE_SETTING: cleaned}
    await session.flush()
    await audit.record(session, actor, "flows.escape_words", data={"words": cleaned})
    return cleaned


# ---- the runtime: starting and answering -------------------------------------------------------

@dataclass(frozen=True)
class Inbound:
    """A customer's message just stored, in the order the customer wrote."""

    conversation: Conversation
    message_id: uuid.UUID
    body: str
    payload: dict
    opened: bool  # this message opened the conversation


async def on_inbound(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                     inbounds: list[Inbound]) -> set[uuid.UUID]:
    """Start flows these messages trigger and move running ones on with the customer's
    answers; returns the conversations a bot took care of (it holds them, or it handed them
    to people itself): no welcome, no routing for those."""
    if not inbounds:
        return set()
    # A running session always holds its conversation: no query unless one is held.
    held = {i.conversation.id for i in inbounds if i.conversation.held_by_bot}
    running = {s.conversation_id: s for s in (await session.scalars(select(FlowSession).where(
        FlowSession.tenant_id == tenant_id, FlowSession.conversation_id.in_(held),
        FlowSession.state != "ended").with_for_update())).all()} if held else {}
    # The rest of the held ones may be the AI's (auto-answer): flows leave those alone.
    from invekto.ai import auto_answer  # local: the AI layer reads the inbox, as we do

    answering = await auto_answer.holding(session, tenant_id, held - running.keys())
    startable: list[tuple[Flow, FlowVersion]] | None = None
    words: list[str] | None = None
    taken: set[uuid.UUID] = set()
    for inbound in inbounds:
        conversation = inbound.conversation
        flow_session = running.get(conversation.id)
        if flow_session is not None:
            taken.add(conversation.id)
            version = await session.get_one(FlowVersion, flow_session.flow_version_id)
            reply = Reply(inbound.body, _tapped(inbound.payload))
            if words is None:
                words = await escape_words(session, tenant_id)
            state = _state_of(flow_session)
            if not engine.answers_question(version.graph, state, reply) and keyword_match(
                    inbound.body, words):
                await _guarded(session, flow_session, conversation, version, None,
                               escape=True)
            else:
                await _guarded(session, flow_session, conversation, version, reply,
                               message_id=inbound.message_id)
            if flow_session.state == "ended":
                running.pop(conversation.id)
            continue
        if conversation.id in answering:
            continue
        if conversation.held_by_bot and conversation.id not in taken:
            conversation.held_by_bot = False  # its session is gone (never left holding)
        if conversation.status == "closed":
            continue
        if startable is None:
            startable = await _startable(session, tenant_id)
        if not startable:
            continue
        found = _triggered(startable, channel_id, inbound)
        if found is None:
            continue
        flow, version, started_by = found
        if not inbound.opened and not await _may_start_again(session, conversation):
            continue
        started = await _start(session, conversation, flow, version, started_by,
                               text=inbound.body, message_id=inbound.message_id)
        if started is not None:
            taken.add(conversation.id)
            if started.state != "ended":
                running[conversation.id] = started
    return taken


def _tapped(payload: dict | None) -> str | None:
    """The id a tapped button or list row carried back (WhatsApp, Telegram)."""
    payload = payload or {}
    if payload.get("type") in _TAPS and payload.get("id"):
        return str(payload["id"])
    return None


async def _startable(session: AsyncSession, tenant_id: uuid.UUID
                     ) -> list[tuple[Flow, FlowVersion]]:
    """The company's enabled, published flows with the version they start on, newest first."""
    return [(flow, version) for flow, version in (await session.execute(
        select(Flow, FlowVersion).join(FlowVersion, (FlowVersion.tenant_id == Flow.tenant_id)
                                       & (FlowVersion.id == Flow.published_version_id))
        .where(Flow.tenant_id == tenant_id, Flow.enabled)
        .order_by(Flow.created_at.desc(), Flow.id.desc()))).all()]


def _triggered(startable: list[tuple[Flow, FlowVersion]], channel_id: uuid.UUID,
               inbound: Inbound) -> tuple[Flow, FlowVersion, str] | None:
    """The flow this message starts: the most specific trigger wins (a click-to-chat code,
    then a keyword, then the first message), and among flows with the same, the newest."""
    here = [(f, v) for f, v in startable
            if not v.triggers.get("channel_ids") or str(channel_id) in v.triggers["channel_ids"]]
    referral = inbound.conversation.referral or {}
    ref = fold(str(referral.get("ref") or ""))
    if inbound.opened and ref:
        for flow, version in here:
            if ref in {fold(c) for c in version.triggers.get("ref_codes") or []}:
                return flow, version, "ref_code"
    for flow, version in here:
        if version.triggers.get("keywords") and keyword_match(inbound.body,
                                                              version.triggers["keywords"]):
            return flow, version, "keyword"
    if inbound.opened:
        for flow, version in here:
            if version.triggers.get("first_message"):
                return flow, version, "first_message"
    return None


async def _may_start_again(session: AsyncSession, conversation: Conversation) -> bool:
    """A keyword in a conversation already going: the bot joins only while no person has it
    and it never went to people (a customer waiting for an agent is not sent back to it)."""
    if conversation.assignee_id is not None:
        return False
    went_to_people = await session.scalar(select(FlowSession.id).where(
        FlowSession.tenant_id == conversation.tenant_id,
        FlowSession.conversation_id == conversation.id,
        FlowSession.end_reason.in_(TO_PEOPLE)).limit(1))
    return went_to_people is None


async def start_flow(session: AsyncSession, conversation: Conversation, flow_id: uuid.UUID, *,
                     started_by: str) -> FlowSession | None:
    """Start ``flow_id``'s published version in the conversation (a rule's ``start_flow``
    action). None when a flow already runs there, or the flow is gone, off or unpublished."""
    if await _running(session, conversation) is not None:
        return None
    flow = await session.scalar(select(Flow).where(Flow.tenant_id == conversation.tenant_id,
                                                   Flow.id == flow_id))
    if flow is None or not flow.enabled or flow.published_version_id is None:
        return None
    version = await session.get_one(FlowVersion, flow.published_version_id)
    return await _start(session, conversation, flow, version, started_by)


async def active_session(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                         ) -> FlowSession | None:
    """The bot's session in a conversation the actor sees, while it runs."""
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    return await _running(session, conversation, lock=False)


async def _running(session: AsyncSession, conversation: Conversation, *, lock: bool = True
                   ) -> FlowSession | None:
    query = select(FlowSession).where(FlowSession.tenant_id == conversation.tenant_id,
                                      FlowSession.conversation_id == conversation.id,
                                      FlowSession.state != "ended")
    return await session.scalar(query.with_for_update() if lock else query)


async def _start(session: AsyncSession, conversation: Conversation, flow: Flow,
                 version: FlowVersion, started_by: str, *, text: str = "",
                 message_id: uuid.UUID | None = None) -> FlowSession | None:
    """A session on ``version`` and its first turn, in a savepoint: a flow that cannot start
    leaves the conversation as it was (to the welcome and routing)."""
    flow_session = FlowSession(
        tenant_id=conversation.tenant_id, flow_id=flow.id, flow_version_id=version.id,
        conversation_id=conversation.id, contact_id=conversation.contact_id, state="running",
        started_by=started_by, variables={}, trail=[], step=0, retries=0)
    try:
        async with session.begin_nested():
            session.add(flow_session)
            conversation.held_by_bot = True
            await session.flush()
            await inbox.record_bot_event(session, conversation, {
                "action": "started", "flow_id": str(flow.id), "flow": flow.name,
                "version": version.number, "started_by": started_by})
            await _turn(session, flow_session, conversation, version, Start(), text=text,
                        message_id=message_id)
    except Exception:
        log.exception("flows.start_failed", flow_id=str(flow.id),
                      conversation_id=str(conversation.id))
        await session.refresh(conversation)
        return None
    return flow_session


async def _guarded(session: AsyncSession, flow_session: FlowSession,
                   conversation: Conversation, version: FlowVersion,
                   event: engine.Input | None, *, text: str = "",
                   message_id: uuid.UUID | None = None, escape: bool = False,
                   must_move: bool = False) -> None:
    """One turn of a running session in a savepoint (``escape``: the customer asked for a
    person). If it fails, the session ends ("failed") and a person takes over; the cause (the
    customer's message, a timer) is kept. ``must_move``: a timer's turn, which must change
    the state (a session its version cannot move on, say a step kind no longer offered,
    would otherwise come due again every minute)."""
    try:
        async with session.begin_nested():
            if escape:
                await _end(session, flow_session, conversation, "escaped")
            else:
                assert event is not None
                turn = await _turn(session, flow_session, conversation, version, event,
                                   text=text if not isinstance(event, Reply) else event.text,
                                   message_id=message_id)
                if must_move and not turn.changed:
                    await _end(session, flow_session, conversation, "failed", why="stuck")
    except Exception:
        log.exception("flows.step_failed", session_id=str(flow_session.id),
                      conversation_id=str(conversation.id))
        await session.refresh(conversation)
        await session.refresh(flow_session)
        if flow_session.state == "ended":
            return
        try:
            async with session.begin_nested():
                flow_session.trail = [*flow_session.trail, {
                    "node": flow_session.node_id, "type": "", "detail": "error",
                    "at": _now().isoformat()}][-TRAIL_LENGTH:]
                await _end(session, flow_session, conversation, "failed", why="error")
        except Exception:
            log.exception("flows.handoff_failed", session_id=str(flow_session.id))
            await session.refresh(conversation)
            await session.refresh(flow_session)


async def _turn(session: AsyncSession, flow_session: FlowSession, conversation: Conversation,
                version: FlowVersion, event: engine.Input, *, text: str = "",
                message_id: uuid.UUID | None = None) -> engine.Turn:
    host = await _LiveHost.make(session, conversation, text=text, message_id=message_id)
    turn = await engine.advance(version.graph, _state_of(flow_session), event, host)
    if turn.changed:
        await _save(session, flow_session, conversation, version.graph, turn, host.handoff)
    return turn


def _state_of(flow_session: FlowSession) -> State:
    return State(node=flow_session.node_id, status=flow_session.state,
                 variables=dict(flow_session.variables or {}), retries=flow_session.retries)


async def _save(session: AsyncSession, flow_session: FlowSession, conversation: Conversation,
                graph_: dict, turn: engine.Turn, handoff: HandOff | None) -> None:
    """The turn's new state on the session; its timer (a wait's timeout, a delay's end) and
    the job of an external step; or its end."""
    now = _now()
    state = turn.state
    flow_session.node_id = state.node
    flow_session.variables = state.variables
    flow_session.retries = state.retries
    flow_session.step += 1
    flow_session.trail = [*(flow_session.trail or []),
                          *({**t, "at": now.isoformat()} for t in turn.trail)][-TRAIL_LENGTH:]
    if state.status == "ended":
        await _end(session, flow_session, conversation, state.ended or "completed",
                   group_id=handoff.group_id if handoff else None)
        return
    flow_session.state = state.status
    flow_session.due_at = None
    later: datetime | None = None
    if state.status == "waiting" and (minutes := engine.timeout_minutes(graph_, state)):
        flow_session.due_at = now + timedelta(minutes=minutes)
    elif state.status == "sleeping":
        flow_session.due_at = later = now + timedelta(seconds=engine.sleep_seconds(graph_,
                                                                                  state))
    elif (node := engine.external_step(graph_, state)) is not None:
        seconds = node.get("timeout_seconds") if isinstance(node.get("timeout_seconds"),
                                                            int) else 30
        flow_session.due_at = now + timedelta(seconds=seconds) + EXTERNAL_GRACE
    await session.flush()
    if state.status in ("sleeping", "running"):
        await _defer_advance(session, flow_session, later)


async def _defer_advance(session: AsyncSession, flow_session: FlowSession,
                         at: datetime | None) -> None:
    """The job that runs the session's external step now, or wakes it at ``at``."""
    from invekto.flows import tasks  # local: the tasks call this module

    await jobs.defer(session, tasks.advance, schedule_at=at,
                     tenant_id=str(flow_session.tenant_id), session_id=str(flow_session.id),
                     step=flow_session.step)


async def _end(session: AsyncSession, flow_session: FlowSession, conversation: Conversation,
               reason: str, *, group_id: str | None = None, user_id: uuid.UUID | None = None,
               why: str | None = None) -> None:
    """The session ends; the thread says why; the conversation goes to people unless one
    took it over or it closed (``group_id``: the handoff's group)."""
    now = _now()
    flow_session.state = "ended"
    flow_session.ended_at = now
    flow_session.end_reason = reason
    flow_session.due_at = None
    flow_session.step += 1
    conversation.held_by_bot = False
    await session.flush()
    flow = await session.get(Flow, flow_session.flow_id)
    await inbox.record_bot_event(session, conversation, {
        "action": "ended", "reason": reason, **({"why": why} if why else {}),
        "flow_id": str(flow_session.flow_id), "flow": flow.name if flow else ""},
        user_id=user_id)
    if reason in _RELEASING:
        group = await _group(session, conversation, group_id)
        await inbox.route_to_humans(session, conversation, group_id=group)
        if group is not None and conversation.assignee_id is None \
                and conversation.group_id != group:
            # A channel without routing (or a conversation queued elsewhere before): the
            # handoff's group still gets it, in its queue.
            await inbox.transfer(session, Actor.system(conversation.tenant_id),
                                 conversation.id, user_id=None, group_id=group)


async def _group(session: AsyncSession, conversation: Conversation, group_id: str | None
                 ) -> uuid.UUID | None:
    """The handoff's group if it still exists (deleted since publishing: routing decides)."""
    if not group_id:
        return None
    group = await session.get(AgentGroup, uuid.UUID(group_id))
    return group.id if group is not None and group.tenant_id == conversation.tenant_id else None


class _LiveHost:
    """The engine's effects on the real conversation, contact and thread."""

    def __init__(self, session: AsyncSession, conversation: Conversation, *, language: str,
                 values: variables.Values, fields: dict[str, dict], channel_kind: str,
                 text: str, message: Message | None):
        self.session, self.conversation = session, conversation
        self.language, self.values, self.fields = language, values, fields
        self.channel_kind, self.text, self.message = channel_kind, text, message
        self.system = Actor.system(conversation.tenant_id)
        self.handoff: HandOff | None = None

    @classmethod
    async def make(cls, session: AsyncSession, conversation: Conversation, *, text: str,
                   message_id: uuid.UUID | None) -> _LiveHost:
        tenant = await session.get_one(Tenant, conversation.tenant_id)
        system = Actor.system(conversation.tenant_id)
        channel = await session.get_one(Channel, conversation.channel_id)
        return cls(session, conversation, language=tenant.default_language,
                   values=await inbox.text_values(session, conversation.tenant_id,
                                                  conversation.contact_id,
                                                  conversation.assignee_id),
                   fields=await _fields(session, system), channel_kind=channel.kind,
                   text=text, message=await session.get(Message, message_id)
                   if message_id else None)

    async def check(self, condition: dict, flow_variables: dict, text: str
                    ) -> tuple[bool, list[dict]]:
        subject = conditions.Subject(
            tenant_id=self.conversation.tenant_id, event=None, conversation=self.conversation,
            contact=await self.session.get(Contact, self.conversation.contact_id),
            message=self.message, text=text or self.text, variables=flow_variables)
        result = await conditions.check(self.session, condition, subject)
        return result.ok, result.trace

    async def apply(self, effect: Effect) -> str | None:
        if isinstance(effect, Send):
            return await self._send(effect)
        if isinstance(effect, SetField):
            return await self._set_field(effect)
        if isinstance(effect, ChangeTags):
            return await self._tags(effect)
        if isinstance(effect, HandOff):
            await self._hand_off(effect)
        return None

    async def _send(self, send: Send) -> str | None:
        attachment_kind = None
        if send.attachment_id:
            attachment = await self.session.get(Attachment, uuid.UUID(send.attachment_id))
            if attachment is not None and attachment.tenant_id == self.conversation.tenant_id:
                attachment_kind = inbox.media_kind(attachment.content_type,
                                                   attachment.size_bytes)
        data = render.message_for(send, self.channel_kind, self.language,
                                  choice_kinds=inbox.CHOICE_KINDS,
                                  attachment_kind=attachment_kind)
        if data.content_kind == "text" and not data.body.strip():
            return "nothing to send"
        # Not ``send_automatic``: the text is rendered already, and a customer's answer in it
        # (``{{ var.name }}``) must not be read as variables a second time.
        await inbox.send_message(self.session, self.system, self.conversation.id, data,
                                 after_close=True, as_bot=True)
        return None

    async def _set_field(self, effect: SetField) -> str | None:
        target, value = effect.target, effect.value
        try:
            if target == "contact.name":
                update = ContactUpdate(name=str(value))
            elif target == "contact.phone":
                update = ContactUpdate(phone=str(value))
            elif target == "contact.email":
                update = ContactUpdate(email=str(value))
            else:
                update = ContactUpdate(custom_fields={target.removeprefix("custom."): value})
            async with self.session.begin_nested():
                await contacts.update_contact(self.session, self.system,
                                              self.conversation.contact_id, update)
        except (AppError, pydantic.ValidationError) as exc:
            log.info("flows.field_not_saved", target=target, error=str(exc))
            await self.session.refresh(self.conversation)
            return f"not saved: {target}"
        return None

    async def _tags(self, effect: ChangeTags) -> str | None:
        try:
            async with self.session.begin_nested():
                await inbox.change_tags(self.session, self.system, self.conversation.id,
                                        add=list(effect.add), remove=list(effect.remove))
        except AppError as exc:
            log.info("flows.tags_not_changed", error=str(exc))
            await self.session.refresh(self.conversation)
            return "tags not changed"
        return None

    async def _hand_off(self, effect: HandOff) -> None:
        self.handoff = effect
        if effect.note.strip():
            await inbox.add_note(self.session, self.system, body=effect.note,
                                 conversation_id=self.conversation.id)
        await inbox.record_bot_event(self.session, self.conversation, {
            "action": "handed_off", "group_id": effect.group_id, "reason": effect.reason,
            **({"note": effect.note.strip()[:2000]} if effect.note.strip() else {})})


# ---- people taking over ------------------------------------------------------------------------

async def end_for_takeover(session: AsyncSession, conversation: Conversation,
                           user_id: uuid.UUID | None) -> None:
    """An agent wrote into (or took over) a conversation the bot held: the bot stops (a
    flow's session, or the AI answering first)."""
    flow_session = await _running(session, conversation)
    conversation.held_by_bot = False
    if flow_session is not None:
        await _end(session, flow_session, conversation, "taken_over", user_id=user_id)
    from invekto.ai import auto_answer  # local: the AI layer reads the inbox, as we do

    await auto_answer.end(session, conversation, "takeover", user_id=user_id)


async def end_for_close(session: AsyncSession, conversation: Conversation) -> None:
    """The conversation was closed: its bot session ends too (a flow's, or the AI's)."""
    flow_session = await _running(session, conversation)
    conversation.held_by_bot = False
    if flow_session is not None:
        await _end(session, flow_session, conversation, "conversation_closed")
    from invekto.ai import auto_answer  # local: the AI layer reads the inbox, as we do

    await auto_answer.end(session, conversation, "closed")


async def take_over(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                    ) -> Conversation:
    """An agent who sees the conversation stops the bot and takes it (assigned to them when
    nobody has it yet)."""
    conversation = await inbox.get_conversation(session, actor, conversation_id,
                                                for_update=True)
    # Held with no flow running: the AI answers first there (auto-answer).
    if not conversation.held_by_bot and await _running(session, conversation) is None:
        raise Conflict("no bot is talking in this conversation", field="conversation_id",
                       code="bot_not_active")
    if conversation.assignee_id is None and actor.user_id is not None:
        conversation = await inbox.assign(session, actor, conversation_id, actor.user_id)
    await end_for_takeover(session, conversation, actor.user_id)
    await session.refresh(conversation)
    return conversation


# ---- timers and external steps (``flows.tasks``) ----------------------------------------------

async def due_sessions(session: AsyncSession, *, now: datetime | None = None,
                       tenant_id: uuid.UUID | None = None, limit: int = 500
                       ) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, session) of sessions whose wait timed out, delay ended or external step
    overran (``tenant_id``: one company's only). System scope: the minute scan's list."""
    query = select(FlowSession.tenant_id, FlowSession.id).where(
        FlowSession.state != "ended", FlowSession.due_at <= (now or _now()))
    if tenant_id is not None:
        query = query.where(FlowSession.tenant_id == tenant_id)
    return [(tenant, found) for tenant, found in (await session.execute(
        query.order_by(FlowSession.due_at).limit(limit))).all()]


async def time_out(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID, *,
                   now: datetime | None = None) -> bool:
    """A due session moves on: a waiting step's timeout branch (or a person), the step after
    a delay, or an external step counted as failed. False when another scan or the customer
    got there first."""
    now = now or _now()
    found = await _locked(session, tenant_id, session_id)
    if found is None:
        return False
    flow_session, conversation = found
    if flow_session.state == "ended" or flow_session.due_at is None \
            or flow_session.due_at > now:
        return False
    event: engine.Input = {"waiting": TimedOut(), "sleeping": Woke()}.get(
        flow_session.state, Outcome(StepResult(ok=False, detail="no answer")))
    version = await session.get_one(FlowVersion, flow_session.flow_version_id)
    await _guarded(session, flow_session, conversation, version, event, must_move=True)
    return True


async def _locked(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID
                  ) -> tuple[FlowSession, Conversation] | None:
    """The session and its conversation under their row locks, the conversation's first (the
    order the ingest takes them in); None when another transaction holds the session."""
    conversation_id = await session.scalar(select(FlowSession.conversation_id).where(
        FlowSession.tenant_id == tenant_id, FlowSession.id == session_id))
    if conversation_id is None:
        return None
    conversation = await inbox.get_conversation(session, Actor.system(tenant_id),
                                                conversation_id, for_update=True)
    flow_session = await session.scalar(select(FlowSession).where(
        FlowSession.tenant_id == tenant_id, FlowSession.id == session_id
    ).with_for_update(skip_locked=True).execution_options(populate_existing=True))
    return (flow_session, conversation) if flow_session is not None else None


@dataclass(frozen=True)
class ExternalCall:
    """An external step ready to run outside any transaction: its node, its texts rendered."""

    kind: str
    call: StepCall
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 5


@dataclass(frozen=True)
class Pending:
    """What an ``advance`` job found to do: wake a session from its delay, or run a step."""

    wake: bool = False
    external: ExternalCall | None = None


async def pending_step(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID,
                       step: int, *, now: datetime | None = None) -> Pending | None:
    """The job's first, short transaction: what the session at ``step`` waits for (None: it
    moved on since, or it is not time yet)."""
    flow_session = await session.scalar(select(FlowSession).where(
        FlowSession.tenant_id == tenant_id, FlowSession.id == session_id))
    if flow_session is None or flow_session.step != step or flow_session.state == "ended":
        return None
    if flow_session.state == "sleeping":
        due = flow_session.due_at
        return Pending(wake=True) if due is not None and due <= (now or _now()) else None
    version = await session.get_one(FlowVersion, flow_session.flow_version_id)
    state = _state_of(flow_session)
    node = engine.external_step(version.graph, state)
    if node is None:
        return None
    values = await inbox.text_values(session, tenant_id, flow_session.contact_id)
    return Pending(external=external_call(
        tenant_id, node, values, state.variables, conversation_id=flow_session.conversation_id,
        contact_id=flow_session.contact_id))


def external_call(tenant_id: uuid.UUID, node: dict, values: variables.Values,
                  flow_variables: dict, *, conversation_id: uuid.UUID | None,
                  contact_id: uuid.UUID | None) -> ExternalCall:
    kind = str(node.get("type"))
    if kind == "http":
        from urllib.parse import quote

        rendered = {"url": texts.render(str(node.get("url") or ""), values, flow_variables,
                                        quote=lambda v: quote(v, safe="")),
                    "body": texts.render(str(node.get("body") or ""), values, flow_variables)}
        # One line each (a value cannot add headers), in UTF-8 (names of people).
        given = node.get("headers") if isinstance(node.get("headers"), dict) else {}
        headers = {str(k): " ".join(texts.render(str(v), values, flow_variables).split())
                   for k, v in given.items()}
        seconds = node.get("timeout_seconds")
        return ExternalCall(kind, StepCall(tenant_id, conversation_id, contact_id, node,
                                           rendered, flow_variables),
                            method=str(node.get("method") or "GET").upper(), headers=headers,
                            timeout_seconds=seconds if isinstance(seconds, int) else 5)
    registered = steps.registered(kind)
    keys = registered.texts if registered else ()
    rendered = {key: texts.render(str(node.get(key) or ""), values, flow_variables)
                for key in keys}
    return ExternalCall(kind, StepCall(tenant_id, conversation_id, contact_id, node, rendered,
                                       flow_variables))


async def run_external(call: ExternalCall) -> StepResult:
    """Run an external step: never inside a transaction (it waits on someone else)."""
    if call.kind == "http":
        return await _http(call)
    registered = steps.registered(call.kind)
    if registered is None:
        return StepResult(ok=False, detail="unknown step")
    try:
        result = await registered.run(call.call)
    except Exception as exc:
        log.warning("flows.external_step_failed", kind=call.kind, error=str(exc))
        return StepResult(ok=False, detail="failed")
    kept = {k: v for k, v in result.values.items() if _small(v)}
    return StepResult(ok=result.ok, exit=result.exit, values=kept, reply=result.reply,
                      detail=result.detail)


async def _http(call: ExternalCall) -> StepResult:
    url = call.call.rendered.get("url", "")
    if not url.lower().startswith(("http://", "https://")):
        return StepResult(ok=False, detail="not an http(s) address")
    if call.method not in ("GET", "POST"):  # a draft's, in the test panel (publish checks it)
        return StepResult(ok=False, detail="not GET or POST")
    body = call.call.rendered.get("body", "")
    try:
        async with outbound.client(timeout=call.timeout_seconds) as client, client.stream(
                call.method, url, headers={k: v.encode() for k, v in call.headers.items()},
                content=body.encode() if call.method == "POST" and body else None
        ) as response:
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > MAX_RESPONSE_BYTES:
                    return StepResult(ok=False, detail="answer too large")
    except outbound.RefusedAddress as exc:
        log.info("flows.http_refused", error=str(exc))
        return StepResult(ok=False, detail="address not allowed")
    except httpx.TimeoutException:
        return StepResult(ok=False, detail="timed out")
    except (httpx.HTTPError, ValueError) as exc:
        log.info("flows.http_failed", error=str(exc))
        return StepResult(ok=False, detail="could not connect")
    detail = f"HTTP {response.status_code}"
    if not 200 <= response.status_code < 300:
        return StepResult(ok=False, detail=detail)
    save = call.call.node.get("save")
    if not isinstance(save, dict) or not save:
        return StepResult(detail=detail)
    try:
        answer = json.loads(bytes(received))
    except ValueError:
        return StepResult(ok=False, detail=f"{detail}, not JSON")
    values = {}
    for name, path in save.items():
        value = _dig(answer, str(path))
        if value is not None and _small(value):
            values[str(name)] = value
    return StepResult(values=values, detail=detail)


def _dig(value: object, path: str) -> object:
    """``data.items.0.name`` in a JSON answer (None where it is not there)."""
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _small(value: object) -> bool:
    return len(json.dumps(value, ensure_ascii=False, default=str)) <= MAX_VALUE_BYTES


async def finish_step(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID,
                      step: int, outcome: StepResult | None, *,
                      now: datetime | None = None) -> bool:
    """The job's last transaction: the session, locked, still at ``step``, moves on with the
    step's result (``outcome``) or from its delay (None). False: overtaken meanwhile (the
    customer escaped, an agent took over, the scan timed it out)."""
    found = await _locked(session, tenant_id, session_id)
    if found is None:
        return False
    flow_session, conversation = found
    if flow_session.step != step or flow_session.state == "ended":
        return False
    if outcome is None:
        if flow_session.state != "sleeping" or flow_session.due_at is None \
                or flow_session.due_at > (now or _now()):
            return False
        event: engine.Input = Woke()
    else:
        event = Outcome(outcome)
    version = await session.get_one(FlowVersion, flow_session.flow_version_id)
    await _guarded(session, flow_session, conversation, version, event)
    return True


# ---- the builder's test panel ------------------------------------------------------------------

class _TestHost:
    """The engine in the test panel: nothing is sent or written; replies and would-be writes
    are collected. The contact is a pretend one, carried in the panel's state."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, *, language: str,
                 values: variables.Values, fields: dict[str, dict], contact: dict):
        self.session, self.tenant_id = session, tenant_id
        self.language, self.values, self.fields = language, values, fields
        self.contact = contact
        self.replies: list[dict] = []
        self.handoff: dict | None = None

    async def check(self, condition: dict, flow_variables: dict, text: str
                    ) -> tuple[bool, list[dict]]:
        try:
            condition = conditions.validate(condition, field="when", for_flows=True)
        except ValidationFailed as exc:
            return False, [{"error": exc.message, "field": exc.field}]
        contact = Contact(tenant_id=self.tenant_id, name=self.contact.get("name", ""),
                          phone=self.contact.get("phone"), email=self.contact.get("email"),
                          tags=list(self.contact.get("tags", [])),
                          custom_fields=dict(self.contact.get("custom", {})))
        subject = conditions.Subject(tenant_id=self.tenant_id, event=None, conversation=None,
                                     contact=contact, message=None, text=text,
                                     variables=flow_variables)
        result = await conditions.check(self.session, condition, subject)
        return result.ok, result.trace

    async def apply(self, effect: Effect) -> str | None:
        if isinstance(effect, Send):
            self.replies.append({"text": effect.text, "choices": [
                {"id": o["id"], "title": o["title"]} for o in effect.options] or None,
                "attachment_id": effect.attachment_id})
            return None
        if isinstance(effect, SetField):
            key = effect.target.removeprefix("contact.")
            if effect.target.startswith("custom."):
                self.contact.setdefault("custom", {})[effect.target[7:]] = effect.value
            else:
                self.contact[key] = effect.value
            return f"would save {effect.target} = {effect.value}"
        if isinstance(effect, ChangeTags):
            tags = [t for t in self.contact.get("tags", []) if t not in effect.remove]
            self.contact["tags"] = tags + [t for t in effect.add if t not in tags]
            return "would tag: " + ", ".join(
                [*(f"+{t}" for t in effect.add), *(f"-{t}" for t in effect.remove)])
        if isinstance(effect, HandOff):
            self.handoff = {"group_id": effect.group_id, "note": effect.note,
                            "reason": effect.reason}
            return "would hand off"
        return None


def _pretend_contact(value: object) -> dict:
    """The test panel's pretend contact as the panel sent it back; what no contact could hold
    is dropped (the state comes from the browser)."""
    if not isinstance(value, dict):
        return {}
    contact: dict = {k: value[k] for k in ("name", "phone", "email")
                     if isinstance(value.get(k), str)}
    if isinstance(value.get("tags"), list):
        contact["tags"] = [t for t in value["tags"] if isinstance(t, str)]
    if isinstance(value.get("custom"), dict):
        contact["custom"] = {str(k): v for k, v in value["custom"].items()
                             if isinstance(v, str | int | float | bool)}
    return contact


async def test_turn(session: AsyncSession, actor: Actor, flow_id: uuid.UUID,
                    data: TestTurnIn) -> TestTurnOut:
    """One turn of the DRAFT in memory, as a customer would have it: nothing sent, nothing
    written (shown in the trail); HTTP steps and look-ups are really called; delays are
    skipped."""
    flow = await get_flow(session, actor, flow_id)
    draft = flow.draft if isinstance(flow.draft, dict) else {}
    previous = data.state if isinstance(data.state, dict) else None
    contact = _pretend_contact(previous.get("contact")) if previous else {}
    state = State.from_dict(previous)
    if previous is None or state.status == "ended":
        state, event, contact = State(), Start(), {}
    elif data.timeout:
        event = TimedOut()
    else:
        event = Reply(data.text, data.choice_id)
    tenant = await session.get_one(Tenant, actor.tenant_id)
    values = variables.Values(
        contact_name=str(contact.get("name", "")), contact_phone=str(contact.get("phone", "")),
        contact_email=str(contact.get("email", "")), custom=dict(contact.get("custom", {})),
        company_name=tenant.name, today=variables.today_text(_now().date()))
    host = _TestHost(session, actor.tenant_id, language=tenant.default_language, values=values,
                     fields=await _fields(session, actor), contact=contact)
    trail: list[dict] = []
    for _ in range(engine.MAX_STEPS):
        turn = await engine.advance(draft, state, event, host)
        trail += turn.trail
        state = turn.state
        if state.status == "sleeping":
            event = Woke()
            continue
        node = engine.external_step(draft, state)
        if node is None:
            break
        result = await run_external(external_call(actor.tenant_id, node, host.values,
                                                  state.variables, conversation_id=None,
                                                  contact_id=None))
        event = Outcome(result)
    return TestTurnOut(state={**state.as_dict(), "contact": host.contact},
                       replies=host.replies, trail=trail, ended=state.ended,
                       handoff=host.handoff)


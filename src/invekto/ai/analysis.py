"""Chat analysis: for a conversation (every closed one, by the ``ai:analyse`` job, or any one on
demand), the customer's sentiment and purchase intent with its reasons, and the 15-criterion
quality score of the agents' handling (``quality``). One analysis per conversation, replaced
when analysed again; the reports read them (hot leads, average scores per agent).

Builtin (always, and the fallback): sentiment and intent are ``classify``'s seed models over the
customer's latest words (one text, up to the embedder's 2,000 characters: the end of a
conversation says more than its start); the quality criteria are ``quality``'s rules, checked
against the knowledge base's passages nearest the conversation (one search).

With an LLM (``_judge``): the transcript, what was measured (reply times, a scheduled message)
and the same passages go to the company's model in one call, answered in a strict JSON schema
(sentiment, intent level and reasons, each of the 15 criteria's score and reason). A failure, a
missing criterion or a value outside the schema is no answer (``service.call_llm`` returns
None) and the builtin analysis stands.

Like reply suggestions, what is needed is read first, the caller's transaction committed before
the model is called (it may take seconds; no connection is held), and the result stored in a
new short transaction. At most the last ``MAX_MESSAGES`` messages are read."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field, create_model
from sqlalchemy import Float, and_, cast, desc, exists, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import classify, knowledge, quality, service
from invekto.ai.models import ConversationAnalysis, KnowledgeChunk
from invekto.ai.providers.base import ChatTurn, Generator, Usage
from invekto.ai.providers.builtin import MAX_CHARS
from invekto.contacts.models import Contact
from invekto.core import i18n, jobs
from invekto.core.actor import Actor, Permission
from invekto.core.errors import NotFound, ValidationFailed
from invekto.core.i18n import N_
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message, ScheduledMessage
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

MAX_MESSAGES = 200
# The knowledge base's passages the facts are checked against.
KNOWLEDGE_PASSAGES = 6
# Conversations one batch request may queue.
MAX_BATCH = 500
DEFAULT_BATCH = 100
HOT_INTENTS = ("high", "medium")
# What the LLM reads: each message cut to this, the transcript's latest part up to the total.
MAX_MESSAGE_CHARS = 1000
MAX_TRANSCRIPT_CHARS = 24_000
MAX_REASON_CHARS = 300
LLM_MAX_TOKENS = 2500
NO_CUSTOMER_TEXT = N_("the customer wrote nothing")
LANGUAGE_NAMES = {"tr": "Turkish", "en": "English"}


@dataclass(frozen=True)
class Judgement:
    """An analysis's findings, builtin or the LLM's."""

    provider: str
    sentiment: str
    sentiment_scores: dict[str, float]
    intent: str
    intent_reasons: list[str]
    quality: list[dict[str, Any]]  # quality.Score.as_dict(), in CRITERIA's order

    @property
    def quality_score(self) -> int | None:
        return quality.quality_score(self.quality)


@dataclass(frozen=True)
class Prepared:
    """What was read, for the LLM and for storing, with the builtin findings."""

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID | None
    turns: list[quality.Turn]
    facts: quality.Facts
    last_message_at: datetime | None
    builtin: Judgement
    company: str
    language: str


# ---- reading the conversation ---------------------------------------------------------------


def _role(message: Message) -> quality.Role:
    if message.direction == "inbound":
        return "customer"
    # A chatbot's, an automatic (welcome, away, follow-up) or an API key's message is not an
    # agent's: only a person's counts for their quality.
    return "agent" if message.sender_kind == "agent" else "bot"


def _latest(texts: list[str], limit: int = MAX_CHARS) -> str:
    """The latest of ``texts`` that fit in ``limit`` characters, in order."""
    kept: list[str] = []
    size = 0
    for text in reversed(texts):
        text = text.strip()
        if not text:
            continue
        if size + len(text) + 1 > limit:
            if not kept:
                kept.append(text[-limit:])
            break
        kept.append(text)
        size += len(text) + 1
    return "\n".join(reversed(kept))


def _read_customer(text: str) -> tuple[classify.Sentiment, classify.Intent]:
    """The seed models' reading of the customer's words (fits them on first use: a few
    seconds; run in a thread). One embedding serves both."""
    vectors = classify.seed_embeddings([text])
    return (classify.sentiment([text], embeddings=vectors)[0],
            classify.intent([text], embeddings=vectors)[0])


async def _knowledge(session: AsyncSession, conversation: Conversation,
                     turns: list[quality.Turn]) -> tuple[str, ...] | None:
    """The knowledge base's passages nearest what was said (the customer's and the agents'
    words); None when the company's knowledge base is empty."""
    has_any = await session.scalar(select(exists().where(
        KnowledgeChunk.tenant_id == conversation.tenant_id)))
    if not has_any:
        return None
    said = _latest([turn.text for turn in turns if turn.role != "bot"],
                   knowledge.MAX_QUESTION_CHARS)
    if not said:
        return ()
    hits = await knowledge.search(session, conversation.tenant_id, said,
                                  channel_id=conversation.channel_id, limit=KNOWLEDGE_PASSAGES)
    return tuple(hit.text for hit in hits)


async def prepare(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                  ) -> Prepared:
    """Read a conversation the actor may see and analyse it with the builtin models."""
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    messages = list(reversed((await session.scalars(
        select(Message).where(Message.tenant_id == actor.tenant_id,
                              Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(MAX_MESSAGES))).all()))
    turns = [quality.Turn(_role(message), message.body or "", message.created_at)
             for message in messages]
    contact_name = await session.scalar(select(Contact.name).where(
        Contact.tenant_id == actor.tenant_id, Contact.id == conversation.contact_id))
    scheduled = await session.scalar(select(exists().where(
        ScheduledMessage.tenant_id == actor.tenant_id,
        ScheduledMessage.conversation_id == conversation_id,
        ScheduledMessage.author_id.is_not(None),
        ScheduledMessage.status.in_(("scheduled", "sent")))))
    passages = await _knowledge(session, conversation, turns)
    tenant = await session.get_one(Tenant, actor.tenant_id)

    customer_text = _latest([turn.text for turn in turns if turn.role == "customer"])
    if customer_text:
        feeling, wanting = await asyncio.to_thread(_read_customer, customer_text)
        sentiment, scores = feeling.label, feeling.scores
        intent, reasons = wanting.level, list(wanting.reasons)
    else:
        sentiment, scores, intent, reasons = "neutral", {}, "none", [NO_CUSTOMER_TEXT]
    facts = quality.Facts(customer_name=contact_name, knowledge=passages,
                          follow_up_scheduled=bool(scheduled),
                          closed=conversation.status == "closed", purchase_intent=intent,
                          sentiment=sentiment)
    builtin = Judgement("builtin", sentiment, scores, intent, reasons,
                        [item.as_dict() for item in quality.score(turns, facts)])
    last_agent = next((message.sender_user_id for message in reversed(messages)
                       if _role(message) == "agent" and message.sender_user_id), None)
    return Prepared(
        tenant_id=actor.tenant_id, conversation_id=conversation_id,
        agent_id=conversation.assignee_id or last_agent, turns=turns, facts=facts,
        last_message_at=messages[-1].created_at if messages else None, builtin=builtin,
        company=tenant.name, language=tenant.default_language)


# ---- with an LLM ----------------------------------------------------------------------------


class _Judged(BaseModel):
    score: Literal[0, 1, 2] | None = Field(
        description="0, 1 or 2 points as defined; null when the criterion does not apply")
    reason: str = Field(description="why, in one short line")


_Criteria = create_model(  # one required property per criterion: none can be left out
    "Criteria", **{criterion.key: (_Judged, Field(description=criterion.label))
                   for criterion in quality.CRITERIA})


class _Analysis(BaseModel):
    sentiment: Literal["negative", "neutral", "positive"] = Field(
        description="the customer's feeling over the conversation")
    intent: Literal["none", "low", "medium", "high"] = Field(
        description="the customer's purchase intent")
    intent_reasons: list[str] = Field(description="one to three short reasons for the intent")
    criteria: _Criteria  # type: ignore[valid-type]


_SYSTEM = """You review a customer-service conversation of {company}, a business that talks
with its customers on WhatsApp and other messaging channels, mostly in Turkish.

Judge two things:
1. The customer: their sentiment (negative, neutral or positive) and their purchase intent
   (none: no sign of buying, an after-sales question or a complaint; low: general interest;
   medium: asks about the details, prices, availability of a product or service; high: ready
   to buy, book or pay), with one to three short reasons.
2. How the company's agents handled it, by the 15 criteria below. "Agent" lines are the
   people's; "Bot" lines are a chatbot's or automatic messages and earn the agents nothing.
   Score each criterion 0, 1 or 2 exactly as defined, or null when it does not apply, with a
   one-line reason.

{criteria}

Judge facts (prices, hours, figures) against the KNOWLEDGE BASE passages given: a figure the
agent stated that they contradict or do not contain is not correct information. Write every
reason in {language}, in one short line."""


def _criteria_text() -> str:
    lines = []
    for number, criterion in enumerate(quality.CRITERIA, start=1):
        zero, one, two = criterion.points
        lines.append(f"{number}. {criterion.key} ({criterion.label}): 2 = {two}; 1 = {one}; "
                     f"0 = {zero}; null = {criterion.not_applicable}.")
    return "\n".join(lines)


def _transcript(prepared: Prepared) -> str:
    speaker = {"customer": "Customer", "agent": "Agent", "bot": "Bot"}
    lines = [f"[{turn.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC] {speaker[turn.role]}: "
             f"{turn.text.strip()[:MAX_MESSAGE_CHARS] or '(an attachment)'}"
             for turn in prepared.turns]
    return _latest(lines, MAX_TRANSCRIPT_CHARS)


def _measured(prepared: Prepared) -> str:
    speed = next(item for item in prepared.builtin.quality
                 if item["criterion"] == "response_speed")
    facts = prepared.facts
    said = [f"Conversation status: {'closed' if facts.closed else 'open'}.",
            "An agent scheduled a message to the customer: "
            f"{'yes' if facts.follow_up_scheduled else 'no'}."]
    if speed["score"] is not None:
        said.append(f"Agents' first reply after {speed['params']['first']} min; the slowest "
                    f"after {speed['params']['slowest']} min.")
    return "\n".join(said)


def _user_turn(prepared: Prepared) -> str:
    passages = prepared.facts.knowledge
    if passages is None:
        known = "(the company's knowledge base is empty)"
    else:
        known = "\n".join(f"- {passage}" for passage in passages) or "(nothing relevant)"
    return (f"MEASURED:\n{_measured(prepared)}\n\nKNOWLEDGE BASE:\n{known}\n\n"
            f"CONVERSATION:\n{_transcript(prepared)}")


def _from_llm(answer: _Analysis, provider: str) -> Judgement:
    criteria = answer.criteria
    judged = [{"criterion": key, "score": getattr(criteria, key).score,
               "reason": " ".join(getattr(criteria, key).reason.split())[:MAX_REASON_CHARS],
               "params": {}} for key in quality.KEYS]
    reasons = [" ".join(reason.split())[:MAX_REASON_CHARS]
               for reason in answer.intent_reasons if reason.strip()][:3]
    return Judgement(provider, answer.sentiment, {}, answer.intent,
                     reasons or [classify.GENERIC_REASONS[answer.intent]], judged)


async def _judge(db, prepared: Prepared, settings: service.LLMSettings) -> Judgement | None:
    """The company's LLM's analysis; None when it has none or the call failed (no
    transaction may be open: ``db``, the runtime's database, counts the usage)."""
    system = _SYSTEM.format(company=prepared.company, criteria=_criteria_text(),
                            language=LANGUAGE_NAMES.get(prepared.language, "Turkish"))
    turn = ChatTurn("user", _user_turn(prepared))

    async def ask(generator: Generator) -> tuple[_Analysis, Usage]:
        return await generator.generate_json(system=system, turns=[turn], schema=_Analysis,
                                             max_tokens=LLM_MAX_TOKENS)

    answer = await service.call_llm(db, settings, ask)
    return None if answer is None else _from_llm(answer, settings.provider)


# ---- storing and reading --------------------------------------------------------------------


async def store(session: AsyncSession, prepared: Prepared, judgement: Judgement
                ) -> ConversationAnalysis:
    """Keep the analysis, replacing the conversation's earlier one."""
    values = {
        "agent_id": prepared.agent_id, "provider": judgement.provider,
        "sentiment": judgement.sentiment, "sentiment_scores": judgement.sentiment_scores,
        "intent": judgement.intent, "intent_reasons": judgement.intent_reasons,
        "quality": judgement.quality, "quality_score": judgement.quality_score,
        "messages_analysed": len(prepared.turns), "last_message_at": prepared.last_message_at,
        "analysed_at": func.now(), "updated_at": func.now(),
    }
    statement = pg_insert(ConversationAnalysis).values(
        tenant_id=prepared.tenant_id, conversation_id=prepared.conversation_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "conversation_id"], set_=values
    ).returning(ConversationAnalysis)
    return await session.scalar(statement, execution_options={"populate_existing": True})


async def analyse(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                  db) -> ConversationAnalysis:
    """Analyse a conversation the actor may see, now, and keep it. With the company's LLM on,
    ``session`` — which has only read by then — is committed before the model is called and
    the analysis stored in a new transaction (``db``: the runtime's database). An analysis
    that already read every message, by the provider the company uses now, is returned as it
    is: a double click or a retried job costs nothing."""
    settings = await service.llm_settings(session, actor.tenant_id)
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    stored = await stored_for(session, conversation)
    if stored is not None and stored.provider == settings.provider and not is_stale(
            stored, conversation):
        return stored
    prepared = await prepare(session, actor, conversation_id)
    if not (settings.enabled and any(turn.text.strip() for turn in prepared.turns)):
        return await store(session, prepared, prepared.builtin)
    await session.commit()
    judged = await _judge(db, prepared, settings)
    async with db.tenant_session(actor.tenant_id) as fresh:
        return await store(fresh, prepared, judged or prepared.builtin)


async def get_analysis(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                       ) -> ConversationAnalysis | None:
    """The stored analysis of a conversation the actor may see (None: never analysed)."""
    return await stored_for(session, await inbox.get_conversation(session, actor,
                                                                  conversation_id))


async def stored_for(session: AsyncSession, conversation: Conversation
                     ) -> ConversationAnalysis | None:
    """The stored analysis of a conversation already read (its visibility checked)."""
    return await session.scalar(select(ConversationAnalysis).where(
        ConversationAnalysis.tenant_id == conversation.tenant_id,
        ConversationAnalysis.conversation_id == conversation.id))


def is_stale(analysis: ConversationAnalysis, conversation: Conversation) -> bool:
    """Whether messages came after what the analysis read (a conversation's last message time
    is its newest message's own)."""
    if conversation.last_message_at is None:
        return False
    return analysis.last_message_at is None or \
        conversation.last_message_at > analysis.last_message_at


def reason_text(item: dict[str, Any], language: str) -> str:
    """A criterion's reason in ``language`` (an LLM's own words stay as written)."""
    params = item.get("params") or {}
    try:
        return i18n.text(language, item["reason"], **params)
    except (KeyError, TypeError, ValueError):  # a placeholder the params do not fill
        return item["reason"]


# ---- reports --------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    """A time given without its zone is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HotLead:
    analysis: ConversationAnalysis
    contact_id: uuid.UUID
    contact_name: str
    status: str  # the conversation's


async def hot_leads(session: AsyncSession, actor: Actor, *, since: datetime,
                    limit: int = 50) -> list[HotLead]:
    """Conversations whose customer showed high or medium purchase intent, analysed since
    ``since``, newest first. Supervisors'."""
    actor.require(Permission.SEE_REPORTS)
    since = _aware(since)
    rows = await session.execute(
        select(ConversationAnalysis, Conversation.contact_id, Contact.name, Conversation.status)
        .join(Conversation, and_(Conversation.tenant_id == ConversationAnalysis.tenant_id,
                                 Conversation.id == ConversationAnalysis.conversation_id))
        .join(Contact, and_(Contact.tenant_id == Conversation.tenant_id,
                            Contact.id == Conversation.contact_id))
        .where(ConversationAnalysis.tenant_id == actor.tenant_id,
               ConversationAnalysis.intent.in_(HOT_INTENTS),
               ConversationAnalysis.analysed_at >= since)
        .order_by(ConversationAnalysis.analysed_at.desc(), ConversationAnalysis.id.desc())
        .limit(limit))
    return [HotLead(analysis, contact_id, name or "", status)
            for analysis, contact_id, name, status in rows]


@dataclass(frozen=True)
class AgentAverage:
    agent_id: uuid.UUID
    conversations: int
    quality_score: float | None  # the average of the conversations' scores
    criteria: dict[str, float]  # each criterion's average points (0-2) where it applied


async def agent_averages(session: AsyncSession, actor: Actor, *, since: datetime,
                         until: datetime) -> list[AgentAverage]:
    """Per agent, the conversations analysed in [since, until) with their average quality
    score and each criterion's average points; best average first. Supervisors'."""
    actor.require(Permission.SEE_REPORTS)
    since, until = _aware(since), _aware(until)
    if until <= since:
        raise ValidationFailed("the end of the period must come after its start", field="until")
    in_period = (ConversationAnalysis.tenant_id == actor.tenant_id,
                 ConversationAnalysis.agent_id.is_not(None),
                 ConversationAnalysis.analysed_at >= since,
                 ConversationAnalysis.analysed_at < until)
    totals = await session.execute(
        select(ConversationAnalysis.agent_id, func.count(),
               func.avg(ConversationAnalysis.quality_score))
        .where(*in_period).group_by(ConversationAnalysis.agent_id))
    item = func.jsonb_array_elements(ConversationAnalysis.quality).table_valued(
        "value").lateral("item")
    criterion = item.c.value.op("->>")("criterion")
    points = item.c.value.op("->>")("score")
    per_criterion = await session.execute(
        select(ConversationAnalysis.agent_id, criterion, func.avg(cast(points, Float)))
        .select_from(ConversationAnalysis).join(item, literal_column("true"))
        .where(*in_period, func.jsonb_typeof(item.c.value.op("->")("score")) == "number")
        .group_by(ConversationAnalysis.agent_id, criterion))
    criteria: dict[uuid.UUID, dict[str, float]] = {}
    for agent_id, key, average in per_criterion:
        criteria.setdefault(agent_id, {})[key] = round(float(average), 2)
    found = [AgentAverage(agent_id, count,
                          None if average is None else round(float(average), 1),
                          {key: criteria.get(agent_id, {})[key] for key in quality.KEYS
                           if key in criteria.get(agent_id, {})})
             for agent_id, count, average in totals]
    found.sort(key=lambda row: (row.quality_score is None, -(row.quality_score or 0),
                                -row.conversations))
    return found


# ---- jobs -----------------------------------------------------------------------------------


async def _defer(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID
                 ) -> None:
    from invekto.ai import tasks  # the job module imports this one

    # One waiting job per conversation: a second request before it ran adds nothing.
    await jobs.defer(session, tasks.analyse, queueing_lock=f"ai.analysis.{conversation_id}",
                     tenant_id=str(tenant_id), conversation_id=str(conversation_id))


async def after_close(session: AsyncSession, tenant_id: uuid.UUID,
                      conversation_id: uuid.UUID) -> None:
    """Every closed conversation is analysed (a job), so the reports fill themselves."""
    await _defer(session, tenant_id, conversation_id)


async def queue_batch(session: AsyncSession, actor: Actor, *,
                      conversation_ids: list[uuid.UUID] | None = None,
                      closed_since: datetime | None = None, limit: int = DEFAULT_BATCH) -> int:
    """Queue the analysis of the conversations named (at most ``MAX_BATCH``), or of those
    closed since ``closed_since`` (the newest ``limit``); returns how many. Supervisors'.
    Unknown ids are a 404 naming them, and nothing is queued."""
    actor.require(Permission.SEE_REPORTS)
    if (conversation_ids is None) == (closed_since is None):
        raise ValidationFailed("give either conversation_ids or closed_since",
                               field="conversation_ids")
    if conversation_ids is not None:
        wanted = list(dict.fromkeys(conversation_ids))
        if not wanted or len(wanted) > MAX_BATCH:
            raise ValidationFailed("give 1 to %(max)s conversations", field="conversation_ids",
                                   params={"max": MAX_BATCH})
        found = set(await session.scalars(select(Conversation.id).where(
            Conversation.tenant_id == actor.tenant_id, Conversation.id.in_(wanted))))
        if missing := [str(conversation) for conversation in wanted
                       if conversation not in found]:
            raise NotFound("conversations not found: %(ids)s", field="conversation_ids",
                           params={"ids": ", ".join(missing[:20])})
    else:
        assert closed_since is not None
        closed_since = _aware(closed_since)
        if not 1 <= limit <= MAX_BATCH:
            raise ValidationFailed("give a limit of 1 to %(max)s", field="limit",
                                   params={"max": MAX_BATCH})
        wanted = list(await session.scalars(select(Conversation.id).where(
            Conversation.tenant_id == actor.tenant_id, Conversation.status == "closed",
            Conversation.closed_at >= closed_since)
            .order_by(desc(Conversation.closed_at)).limit(limit)))
    for conversation_id in wanted:
        await _defer(session, actor.tenant_id, conversation_id)
    log.info("ai.analysis_queued", tenant_id=str(actor.tenant_id), conversations=len(wanted))
    return len(wanted)

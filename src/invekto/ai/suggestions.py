"""Reply suggestions: while an agent reads a conversation, up to three replies to the
customer's latest question, drawn from the knowledge base, the company's quick replies and its
agents' past answers to similar questions (``memory``). Nothing is sent: the agent picks one
into the composer, edits it and sends it.

Builtin (always, and the fallback): the question is embedded once; the knowledge base answers
through ``answering`` (its confidence is the relevance), past answers and quick replies are
the nearest by embedding (their similarity, mapped to 0..1 by ``_relevance``). The best three
distinct texts win, their variables filled for this customer.

With an LLM (``generate``): the same sources, numbered, go to the company's model, which
writes up to three replies from them alone; a reply citing no source is dropped. If the model
fails, the builtin suggestions stand."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import answering, knowledge, service
from invekto.ai.models import AnswerMemory
from invekto.ai.providers.base import ChatTurn, Generator, Usage
from invekto.ai.providers.builtin import embedder
from invekto.core.actor import Actor
from invekto.core.text import fold
from invekto.inbox import service as inbox
from invekto.inbox.models import Message
from invekto.replies import variables
from invekto.tenants.models import Tenant

Source = Literal["knowledge", "quick_reply", "past_answer", "generated"]
MAX_SUGGESTIONS = 3
# The customer's messages since the agent last wrote that make up the question.
QUESTION_MESSAGES = 3
# Below these, a candidate is not worth an agent's glance.
MIN_ANSWER_CONFIDENCE = 0.2
MIN_RELEVANCE = 0.5
# Similarity of e5 embeddings where a past question (or quick reply) starts to be "the same
# question" (paraphrases measure about 0.88 to 0.95, unrelated texts 0.75 to 0.82), and how
# sharply relevance rises around it.
SAME_QUESTION = 0.86
STEEPNESS = 30
NEAREST = 5


@dataclass(frozen=True)
class Suggestion:
    text: str
    source: Source
    relevance: float  # 0..1
    title: str | None = None  # the article, or the quick reply's shortcut
    reference_id: uuid.UUID | None = None  # the article, quick reply or past agent message


@dataclass
class Suggestions:
    question: str  # what the customer asked (empty: nothing to answer)
    items: list[Suggestion] = field(default_factory=list)


def _relevance(similarity: float) -> float:
    return 1 / (1 + math.exp(-STEEPNESS * (similarity - SAME_QUESTION)))


async def customer_question(session: AsyncSession, actor: Actor,
                            conversation_id: uuid.UUID) -> str:
    """The customer's last text messages since the agent (or bot) last wrote, oldest first;
    when the business wrote last, the customer's last messages before that."""
    recent = list(await session.scalars(select(Message).where(
        Message.tenant_id == actor.tenant_id, Message.conversation_id == conversation_id,
        Message.content_kind == "text").order_by(Message.created_at.desc(), Message.id.desc())
        .limit(20)))
    asked: list[str] = []
    for message in recent:
        if message.direction == "inbound" and message.body.strip():
            asked.append(message.body.strip())
        elif asked:
            break
        if len(asked) == QUESTION_MESSAGES:
            break
    return "\n".join(reversed(asked))[:knowledge.MAX_QUESTION_CHARS]


async def _from_memory(session: AsyncSession, tenant_id: uuid.UUID,
                       question_vector: list[float]) -> list[Suggestion]:
    distance = AnswerMemory.embedding.cosine_distance(question_vector)
    rows = await session.execute(
        select(AnswerMemory, (1 - distance).label("similarity"))
        .where(AnswerMemory.tenant_id == tenant_id).order_by(distance).limit(NEAREST))
    found = []
    for row, similarity in rows:
        relevance = _relevance(float(similarity))
        if relevance >= MIN_RELEVANCE:
            quick = row.source == "quick_reply"
            found.append(Suggestion(
                text=row.answer, source="quick_reply" if quick else "past_answer",
                relevance=relevance, title=row.question if quick else None,
                reference_id=row.source_id))
    return found


async def _from_knowledge(session: AsyncSession, tenant_id: uuid.UUID, question: str,
                          question_vector: list[float], channel_id: uuid.UUID
                          ) -> list[Suggestion]:
    hits = await knowledge.search(session, tenant_id, question, channel_id=channel_id,
                                  limit=answering.CANDIDATES, vector=question_vector)
    ranked = answering.rank(question, hits)
    answers = await knowledge.faq_answers(session, tenant_id, hits)
    found, seen = [], set()
    for position in range(len(ranked)):
        hit = ranked[position][0]
        if hit.article_id in seen:
            continue
        seen.add(hit.article_id)
        confidence = answering.confidence(question, ranked, position=position)
        if confidence < MIN_ANSWER_CONFIDENCE or len(found) == MAX_SUGGESTIONS:
            break
        found.append(Suggestion(text=answering.reply_text(hit, answers.get(hit.article_id)),
                                source="knowledge",
                                relevance=confidence, title=hit.article_title,
                                reference_id=hit.article_id))
    return found


def _best_distinct(candidates: list[Suggestion]) -> list[Suggestion]:
    chosen, texts = [], set()
    for candidate in sorted(candidates, key=lambda item: item.relevance, reverse=True):
        key = " ".join(fold(candidate.text).split())
        if key in texts:
            continue
        texts.add(key)
        chosen.append(candidate)
        if len(chosen) == MAX_SUGGESTIONS:
            break
    return chosen


async def suggest(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                  ) -> Suggestions:
    """The builtin suggestions for a conversation the actor may see (none when the company
    turned suggestions off or the customer asked nothing in text)."""
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    settings = await service.get_settings(session, actor.tenant_id)
    question = await customer_question(session, actor, conversation_id)
    if not settings.suggestions_enabled or not question:
        return Suggestions(question=question)
    [vector] = await embedder().embed([question], kind="query")
    candidates = await _from_knowledge(session, actor.tenant_id, question, vector,
                                       conversation.channel_id)
    candidates += await _from_memory(session, actor.tenant_id, vector)
    chosen = _best_distinct(candidates)
    if any("{" in item.text for item in chosen):
        values = await inbox.text_values(session, actor.tenant_id, conversation.contact_id,
                                         actor.user_id)
        chosen = [Suggestion(variables.render(item.text, values), item.source, item.relevance,
                             item.title, item.reference_id) for item in chosen]
    return Suggestions(question=question, items=chosen)


# -- with an LLM -------------------------------------------------------------------------


class _Reply(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    sources: list[int] = Field(description="numbers of the sources the reply is based on")


class _Replies(BaseModel):
    replies: list[_Reply] = Field(max_length=MAX_SUGGESTIONS)


_SYSTEM = """You help a customer-service agent of {company} answer a customer on WhatsApp.
Write up to {count} short, friendly replies the agent could send next, in the customer's
language (usually Turkish), each based only on the numbered SOURCES below: never state a price,
date, policy or medical advice the sources do not state. Say which sources each reply uses.
If the sources do not answer the question, write one reply that asks the customer for the
missing detail or says a colleague will check, with no sources.

SOURCES:
{sources}"""


async def generate(db, actor: Actor, builtin: Suggestions, company: str,
                   settings: service.LLMSettings) -> Suggestions:
    """Replies the company's LLM writes from ``builtin``'s sources; ``builtin`` itself when
    there is no LLM or it fails. Call it with no transaction open (``db``: the runtime's
    database, for the usage count)."""
    if not builtin.question or not builtin.items:
        return builtin
    sources = "\n".join(f"[{number}] {item.text}"
                        for number, item in enumerate(builtin.items, start=1))
    system = _SYSTEM.format(company=company, count=MAX_SUGGESTIONS, sources=sources)

    async def ask(generator: Generator) -> tuple[_Replies, Usage]:
        return await generator.generate_json(
            system=system, turns=[ChatTurn("user", builtin.question)], schema=_Replies)

    written = await service.call_llm(db, settings, ask)
    if written is None:
        return builtin
    items = [Suggestion(text=reply.text.strip(), source="generated",
                        relevance=max(builtin.items[number - 1].relevance
                                      for number in reply.sources),
                        title=builtin.items[reply.sources[0] - 1].title)
             for reply in written.replies
             if reply.sources and all(1 <= n <= len(builtin.items) for n in reply.sources)]
    return Suggestions(question=builtin.question, items=items or builtin.items)


async def for_agent(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                    db) -> Suggestions:
    """What an agent's inbox shows: ``suggest``, rewritten by the company's LLM when it has
    one. Before the LLM call, ``session`` — the caller's transaction, which only read — is
    committed: a model may take seconds, and no database connection is held meanwhile
    (``db``, the runtime's database, counts the usage afterwards)."""
    found = await suggest(session, actor, conversation_id)
    settings = await service.llm_settings(session, actor.tenant_id)
    if not (settings.enabled and found.items):
        return found
    company = (await session.get_one(Tenant, actor.tenant_id)).name
    await session.commit()
    return await generate(db, actor, found, company, settings)

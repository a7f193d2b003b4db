"""Auto-answer: on the channels a company chose (``AISettings.auto_answer_channel_ids``), the AI
answers a new conversation's questions from the knowledge base first, and hands the
conversation to people as soon as it is unsure. Off by default (no channel chosen).

Taking a conversation (``on_inbound``, from the ingest's transaction, after the chatbot flows
had their turn): a conversation opened on such a channel, not taken by a flow, with no agent
and no escape word in its first message, gets an ``AutoAnswerSession`` ("answering") and is
held (``conversations.held_by_bot``): the channel's welcome still goes out, routing waits.
Each fresh customer message in a held conversation defers ``ai:auto_answer``; an escape word
(``flows.service.escape_words``) hands the conversation over at once. Nothing slow runs in the
ingest's transaction.

Answering (``answer``, the job): the question is the customer's messages since the last one
the AI dealt with, up to the job's (the newest message's job does a burst's work; an older
one's is overtaken). ``decide`` computes the answer with no transaction open:

- builtin: the best passage (``answering``), sent verbatim — a FAQ's answer, an article's
  passage — only at or above the company's ``answer_threshold``;
- with an LLM: one call writes an answer from the numbered passages, as strict JSON
  ``{"answerable", "answer", "sources"}``; it is used only when answerable, citing passages
  that exist, and every number in it (a price, a duration, a phone number) appears in the
  passages it cites. Otherwise the builtin answer decides, as when the LLM fails.

Then, the conversation and the session locked, the job acts only if the session still
answers and no newer message was dealt with (a retried or concurrent job changes nothing,
and the reply carries the message's id as its ``client_message_id``): it sends the answer
as the bot, or hands off — an internal note with the question (and the article it came
closest to), the thread line, routing as for a new conversation. No message is sent to the
customer on a hand-off: the company's own texts (routing's away message) still apply. The AI
never takes a conversation back; a person's takeover, reply or close ends its session
(``flows.service.end_for_takeover`` / ``end_for_close`` call ``end``).

A message with no topic words ("merhaba", "teşekkürler") is small talk: after the business
has written (the welcome, an answer) the AI waits for a question; before, a person greets
the customer."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import answering, knowledge, service, words
from invekto.ai.knowledge import Hit
from invekto.ai.models import AutoAnswerSession
from invekto.ai.providers.base import ChatTurn, Generator, Usage
from invekto.core import i18n, jobs
from invekto.core.actor import Actor
from invekto.core.errors import AppError, NotFound
from invekto.core.i18n import N_
from invekto.core.text import keyword_match
from invekto.flows.models import FlowSession
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message
from invekto.inbox.schemas import MessageSend
from invekto.tenants.models import Tenant

log = structlog.get_logger(__name__)

# Answers in one conversation before the next question goes to a person.
MAX_ANSWERS = 5
# The customer's messages (at most) that make up one question.
QUESTION_MESSAGES = 3
# Passages an LLM answers from.
PASSAGES = 5
MAX_ANSWER_CHARS = 4096  # a message's limit
# A number as written in a price, a time, a phone number: digits with "." or "," inside.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


# ---- deciding ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """What the AI would say to ``question``: ``answer`` (None: unsure), how sure the builtin
    model is, the best article it considered, and whether the text is the company's own (its
    variables to be filled) or the LLM's (sent as written)."""

    question: str
    answer: str | None
    confidence: float = 0.0
    title: str | None = None
    source: str = "knowledge"  # knowledge | generated

    @property
    def confident(self) -> bool:
        return self.answer is not None


class _Verdict(BaseModel):
    answerable: bool
    answer: str
    sources: list[int]


_SYSTEM = """You answer a customer of {company} on WhatsApp, for the company, using only the
numbered SOURCES below (the company's own knowledge base). If they answer the customer's
question, set "answerable" to true, write a short, friendly answer in the customer's language
(usually Turkish) that states nothing the sources do not state - never a price, number, date,
duration, phone number, policy or medical advice that is not in them - and list the numbers of
the sources you used in "sources". If they do not answer it fully, set "answerable" to false,
leave "answer" empty and "sources" empty: a colleague will answer.

SOURCES:
{sources}"""


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, digits only ("28.000" and "28000" are one number)."""
    return {re.sub(r"\D", "", found) for found in _NUMBER.findall(text)}


def grounded(answer: str, passages: list[str]) -> bool:
    """Every number of ``answer`` appears in ``passages``."""
    return numbers(answer) <= set().union(*(numbers(p) for p in passages))


async def _builtin(session: AsyncSession, tenant_id: uuid.UUID, question: str,
                   channel_id: uuid.UUID | None) -> tuple[answering.Answer | None, list[Hit],
                                                         dict[uuid.UUID, str]]:
    """The builtin answer (as ``answering.best_answer``) and the ranked hits it came from,
    with their FAQ answers: one search for both providers."""
    hits = await knowledge.search(session, tenant_id, question, channel_id=channel_id,
                                  limit=answering.CANDIDATES)
    ranked = answering.rank(question, hits)
    if not ranked:
        return None, [], {}
    faqs = await knowledge.faq_answers(session, tenant_id, [hit for hit, _, _ in ranked])
    best, score, _ = ranked[0]
    found = answering.Answer(hit=best, text=answering.reply_text(best, faqs.get(best.article_id)),
                             score=score, confidence=answering.confidence(question, ranked))
    return found, [hit for hit, _, _ in ranked], faqs


def _passages(hits: list[Hit], faqs: dict[uuid.UUID, str]) -> list[str]:
    """The best passage of each of the first ``PASSAGES`` articles, as the LLM reads them."""
    chosen, seen = [], set()
    for hit in hits:
        if hit.article_id in seen:
            continue
        seen.add(hit.article_id)
        if hit.article_kind == "faq" and hit.article_id in faqs:
            chosen.append(f"{hit.article_title}\n{faqs[hit.article_id]}")
        else:
            chosen.append(hit.text)
        if len(chosen) == PASSAGES:
            break
    return chosen


async def _generated(db, settings: service.LLMSettings, company: str, question: str,
                     passages: list[str]) -> str | None:
    """The LLM's answer from ``passages``, when it is one we may send (see the module)."""
    sources = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(passages, start=1))
    system = _SYSTEM.format(company=company, sources=sources)

    async def ask(generator: Generator) -> tuple[_Verdict, Usage]:
        return await generator.generate_json(system=system, turns=[ChatTurn("user", question)],
                                             schema=_Verdict)

    verdict = await service.call_llm(db, settings, ask)
    if verdict is None or not verdict.answerable:
        return None
    text = verdict.answer.strip()
    cited = sorted(set(verdict.sources))
    if not text or len(text) > MAX_ANSWER_CHARS or not cited \
            or not all(1 <= n <= len(passages) for n in cited):
        return None
    if not grounded(text, [passages[n - 1] for n in cited]):
        log.info("ai.auto_answer_number_refused", tenant_id=str(settings.tenant_id))
        return None
    return text


async def decide(db, tenant_id: uuid.UUID, question: str, *,
                 channel_id: uuid.UUID | None = None) -> Decision:
    """The AI's answer to ``question`` from the company's knowledge base (articles of
    ``channel_id`` and those of every channel), or None when unsure. Reads in one short
    transaction and calls the LLM, if any, with none open (``db``: the runtime's database)."""
    question = question.strip()[:knowledge.MAX_QUESTION_CHARS]
    async with db.tenant_session(tenant_id) as session:
        settings = await service.get_settings(session, tenant_id)
        threshold = settings.answer_threshold
        llm = await service.llm_settings(session, tenant_id)
        company = (await session.get_one(Tenant, tenant_id)).name
        best, hits, faqs = await _builtin(session, tenant_id, question, channel_id)
    if best is None:
        return Decision(question, None)
    title = best.hit.article_title
    if llm.enabled and (written := await _generated(db, llm, company, question,
                                                     _passages(hits, faqs))):
        return Decision(question, written, best.confidence, title, "generated")
    if best.confidence >= threshold and best.text.strip():
        return Decision(question, best.text.strip()[:MAX_ANSWER_CHARS], best.confidence, title)
    return Decision(question, None, best.confidence, title)


# ---- holding conversations (the ingest) -------------------------------------------------------

@dataclass(frozen=True)
class Inbound:
    """A customer's message just stored, in the order the customer wrote."""

    conversation: Conversation
    message_id: uuid.UUID
    body: str
    opened: bool  # this message opened the conversation


async def on_inbound(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                     inbounds: list[Inbound]) -> set[uuid.UUID]:
    """Take the conversations these messages opened on an auto-answer channel, and defer an
    answer to each message in a conversation the AI holds (an escape word hands it over).
    Returns the conversations the AI took care of: routing leaves them alone. Only a held
    conversation costs a query, and an opened one the settings' read."""
    held = {i.conversation.id for i in inbounds if i.conversation.held_by_bot}
    sessions = {s.conversation_id: s for s in (await session.scalars(
        select(AutoAnswerSession).where(
            AutoAnswerSession.tenant_id == tenant_id,
            AutoAnswerSession.conversation_id.in_(held),
            AutoAnswerSession.state == "answering").with_for_update())).all()} if held else {}
    openers = {i.message_id for i in inbounds if i.opened and not i.conversation.held_by_bot
               and i.conversation.assignee_id is None and i.conversation.status != "closed"}
    if openers and channel_id not in (await service.get_settings(
            session, tenant_id)).auto_answer_channel_ids:
        openers = set()
    if not sessions and not openers:
        return set()
    from invekto.flows import service as flows  # local: it imports this module in turn

    escape = await flows.escape_words(session, tenant_id)
    taken: set[uuid.UUID] = set()
    for inbound in inbounds:
        conversation = inbound.conversation
        current = sessions.get(conversation.id)
        if current is None and inbound.message_id in openers:
            if keyword_match(inbound.body, escape):
                continue  # asked for a person straight away: the usual routing
            current = sessions[conversation.id] = await take(session, conversation)
        if current is None or current.state != "answering":
            continue
        taken.add(conversation.id)
        if keyword_match(inbound.body, escape):
            await hand_off(session, current, conversation, "escape")
            continue
        from invekto.ai import tasks  # local: the job module imports this one

        await jobs.defer(session, tasks.auto_answer, tenant_id=str(tenant_id),
                         conversation_id=str(conversation.id),
                         message_id=str(inbound.message_id))
    return taken


async def take(session: AsyncSession, conversation: Conversation) -> AutoAnswerSession:
    """The AI starts answering ``conversation``: it holds it (routing waits)."""
    held = AutoAnswerSession(tenant_id=conversation.tenant_id, conversation_id=conversation.id,
                             state="answering", answers=0)
    session.add(held)
    conversation.held_by_bot = True
    await session.flush()
    language = await _language(session, conversation.tenant_id)
    await inbox.record_bot_event(session, conversation, {
        "action": "started", "flow": i18n.text(language, N_("AI answers")),
        "auto_answer": True})
    return held


async def hand_off(session: AsyncSession, held: AutoAnswerSession, conversation: Conversation,
                   reason: str, *, note: str | None = None) -> None:
    """The AI lets go: people get the conversation as a new one (``route_to_humans``), with
    ``note`` (what the customer asked) for them. ``reason``: unsure, limit, escape, failed."""
    held.state = "handed_off"
    held.end_reason = reason
    held.ended_at = datetime.now(UTC)
    await session.flush()
    if note:
        await inbox.add_note(session, Actor.system(conversation.tenant_id), body=note,
                             conversation_id=conversation.id)
    if reason == "escape":
        event = {"action": "ended", "reason": "escaped"}
    else:
        event = {"action": "handed_off", "group_id": None, "reason": f"ai_{reason}"}
    await inbox.record_bot_event(session, conversation, {**event, "auto_answer": True})
    await inbox.route_to_humans(session, conversation)


async def end(session: AsyncSession, conversation: Conversation, reason: str, *,
              user_id: uuid.UUID | None = None) -> bool:
    """A person took the conversation over or wrote in it (``takeover``), or it was closed
    (``closed``): the AI's session ends, nobody is routed. False when it held nothing."""
    held = await session.scalar(select(AutoAnswerSession).where(
        AutoAnswerSession.tenant_id == conversation.tenant_id,
        AutoAnswerSession.conversation_id == conversation.id,
        AutoAnswerSession.state == "answering").with_for_update())
    if held is None:
        return False
    held.state = "ended"
    held.end_reason = reason
    held.ended_at = datetime.now(UTC)
    conversation.held_by_bot = False
    await session.flush()
    await inbox.record_bot_event(session, conversation, {
        "action": "ended", "reason": "taken_over" if reason == "takeover"
        else "conversation_closed", "auto_answer": True}, user_id=user_id)
    return True


async def holding(session: AsyncSession, tenant_id: uuid.UUID,
                  conversation_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these conversations the AI is answering in."""
    if not conversation_ids:
        return set()
    return set((await session.scalars(select(AutoAnswerSession.conversation_id).where(
        AutoAnswerSession.tenant_id == tenant_id,
        AutoAnswerSession.conversation_id.in_(conversation_ids),
        AutoAnswerSession.state == "answering"))).all())


async def get_session(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                      ) -> AutoAnswerSession:
    """The AI's session in a conversation the actor sees (answering or over)."""
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    found = await session.scalar(select(AutoAnswerSession).where(
        AutoAnswerSession.tenant_id == actor.tenant_id,
        AutoAnswerSession.conversation_id == conversation.id))
    if found is None:
        raise NotFound("the AI has not answered in this conversation",
                       field="conversation_id")
    return found


async def _language(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    return (await session.get_one(Tenant, tenant_id)).default_language


# ---- the job -----------------------------------------------------------------------------------

def _after(message: Message):
    """Messages of the conversation written after ``message``."""
    return or_(Message.created_at > message.created_at,
               and_(Message.created_at == message.created_at, Message.id > message.id))


async def _dealt_with(session: AsyncSession, held: AutoAnswerSession, message: Message) -> bool:
    """The AI already dealt with ``message`` or a newer one."""
    if held.last_message_id is None:
        return False
    if held.last_message_id == message.id:
        return True
    last = await session.get(Message, held.last_message_id)
    return last is not None and (last.created_at, last.id) >= (message.created_at, message.id)


async def _question(session: AsyncSession, held: AutoAnswerSession, message: Message) -> str:
    """The customer's words since the last message the AI dealt with, up to ``message``."""
    query = select(Message.body).where(
        Message.tenant_id == message.tenant_id,
        Message.conversation_id == message.conversation_id, Message.direction == "inbound",
        ~_after(message))
    last = await session.get(Message, held.last_message_id) if held.last_message_id else None
    if last is not None:
        query = query.where(_after(last))
    bodies = list(await session.scalars(query.order_by(
        Message.created_at.desc(), Message.id.desc()).limit(QUESTION_MESSAGES)))
    return "\n".join(b.strip() for b in reversed(bodies) if b.strip())[
        :knowledge.MAX_QUESTION_CHARS]


@dataclass(frozen=True)
class _Asked:
    question: str
    channel_id: uuid.UUID
    business_spoke: bool  # the business wrote in the conversation (the welcome, an answer)
    answers: int

    @property
    def small_talk(self) -> bool:
        """Words, but no topic: a greeting, thanks, "ok"."""
        return bool(self.question) and not words.content_words(self.question)


async def _read(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
                message_id: uuid.UUID) -> _Asked | str:
    """The job's first transaction: what was asked, or why there is nothing to do."""
    held = await session.scalar(select(AutoAnswerSession).where(
        AutoAnswerSession.tenant_id == tenant_id,
        AutoAnswerSession.conversation_id == conversation_id))
    if held is None or held.state != "answering":
        return "ended"
    message = await session.get(Message, message_id)
    if message is None or message.conversation_id != conversation_id:
        return "gone"
    if await _dealt_with(session, held, message):
        return "done"
    newer = await session.scalar(select(exists().where(
        Message.tenant_id == tenant_id, Message.conversation_id == conversation_id,
        Message.direction == "inbound", _after(message))))
    if newer:
        return "overtaken"  # the newest message's job answers the whole burst
    spoke = await session.scalar(select(exists().where(
        Message.tenant_id == tenant_id, Message.conversation_id == conversation_id,
        Message.direction == "outbound")))
    return _Asked(await _question(session, held, message), message.channel_id, bool(spoke),
                  held.answers)


async def answer(db, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
                 message_id: uuid.UUID) -> str:
    """The ``ai:auto_answer`` job for one customer message: answer it, wait (small talk), or
    hand off. Returns what it did: answered, handed_off, waiting — or why it did nothing:
    ended, gone, done, overtaken. Safe to run twice and concurrently."""
    async with db.tenant_session(tenant_id) as session:
        asked = await _read(session, tenant_id, conversation_id, message_id)
    if isinstance(asked, str):
        return asked
    decision: Decision | None = None
    if asked.question and not asked.small_talk and asked.answers < MAX_ANSWERS:
        try:
            decision = await decide(db, tenant_id, asked.question, channel_id=asked.channel_id)
        except Exception:  # never leave the customer held with nobody answering: hand off
            log.exception("ai.auto_answer_failed", conversation_id=str(conversation_id))
            decision = Decision(asked.question, None)
    async with db.tenant_session(tenant_id) as session:
        return await _apply(session, tenant_id, conversation_id, message_id, asked, decision)


async def _apply(session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
                 message_id: uuid.UUID, asked: _Asked, decision: Decision | None) -> str:
    """The job's last transaction: under the conversation's and the session's locks (the
    order the ingest takes them in), act unless the session ended or moved on meanwhile."""
    system = Actor.system(tenant_id)
    conversation = await inbox.get_conversation(session, system, conversation_id,
                                                for_update=True)
    held = await session.scalar(select(AutoAnswerSession).where(
        AutoAnswerSession.tenant_id == tenant_id,
        AutoAnswerSession.conversation_id == conversation_id).with_for_update())
    if held is None or held.state != "answering":
        return "ended"
    message = await session.get_one(Message, message_id)
    if await _dealt_with(session, held, message):
        return "done"
    if await session.scalar(select(exists().where(
            FlowSession.tenant_id == tenant_id, FlowSession.conversation_id == conversation_id,
            FlowSession.state != "ended"))):
        # A rule started a chatbot flow here meanwhile: the flow talks, the AI stands down.
        held.state, held.end_reason, held.ended_at = "ended", "flow", datetime.now(UTC)
        await session.flush()
        return "ended"
    held.last_message_id = message_id
    language = await _language(session, tenant_id)
    question = asked.question or i18n.text(language, N_("(no text)"))
    if asked.small_talk and asked.business_spoke:
        await session.flush()
        return "waiting"  # after the welcome or an answer: wait for a question
    if held.answers >= MAX_ANSWERS:
        await hand_off(session, held, conversation, "limit", note=i18n.text(
            language, N_("The AI has answered %(count)s questions in this conversation and "
                         "leaves the next one to a person; the customer asked: %(question)s"),
            count=MAX_ANSWERS, question=question))
        return "handed_off"
    if decision is None or not decision.confident:
        note = i18n.text(language, N_("The AI could not answer; the customer asked: "
                                      "%(question)s"), question=question)
        if decision is not None and decision.title:
            note += "\n" + i18n.text(language, N_("Closest article it considered: %(title)s"),
                                     title=decision.title)
        await hand_off(session, held, conversation, "unsure", note=note)
        return "handed_off"
    reply = MessageSend(body=decision.answer or "", client_message_id=f"ai-answer:{message_id}")
    try:
        async with session.begin_nested():
            if decision.source == "knowledge":  # the company's text: its variables filled
                await inbox.send_automatic(session, conversation, reply, as_bot=True)
            else:  # the LLM's: sent as written
                await inbox.send_message(session, system, conversation.id, reply,
                                         after_close=True, as_bot=True)
    except Exception as exc:  # a blocked contact; a passage whose variables do not render
        if isinstance(exc, AppError):
            log.info("ai.auto_answer_not_sent", conversation_id=str(conversation_id),
                     error=str(exc))
        else:
            log.exception("ai.auto_answer_not_sent", conversation_id=str(conversation_id))
        await session.refresh(conversation)
        await hand_off(session, held, conversation, "failed")
        return "handed_off"
    held.answers += 1
    await session.flush()
    return "answered"

"""What the company's agents have answered before, for reply suggestions: each agent answer of
a closed conversation with the customer's words it followed, and each quick reply; embedded
once, found by meaning.

Learnt when a conversation closes (the ``ai:learn`` job) and kept in step with the quick
replies (``sync_quick_replies``, from the same job after a quick reply changed). An agent
answer is kept only if it says something (three words or more) and is no longer than a
chat message usually is; the customer's name in it becomes ``{{ contact.first_name }}``, so a
suggestion built from Ayşe's conversation greets Mehmet by his own name."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai.models import AnswerMemory
from invekto.ai.providers.builtin import embedder
from invekto.contacts.models import Contact
from invekto.core import jobs
from invekto.db.base import new_id
from invekto.inbox.models import Conversation, Message
from invekto.replies.models import QuickReply

MIN_ANSWER_WORDS = 3
MAX_ANSWER_CHARS = 1000
# The customer's last messages before an answer that make up its question.
QUESTION_MESSAGES = 3
MAX_QUESTION_CHARS = 500
FIRST_NAME = "{{ contact.first_name }}"


async def after_close(session: AsyncSession, tenant_id: uuid.UUID,
                      conversation_id: uuid.UUID) -> None:
    """Learn from a conversation once it closed (a job: embedding takes time)."""
    from invekto.ai import tasks  # the job module imports this one

    await jobs.defer(session, tasks.learn, tenant_id=str(tenant_id),
                     conversation_id=str(conversation_id))


async def quick_replies_changed(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Bring the memory in step with the quick replies (one job waits per company at most)."""
    from invekto.ai import tasks

    await jobs.defer(session, tasks.sync_quick_replies, queueing_lock=f"ai.quick.{tenant_id}",
                     tenant_id=str(tenant_id))


def _without_name(answer: str, full_name: str | None) -> str:
    """The contact's first name (and full name) in an answer, as the first-name variable."""
    names = [part for part in (full_name or "").split() if len(part) >= 3][:1]
    if full_name and len(full_name.split()) > 1:
        names.insert(0, full_name.strip())
    for name in names:
        answer = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", FIRST_NAME, answer,
                        flags=re.IGNORECASE)
    return answer


def answer_pairs(messages: list[Message], contact_name: str | None
                 ) -> list[tuple[Message, str, str]]:
    """(the agent's message, the question, the answer) for each agent answer worth keeping,
    in a conversation's messages in order."""
    pairs = []
    asked: list[str] = []
    for message in messages:
        text = message.body.strip()
        if message.direction == "inbound":
            if text:
                asked.append(text)
            continue
        if message.sender_kind != "agent" or not text:
            continue  # a bot's or the system's message is not an agent's answer
        if asked and len(text.split()) >= MIN_ANSWER_WORDS and len(text) <= MAX_ANSWER_CHARS:
            question = " ".join(asked[-QUESTION_MESSAGES:])[-MAX_QUESTION_CHARS:]
            pairs.append((message, question, _without_name(text, contact_name)))
        asked = []
    return pairs


async def learn_conversation(session: AsyncSession, tenant_id: uuid.UUID,
                             conversation_id: uuid.UUID) -> int:
    """Keep the conversation's agent answers; returns how many were new. Run again, it adds
    nothing twice (one row per agent message)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return 0
    contact_name = await session.scalar(select(Contact.name).where(
        Contact.tenant_id == tenant_id, Contact.id == conversation.contact_id))
    messages = list(await session.scalars(select(Message).where(
        Message.tenant_id == tenant_id, Message.conversation_id == conversation_id,
        Message.content_kind == "text").order_by(Message.created_at, Message.id)))
    pairs = answer_pairs(messages, contact_name)
    if not pairs:
        return 0
    known = set(await session.scalars(select(AnswerMemory.source_id).where(
        AnswerMemory.tenant_id == tenant_id, AnswerMemory.source == "agent_answer",
        AnswerMemory.source_id.in_([message.id for message, _, _ in pairs]))))
    pairs = [pair for pair in pairs if pair[0].id not in known]
    if not pairs:
        return 0
    vectors = await embedder().embed([question for _, question, _ in pairs], kind="query")
    added = await session.scalars(pg_insert(AnswerMemory).values([
        {"id": new_id(), "tenant_id": tenant_id, "source": "agent_answer",
         "source_id": message.id, "conversation_id": conversation_id, "question": question,
         "answer": answer, "embedding": vector, "embedding_model": embedder().name}
        for (message, question, answer), vector in zip(pairs, vectors, strict=True)
    ]).on_conflict_do_nothing().returning(AnswerMemory.id))
    return len(added.all())


async def sync_quick_replies(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Embed new and changed quick replies, forget deleted ones; returns how many were
    (re)embedded. A quick reply is found by what it says (its text, as a passage)."""
    replies = {reply.id: reply for reply in await session.scalars(select(QuickReply).where(
        QuickReply.tenant_id == tenant_id))}
    kept = {row.source_id: row for row in await session.scalars(select(AnswerMemory).where(
        AnswerMemory.tenant_id == tenant_id, AnswerMemory.source == "quick_reply"))}
    await session.execute(delete(AnswerMemory).where(
        AnswerMemory.tenant_id == tenant_id, AnswerMemory.source == "quick_reply",
        AnswerMemory.source_id.not_in(list(replies) or [uuid.UUID(int=0)])))
    stale = [reply for reply in replies.values()
             if reply.id not in kept or kept[reply.id].answer != reply.body
             or kept[reply.id].question != reply.shortcut]
    if not stale:
        return 0
    vectors = await embedder().embed([reply.body for reply in stale], kind="passage")
    statement = pg_insert(AnswerMemory).values([
        {"id": new_id(), "tenant_id": tenant_id, "source": "quick_reply",
         "source_id": reply.id, "question": reply.shortcut, "answer": reply.body,
         "embedding": vector, "embedding_model": embedder().name}
        for reply, vector in zip(stale, vectors, strict=True)])
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "source", "source_id"],
        set_={"question": statement.excluded.question, "answer": statement.excluded.answer,
              "embedding": statement.excluded.embedding,
              "embedding_model": statement.excluded.embedding_model}))
    return len(stale)

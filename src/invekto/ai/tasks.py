"""The AI layer's jobs: (re)indexing the knowledge base, learning from closed conversations
and quick replies for reply suggestions, handover summaries, tags and chat analysis.

All but ``auto_answer`` run on the AI queue (``jobs.AI_QUEUE``): they hold the CPU for seconds
and nobody is waiting on the other end of a chat for them. Auto-answer is a customer waiting for
a reply, so it stays with the messages on ``default``."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.ai import knowledge, memory
from invekto.core import jobs

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="index", queue=jobs.AI_QUEUE, priority=jobs.SOMEONE_WAITS,
                retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=3))
async def index(tenant_id: str) -> int:
    """Embed a tenant's pending articles, a batch at a time: each read in one short
    transaction, embedded with none open, stored in another that checks the article did not
    change meanwhile (``knowledge.store``). Deferred once per tenant at a time (queueing lock):
    the articles saved while it runs are found by its next batch."""
    db = runtime.current().db
    tenant = uuid.UUID(tenant_id)
    done = 0
    while True:
        async with db.tenant_session(tenant) as session:
            found = await knowledge.pending_articles(session, tenant)
        if not found:
            break
        # Sessions do not expire what they loaded: the articles are read after the commit.
        prepared = [await knowledge.prepare(article) for article in found]
        async with db.tenant_session(tenant) as session:
            stored = [await knowledge.store(session, tenant, item) for item in prepared]
        done += sum(stored)
        if not any(stored):
            break  # every one changed meanwhile: their own deferrals pick them up
    log.info("ai.indexed", tenant_id=tenant_id, articles=done)
    return done


@blueprint.task(name="learn", queue=jobs.AI_QUEUE, retry=procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=3))
async def learn(tenant_id: str, conversation_id: str) -> int:
    """Keep a closed conversation's agent answers for reply suggestions (``memory``)."""
    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await memory.learn_conversation(session, tenant, uuid.UUID(conversation_id))


@blueprint.task(name="sync_quick_replies", queue=jobs.AI_QUEUE,
                retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=3))
async def sync_quick_replies(tenant_id: str) -> int:
    """Embed a company's changed quick replies for reply suggestions (``memory``)."""
    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await memory.sync_quick_replies(session, tenant)


# ---- summaries ------------------------------------------------------------------------------

@blueprint.task(name="handover_summary", queue=jobs.AI_QUEUE,
                priority=jobs.SOMEONE_WAITS, retry=procrastinate.RetryStrategy(
    max_attempts=3, exponential_wait=5))
async def handover_summary(tenant_id: str, conversation_id: str, event_id: str) -> bool:
    """After the transfer ``event_id``: the conversation's summary as an internal note, for
    whoever received it (``summaries``); False when none is due (too short, closed, a later
    transfer, already written). Read in one transaction, written by the company's LLM (if any)
    with none open, stored in another."""
    from invekto.ai import summaries  # local: summaries defer this task

    tenant, conversation, event = (uuid.UUID(tenant_id), uuid.UUID(conversation_id),
                                   uuid.UUID(event_id))
    db = runtime.current().db
    async with db.tenant_session(tenant) as session:
        prepared = await summaries.prepare_handover(session, tenant, conversation, event)
    if prepared is None:
        return False
    summary = await summaries.generate(db, prepared)
    async with db.tenant_session(tenant) as session:
        return await summaries.write_handover_note(session, tenant, conversation, event,
                                                   summary)


# ---- tags -----------------------------------------------------------------------------------

@blueprint.task(name="learn_tags", queue=jobs.AI_QUEUE, retry=procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=3))
async def learn_tags(tenant_id: str, conversation_id: str) -> list[str]:
    """Keep a closed conversation's text for the tag model and, in apply mode, tag it
    (``tagging``); returns the tags the AI put on."""
    from invekto.ai import tagging  # local: tagging defers this task

    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await tagging.learn_and_apply(session, tenant, uuid.UUID(conversation_id))


# ---- chat analysis --------------------------------------------------------------------------

@blueprint.task(name="analyse", queue=jobs.AI_QUEUE, retry=procrastinate.RetryStrategy(
    max_attempts=3, exponential_wait=5))
async def analyse(tenant_id: str, conversation_id: str) -> int | None:
    """Analyse a conversation (``analysis``: sentiment, purchase intent, quality score), as
    the system; returns its quality score (None: no agent wrote, or the conversation is
    gone). With the company's LLM, the call is made with no transaction open."""
    from invekto.ai import analysis  # local: analysis defers this task
    from invekto.core.actor import Actor
    from invekto.core.errors import NotFound

    tenant = uuid.UUID(tenant_id)
    db = runtime.current().db
    try:
        async with db.tenant_session(tenant) as session:
            found = await analysis.analyse(session, Actor.system(tenant),
                                           uuid.UUID(conversation_id), db)
    except NotFound:
        log.info("ai.analysis_skipped", tenant_id=tenant_id, conversation_id=conversation_id)
        return None
    return found.quality_score


# ---- auto-answer ----------------------------------------------------------------------------


@blueprint.task(name="auto_answer", queue="default", retry=procrastinate.RetryStrategy(
    max_attempts=3, exponential_wait=2))
async def auto_answer(tenant_id: str, conversation_id: str, message_id: str) -> str:
    """Answer a customer's message in a conversation the AI holds, or hand it to people
    (``auto_answer.answer``: no transaction open while it thinks; safe to run twice)."""
    from invekto.ai import auto_answer as answering_first  # local: it defers this job

    done = await answering_first.answer(runtime.current().db, uuid.UUID(tenant_id),
                                        uuid.UUID(conversation_id), uuid.UUID(message_id))
    log.info("ai.auto_answered", tenant_id=tenant_id, conversation_id=conversation_id,
             outcome=done)
    return done

"""The AI layer's jobs: (re)indexing the knowledge base, learning from closed conversations
and quick replies for reply suggestions."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.ai import knowledge, memory

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="index", queue="default", retry=procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=3))
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


@blueprint.task(name="learn", queue="default", retry=procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=3))
async def learn(tenant_id: str, conversation_id: str) -> int:
    """Keep a closed conversation's agent answers for reply suggestions (``memory``)."""
    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await memory.learn_conversation(session, tenant, uuid.UUID(conversation_id))


@blueprint.task(name="sync_quick_replies", queue="default",
                retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=3))
async def sync_quick_replies(tenant_id: str) -> int:
    """Embed a company's changed quick replies for reply suggestions (``memory``)."""
    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await memory.sync_quick_replies(session, tenant)


# ---- summaries ------------------------------------------------------------------------------

# ---- tags -----------------------------------------------------------------------------------

# ---- chat analysis --------------------------------------------------------------------------

# ---- auto-answer ----------------------------------------------------------------------------

"""The AI layer's jobs: (re)indexing the knowledge base."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.ai import knowledge

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

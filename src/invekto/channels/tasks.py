"""Jobs of the channels: ingesting stored webhook deliveries."""

from __future__ import annotations

import uuid

import procrastinate

from invekto import runtime
from invekto.channels import intake

blueprint = procrastinate.Blueprint()


@blueprint.task(name="ingest_webhooks", queue="ingest",
                retry=procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2))
async def ingest_webhooks(tenant_id: str, channel_id: str) -> None:
    """Ingest a channel's waiting deliveries into messages and statuses. Deferred with the
    channel as queueing lock (see ``intake.store``): at most one waits per channel, and it takes
    whatever arrived before it started. Safe to run twice, or beside another."""
    rt = runtime.current()
    await intake.ingest_pending(rt.db, rt.storage, uuid.UUID(tenant_id), uuid.UUID(channel_id),
                                max_attachment_bytes=rt.settings.max_attachment_bytes)

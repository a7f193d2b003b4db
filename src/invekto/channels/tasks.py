"""Jobs of the channels: ingesting stored webhook deliveries."""

from __future__ import annotations

import uuid

import procrastinate

from invekto import runtime
from invekto.channels import intake

blueprint = procrastinate.Blueprint()


@blueprint.task(name="ingest_webhook", queue="ingest",
                retry=procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2))
async def ingest_webhook(tenant_id: str, event_id: str) -> None:
    """Parse one stored delivery into messages and statuses. Safe to run twice: every message is
    unique per provider id, statuses only move forward, and a finished delivery is skipped."""
    rt = runtime.current()
    await intake.ingest(rt.db, rt.storage, uuid.UUID(tenant_id), uuid.UUID(event_id),
                        max_attachment_bytes=rt.settings.max_attachment_bytes)

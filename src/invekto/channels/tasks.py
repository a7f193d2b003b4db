"""Jobs of the channels: ingesting stored webhook deliveries, polling Netgsm."""

from __future__ import annotations

import uuid

import procrastinate

from invekto import runtime
from invekto.channels import intake, netgsm_polling

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


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="poll_netgsm", queue="default", queueing_lock="channels.poll_netgsm")
async def poll_netgsm(timestamp: int) -> int:
    """Every minute: Netgsm does not push, so each active Netgsm channel's inbound SMS and
    delivery reports are fetched and stored for the ingest job (``netgsm_polling``). Safe to run
    twice: what was stored already is not stored again, and reports are queried at most once a
    minute per channel whatever runs."""
    return await netgsm_polling.poll_all(runtime.current().db)


@blueprint.periodic(cron="17 3 * * *")
@blueprint.task(name="prune_webhook_events", queue="default",
                queueing_lock="channels.prune_webhook_events")
async def prune_webhook_events(timestamp: int) -> int:
    """Nightly: raw deliveries are kept for replay and debugging for ``intake.KEEP_DELIVERIES``
    after they were ingested, then deleted (they hold customers' messages)."""
    async with runtime.current().db.system_session() as session:
        return await intake.prune(session)

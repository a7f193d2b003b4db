"""Jobs of the outgoing webhooks: one attempt of one delivery (its retries are scheduled as
new jobs by the attempt itself), and a sweep for deliveries whose job was lost plus the
pruning of the delivery log."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.outgoing_webhooks import service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="deliver", queue="default")
async def deliver(tenant_id: str, delivery_id: str, manual: bool = False) -> str:
    return await service.attempt(uuid.UUID(tenant_id), uuid.UUID(delivery_id), manual=manual)


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="sweep", queue="default", queueing_lock="outgoing_webhooks.sweep")
async def sweep(timestamp: int) -> None:
    db = runtime.current().db
    async with db.system_session() as session:
        stranded = await service.stranded(session)
    for tenant_id, delivery_id in stranded:
        async with db.tenant_session(tenant_id) as session:
            await service.defer_again(session, tenant_id, delivery_id)
    if stranded:
        log.info("outgoing_webhooks.swept", deferred=len(stranded))


@blueprint.periodic(cron="43 3 * * *")
@blueprint.task(name="prune", queue="default", queueing_lock="outgoing_webhooks.prune")
async def prune(timestamp: int) -> None:
    async with runtime.current().db.system_session() as session:
        pruned = await service.prune(session)
    log.info("outgoing_webhooks.pruned", deliveries=pruned)

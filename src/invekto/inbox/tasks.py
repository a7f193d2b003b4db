"""Jobs of the inbox: delivering outbound messages, waking snoozed conversations."""

from __future__ import annotations

import asyncio
import math
import uuid

import procrastinate
import structlog
from procrastinate.jobs import Job

from invekto import runtime
from invekto.channels import pacing
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import PermanentFailure, SendResult, TemporaryFailure
from invekto.inbox import scheduled, service
from invekto.routing import service as routing
from invekto.routing import sla

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


class ProviderUnavailable(Exception):
    """Raised to have procrastinate retry a send the provider could not take just now;
    ``retry_after``: the seconds the provider asked us to wait (Retry-After, Telegram's
    ``retry_after``), if it said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


# A provider asking for more than this is not taken at its word: the message would sit unsent.
MAX_PROVIDER_WAIT_SECONDS = 3600


class ProviderPacedRetry(procrastinate.RetryStrategy):
    """The usual backoff, but never sooner than the provider asked: retrying inside its rate
    limit's window only spends an attempt (and can lengthen the window)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job
                           ) -> procrastinate.RetryDecision | None:
        decision = super().get_retry_decision(exception=exception, job=job)
        asked = getattr(exception, "retry_after", None)
        if decision is None or not asked:
            return decision
        backoff = (self.wait + self.linear_wait * job.attempts
                   + self.exponential_wait ** (job.attempts + 1))
        wait = max(backoff, math.ceil(min(float(asked), MAX_PROVIDER_WAIT_SECONDS)))
        return procrastinate.RetryDecision(retry_in={"seconds": wait})


@blueprint.task(name="deliver_message", queue="outbound",
                retry=ProviderPacedRetry(max_attempts=8, exponential_wait=2,
                                         retry_exceptions={ProviderUnavailable}))
async def deliver_message(tenant_id: str, message_id: str) -> None:
    """Send one outbound message through its channel's provider. Safe to run twice: the claim in
    phase 1 commits before the provider is called, and a sent message is never sent again."""
    tenant, message = uuid.UUID(tenant_id), uuid.UUID(message_id)
    rt = runtime.current()
    db = rt.db
    async with db.tenant_session(tenant) as session:
        if await service.deliver_outbound(session, tenant, message) != "send":
            return
        request = await service.outbound_request(session, tenant, message,
                                                 public_url=rt.settings.public_url)
        # A provider's per-recipient cap (Telegram: a chat about once a second): this message's
        # time, taken with the claim so that the next one to the same chat comes after it.
        gap = pacing.recipient_interval(request.kind)
        not_before = (await service.take_recipient_slot(session, tenant, message, gap)
                      if gap else None)
    adapter = adapter_for(request.kind)
    try:
        outbound = await service.with_file(rt.storage, request.message, request.attachment)
    except OSError as exc:
        result: SendResult | None = PermanentFailure(
            code="attachment_missing", message=f"the file to send could not be read: {exc}")
    else:
        if adapter and not_before is not None:
            await asyncio.sleep(pacing.seconds_until(not_before))
        if adapter and (rate := pacing.rate_for(request.kind, request.account.settings)):
            _slot, wait = await pacing.take_slot(db, tenant, request.channel_id, rate)
            await asyncio.sleep(wait)  # at most a few slots: only running jobs take them
        result = await adapter.send(request.account, outbound) if adapter else None
    async with db.tenant_session(tenant) as session:
        await service.record_send_result(session, tenant, message, result)
    if isinstance(result, TemporaryFailure):
        log.info("outbound.retry", message_id=message_id, reason=result.reason)
        raise ProviderUnavailable(result.reason, result.retry_after_seconds)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="wake_snoozed", queue="default", queueing_lock="inbox.wake_snoozed")
async def wake_snoozed(timestamp: int) -> None:
    """Every minute: snoozed conversations whose time has come are open again."""
    async with runtime.current().db.system_session() as session:
        woken = await service.wake_snoozed(session)
    if woken:
        log.info("inbox.woke_snoozed", count=woken)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="reassign_idle", queue="default", queueing_lock="inbox.reassign_idle")
async def reassign_idle(timestamp: int) -> int:
    """Every minute: conversations whose agent left the customer waiting longer than the
    channel allows go to a colleague. Each is checked again under its own lock, so a run that
    overlaps another (or a reply just sent) changes nothing twice."""
    return await _each(service.idle_conversations, service.reassign_idle)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="auto_close", queue="default", queueing_lock="inbox.auto_close")
async def auto_close(timestamp: int) -> int:
    """Every minute: conversations whose customer went quiet for the channel's time close."""
    return await _each(service.quiet_conversations, service.auto_close)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="offer_on_shift", queue="default", queueing_lock="inbox.offer_on_shift")
async def offer_on_shift(timestamp: int) -> int:
    """Every minute: agents on shift (one whose shift just began among them) get what waits in
    their groups' queues. Nothing happens for those already full or with empty queues."""
    return await _each(routing.online_agents_on_shift, service.offer_waiting)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="check_sla", queue="default", queueing_lock="inbox.check_sla")
async def check_sla(timestamp: int) -> int:
    """Every minute: conversations past an SLA target are recorded as breached (once), the
    supervisors told and the policy's escalation done."""
    return await _each(sla.overdue, service.escalate_breaches)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="send_scheduled", queue="default", queueing_lock="inbox.send_scheduled")
async def send_scheduled(timestamp: int) -> int:
    """Every minute: messages scheduled for now or earlier go out ("send later"), each once:
    taken under its lock and checked again, so an overlapping run skips it."""
    return await _each(scheduled.due_scheduled, scheduled.send_scheduled)


async def _each(listed, act) -> int:
    """List across companies (system scope), then act on each in its company's scope."""
    db = runtime.current().db
    async with db.system_session() as session:
        found = await listed(session)
    done = 0
    for tenant_id, item_id in found:
        async with db.tenant_session(tenant_id) as session:
            done += bool(await act(session, tenant_id, item_id))
    return done


@blueprint.periodic(cron="23 3 * * *")
@blueprint.task(name="prune_status_backlog", queue="default",
                queueing_lock="inbox.prune_status_backlog")
async def prune_status_backlog(timestamp: int) -> int:
    """Nightly: statuses still waiting for a message we never recorded (a send whose answer was
    lost) will not find it any more."""
    async with runtime.current().db.system_session() as session:
        return await service.prune_status_backlog(session)


@blueprint.task(name="offer_waiting", queue="default",
                retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2))
async def offer_waiting(tenant_id: str, user_id: str) -> int:
    """Give an agent who became available the waiting conversations of their groups' queues.
    Deferred when they come online or finish a conversation; safe to run twice (the second
    finds them full, or the queue empty)."""
    tenant = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(tenant) as session:
        return await service.offer_waiting(session, tenant, uuid.UUID(user_id))

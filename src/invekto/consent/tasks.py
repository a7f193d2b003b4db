"""İYS's jobs: sending our consent changes, retrying them, and bringing İYS's own in."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.consent import sync

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="push_to_iys", queue="default")
async def push_to_iys(tenant_id: str) -> int:
    """Send a company's waiting consent changes to İYS, round after round while some are due
    (``sync`` says how each is sent once). Deferred with each change (one waiting job per
    company: the queueing lock ``consent.iys_push.<company>``). Returns how many were sent."""
    db = runtime.current().db
    company = uuid.UUID(tenant_id)
    sent = 0
    for _ in range(sync.PUSH_ROUNDS):
        async with db.tenant_session(company) as session:
            work = await sync.claim_pushes(session, company)
        if work is None:
            break
        outcome = await sync.send_claimed(work)
        async with db.tenant_session(company) as session:
            sent += await sync.record_outcomes(session, company, outcome)
        if outcome.stopped:
            break
    if sent:
        log.info("consent.iys_pushed", tenant_id=tenant_id, sent=sent)
    return sent


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="retry_iys_pushes", queue="default",
                queueing_lock="consent.retry_iys_pushes")
async def retry_iys_pushes(timestamp: int) -> int:
    """Every minute: a push job for each company with a change due again (a retry after a
    failure, or a claim left by a job that died)."""
    db = runtime.current().db
    async with db.system_session() as session:
        due = await sync.push_due_tenants(session)
    for company in due:
        async with db.tenant_session(company) as session:
            await sync.defer_push(session, company)
    return len(due)


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="pull_iys_changes", queue="default",
                queueing_lock="consent.pull_iys_changes")
async def pull_iys_changes(timestamp: int) -> int:
    """Every five minutes: each company's consent changes made at İYS itself (a customer's
    RET through İYS), recorded as its contacts'. Returns how many changed a consent."""
    db = runtime.current().db
    async with db.system_session() as session:
        companies = await sync.pull_tenants(session)
    applied = 0
    for company in companies:
        try:
            async with db.tenant_session(company) as session:
                applied += await sync.pull_changes(session, company) or 0
        except Exception:
            # One company's pull that breaks (a bug) must not keep the others' from running;
            # nothing of it was kept, and the next run tries again.
            log.exception("consent.iys_pull_crashed", tenant_id=str(company))
    return applied

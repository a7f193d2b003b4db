"""Jobs of the flows domain: a session's external step or the end of its delay
(``flows:advance``), and the minute scan of waiting steps that timed out (``flows:tick``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import procrastinate
import structlog

from invekto import runtime
from invekto.flows import service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="advance", queue="default")
async def advance(tenant_id: str, session_id: str, step: int) -> bool:
    """Move a session on from ``step``: run its external step (an HTTP request, a look-up)
    with no transaction open, since it waits on someone else; then, the session locked, apply
    the result if nobody moved it meanwhile (the customer escaped, an agent took over, the
    minute scan gave up on the step). Or wake it from its delay. Safe to run twice: the step
    number changes with every move."""
    db = runtime.current().db
    tenant, flow_session = uuid.UUID(tenant_id), uuid.UUID(session_id)
    async with db.tenant_session(tenant) as session:
        pending = await service.pending_step(session, tenant, flow_session, step)
    if pending is None:
        return False
    outcome = await service.run_external(pending.external) if pending.external else None
    async with db.tenant_session(tenant) as session:
        return await service.finish_step(session, tenant, flow_session, step, outcome)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="tick", queue="default", queueing_lock="flows.tick")
async def tick(timestamp: int) -> int:
    """Every minute: waiting steps whose timeout passed take their timeout branch (or go to a
    person), delays whose job was lost end, external steps that never came back fail.
    Listed across companies, each then taken in its company's scope under its row lock and
    checked again (decisions/0016)."""
    done = await run_due(runtime.current().db)
    if done:
        log.info("flows.ticked", count=done)
    return done


async def run_due(db, *, now: datetime | None = None, tenant_id: uuid.UUID | None = None
                  ) -> int:
    """One scan (``now``: the clock, moved forward by tests; ``tenant_id``: one company's
    sessions only)."""
    async with db.system_session() as session:
        found = await service.due_sessions(session, now=now, tenant_id=tenant_id)
    done = 0
    for tenant, flow_session in found:
        async with db.tenant_session(tenant) as session:
            done += bool(await service.time_out(session, tenant, flow_session, now=now))
    return done

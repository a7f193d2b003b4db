"""The follow-ups' minute scan: due sequence steps and due satisfaction surveys."""

from __future__ import annotations

import procrastinate
import structlog

from invekto import runtime
from invekto.follow_ups import service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="run_due", queue="default", queueing_lock="follow_ups.run_due")
async def run_due(timestamp: int) -> int:
    """Every minute: send the sequence steps and surveys whose time has come. Listed across
    companies, then each taken in its company's scope under its row lock and checked again, so
    an overlapping run sends nothing twice (decisions/0016)."""
    db = runtime.current().db
    done = 0
    for listed, act in ((service.due_runs, service.advance_run),
                        (service.due_surveys, service.ask_survey)):
        async with db.system_session() as session:
            found = await listed(session)
        for tenant_id, item_id in found:
            async with db.tenant_session(tenant_id) as session:
                done += bool(await act(session, tenant_id, item_id))
    if done:
        log.info("follow_ups.ran", count=done)
    return done

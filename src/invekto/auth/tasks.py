"""Housekeeping of authentication data."""

from __future__ import annotations

import procrastinate
import structlog

from invekto import runtime
from invekto.auth import rate_limits, service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="prune_sessions", queue="default", queueing_lock="auth.prune_sessions")
async def prune_sessions(timestamp: int) -> None:
    """Hourly: delete expired sessions and login attempts older than 30 days."""
    async with runtime.current().db.system_session() as session:
        sessions, attempts = await service.prune(session)
    log.info("auth.pruned", sessions=sessions, login_attempts=attempts)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="prune_rate_counters", queue="default",
                queueing_lock="auth.prune_rate_counters")
async def prune_rate_counters(timestamp: int) -> None:
    """Every minute: the API keys' request counters of minutes gone by (decisions/0024)."""
    async with runtime.current().db.system_session() as session:
        await rate_limits.prune(session)

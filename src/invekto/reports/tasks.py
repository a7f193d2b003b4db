"""The reports' minute job: derive the conversations that changed (``refresh``)."""

from __future__ import annotations

import procrastinate
import structlog

from invekto import runtime
from invekto.reports import refresh as refreshing

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

# Per company per run: a large backlog (the first run after an upgrade derives every past
# conversation) is worked off a few minutes at a time, and no company starves the others.
BATCHES_PER_RUN = 100


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="refresh", queue="default", queueing_lock="reports.refresh")
async def refresh(timestamp: int) -> int:
    """Every minute: bring each company's report facts and hourly sums up to date."""
    db = runtime.current().db
    done = 0
    for tenant_id in await refreshing.tenants_to_refresh(db):
        done += await refreshing.refresh(db, tenant_id, max_batches=BATCHES_PER_RUN)
    if done:
        log.info("reports.refreshed", conversations=done)
    return done

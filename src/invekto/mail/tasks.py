"""The weekly summary's hourly job."""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate
import structlog

from invekto import runtime
from invekto.mail import service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="0 * * * *")
@blueprint.task(name="send_weekly_summaries", queue="default",
                queueing_lock="mail.send_weekly_summaries")
async def send_weekly_summaries(timestamp: int) -> int:
    """Every hour: each company whose weekday and local hour have come this week gets last
    week's summary, once (``service`` says how a week is kept from going twice); one that
    failed is tried again. ``timestamp``: the hour the run is for (procrastinate's)."""
    db = runtime.current().db
    now = datetime.fromtimestamp(timestamp, UTC)
    async with db.system_session() as session:
        due = await service.due_summaries(session, now=now)
    sent = 0
    for tenant_id, week_start in due:
        try:
            async with db.tenant_session(tenant_id) as session:
                result = await service.send_due_summary(session, tenant_id, week_start,
                                                        now=now)
        except Exception:
            # One company's summary that cannot be built (a bug) must not keep the others'
            # from going; nothing of it was kept, so the next run tries it again.
            log.exception("mail.summary_crashed", tenant_id=str(tenant_id),
                          week_start=week_start.isoformat())
            continue
        sent += bool(result and result.ok)
    if due:
        log.info("mail.summaries_run", due=len(due), sent=sent)
    return sent

"""The data protection jobs: deleting stored files once the rows that named them are gone,
and the nightly retention run."""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate
import structlog

from invekto import runtime
from invekto.privacy import service

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


@blueprint.task(name="delete_files", queue="default")
async def delete_files(storage_keys: list[str]) -> int:
    """Delete these stored files (their attachment rows were deleted by the transaction that
    deferred this job). A file already gone is no error: safe to run twice."""
    storage = runtime.current().storage
    for key in storage_keys:
        await storage.delete(key)
    return len(storage_keys)


@blueprint.periodic(cron="30 2 * * *")
@blueprint.task(name="apply_retention", queue="default",
                queueing_lock="privacy.apply_retention")
async def apply_retention(timestamp: int) -> int:
    """Every night (02:30 UTC, before Türkiye's working day): each company's retention policy
    applied; returns how many companies it ran for. One company's failure (recorded on its
    run) does not keep the others from theirs."""
    db = runtime.current().db
    now = datetime.fromtimestamp(timestamp, UTC)
    ran = 0
    for tenant_id in await service.companies_with_policies(db):
        try:
            run = await service.run_retention(db, tenant_id, now=now)
        except Exception:
            log.exception("privacy.retention_failed", tenant_id=str(tenant_id))
            continue
        if run is not None:
            ran += 1
            log.info("privacy.retention_applied", tenant_id=str(tenant_id),
                     attachments=run.attachments_deleted,
                     conversations=run.conversations_anonymised,
                     audit_events=run.audit_events_deleted)
    return ran

"""Jobs that keep the job queue itself healthy."""

from __future__ import annotations

import procrastinate
import structlog

blueprint = procrastinate.Blueprint()
log = structlog.get_logger(__name__)

# A worker heartbeats every 10 s (procrastinate's default); one silent for this long is gone.
SILENT_WORKER_SECONDS = 60


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="retry_stalled_jobs", queue="default",
                queueing_lock="ops.retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute: jobs left "doing" by a worker that died (killed, machine lost) go back to
    the queue. Without this a crashed ingest job would also keep its channel's lock for ever.
    Every task is safe to run twice, so retrying one that had half-finished is harmless. A job
    whose queueing lock another job already waits under (a channel's ingest, a campaign's
    dispatcher deferred again since) is finished instead: that one will do the same work, and
    the queue allows only one waiting per lock."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(
        seconds_since_heartbeat=SILENT_WORKER_SECONDS))
    for job in stalled:
        try:
            await manager.retry_job(job)
        except procrastinate.exceptions.UniqueViolation:
            log.warning("jobs.stalled_superseded", job_id=job.id, task=job.task_name)
            await manager.finish_job(job, status=procrastinate.jobs.Status.FAILED,
                                     delete_job=False)
        else:
            log.warning("jobs.stalled_retried", job_id=job.id, task=job.task_name)
    return len(stalled)

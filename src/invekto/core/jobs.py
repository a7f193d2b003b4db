"""The procrastinate job queue, on the application's own database.

Jobs are deferred on the caller's connection, inside its transaction: a request that rolls back
leaves no job, one that commits always has its job (a transactional outbox). Every task takes
ids, opens its own tenant-scoped session and is safe to run twice.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MESSAGE_QUEUES = ("ingest", "outbound", "campaigns", "default")
# The AI's background work (learning, tagging and analysing closed conversations, indexing the
# knowledge base) holds the CPU for seconds a job. On its own queue, run by its own few slots,
# a backlog of it (a busy evening's closes) never delays a message, a status or a campaign.
AI_QUEUE = "ai"
# procrastinate runs higher priorities first: among the AI's jobs, those a person is waiting
# for (a handover note, a knowledge article being indexed) before the learning.
SOMEONE_WAITS = 10
# Workers wake on each new job's NOTIFY; they also look every this many seconds, for the jobs no
# notification announces: one that waited behind a row lock (an ingest job a delivery was
# touching), or whose notification came while the worker was between fetches. procrastinate's
# default, 5 s, was the tail of the webhook-to-screen latency.
POLLING_SECONDS = 0.2

job_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["invekto.tasks"],
)


def _bind_tasks() -> None:
    """Bind every domain's tasks to ``job_app`` (what importing ``invekto.tasks`` does) before
    the first deferral: a command that never imported the web app or the worker (``invekto
    demo``) may defer jobs too."""
    global _tasks_bound
    if not _tasks_bound:
        job_app.perform_import_paths()
        _tasks_bound = True


_tasks_bound = False


async def defer(session: AsyncSession, task: procrastinate.tasks.Task, *,
                queueing_lock: str | None = None, schedule_at: datetime | None = None,
                **kwargs: Any) -> int | None:
    """Defer ``task`` in ``session``'s transaction; returns the job id. With ``queueing_lock``,
    at most one such job waits: when one already does, nothing is added (None).
    ``schedule_at``: not to run before then."""
    _bind_tasks()
    raw = await (await session.connection()).get_raw_connection()
    configured = task.configure(connection=raw.driver_connection, queueing_lock=queueing_lock,
                                schedule_at=schedule_at)
    if queueing_lock is None:
        return await configured.defer_async(**kwargs)
    # A refused duplicate must not abort the caller's transaction: a savepoint of our own, on
    # the connection procrastinate writes with.
    await session.execute(text("SAVEPOINT defer_once"))
    try:
        job_id = await configured.defer_async(**kwargs)
    except procrastinate.exceptions.AlreadyEnqueued:
        await session.execute(text("ROLLBACK TO SAVEPOINT defer_once"))
        return None
    await session.execute(text("RELEASE SAVEPOINT defer_once"))
    return job_id


@asynccontextmanager
async def opened(libpq_url: str, *, max_size: int = 4) -> AsyncIterator[procrastinate.App]:
    """Open the job app on its own small pool (the worker fetches and finishes jobs on it)."""
    pool = AsyncConnectionPool(libpq_url, min_size=1, max_size=max_size, open=False,
                               check=AsyncConnectionPool.check_connection)
    await pool.open(wait=True)
    try:
        async with job_app.open_async(pool=pool):
            yield job_app
    finally:
        await pool.close()


async def run_workers(app: procrastinate.App, *, name: str,
                      slots: Sequence[tuple[Sequence[str], int]], **options: Any) -> None:
    """Run one procrastinate worker per ``(queues, concurrency)`` of ``slots`` (with the
    worker ``options``) until SIGINT or SIGTERM: the `invekto worker` process, with the
    message queues, and the AI's queue on slots of its own. Either one failing stops the
    others: the process exits and whatever supervises it restarts it whole."""
    runs = [asyncio.create_task(app.run_worker_async(
                queues=list(queues), concurrency=concurrency, name=f"{name}-{'-'.join(queues)}",
                fetch_job_polling_interval=POLLING_SECONDS, install_signal_handlers=False,
                **options))
            for queues, concurrency in slots]
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        # Cancelling a worker's run is procrastinate's graceful stop: running jobs finish.
        loop.add_signal_handler(stop_signal, lambda: [run.cancel() for run in runs])
    try:
        await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop_signal)
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    for run in runs:
        if not run.cancelled() and run.exception() is not None:
            raise run.exception()

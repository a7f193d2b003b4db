"""The procrastinate job queue, on the application's own database.

Jobs are deferred on the caller's connection, inside its transaction: a request that rolls back
leaves no job, one that commits always has its job (a transactional outbox). Every task takes
ids, opens its own tenant-scoped session and is safe to run twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

QUEUES = ("ingest", "outbound", "campaigns", "default")
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

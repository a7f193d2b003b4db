"""The procrastinate job queue, on the application's own database.

Jobs are deferred on the caller's connection, inside its transaction: a request that rolls back
leaves no job, one that commits always has its job (a transactional outbox). Every task takes
ids, opens its own tenant-scoped session and is safe to run twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

QUEUES = ("ingest", "outbound", "default")

job_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["invekto.tasks"],
)


async def defer(session: AsyncSession, task: procrastinate.tasks.Task, **kwargs: Any) -> int:
    """Defer ``task`` in ``session``'s transaction; returns the job id."""
    raw = await (await session.connection()).get_raw_connection()
    return await task.configure(connection=raw.driver_connection).defer_async(**kwargs)


async def defer_unless_waiting(session: AsyncSession, task: procrastinate.tasks.Task, *,
                               queueing_lock: str, lock: str | None = None, **kwargs: Any
                               ) -> bool:
    """Defer ``task`` in ``session``'s transaction unless a job with ``queueing_lock`` is still
    waiting to start (that one will see what this caller wrote); True when deferred.

    procrastinate's own defer raises on that conflict, which would abort the caller's whole
    transaction; this inserts the same row into its documented jobs table (its insert triggers
    still notify the workers) and lets the partial unique index say "already waiting".
    """
    job_id = await session.scalar(text(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, "
        "args) VALUES (:queue, :task, 0, :lock, :queueing_lock, CAST(:args AS jsonb)) "
        "ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING RETURNING id"),
        {"queue": task.queue, "task": task.name, "lock": lock, "queueing_lock": queueing_lock,
         "args": json.dumps(kwargs)})
    return job_id is not None


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

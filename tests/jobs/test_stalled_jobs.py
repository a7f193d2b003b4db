"""A worker that died mid-job (killed, machine lost) must not strand its jobs: the periodic
retrier puts them back in the queue once the worker's heartbeat has gone silent."""

from __future__ import annotations

import json
import types
import uuid

from sqlalchemy import text

from invekto.core.jobs import job_app
from invekto.ops.tasks import SILENT_WORKER_SECONDS, retry_stalled_jobs


async def _job_left_doing(rt, heartbeat_seconds_ago: int, lock: str | None = None) -> int:
    async with rt.db.transaction() as session:
        worker_id = await session.scalar(text(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - make_interval(secs => :ago)) RETURNING id"),
            {"ago": heartbeat_seconds_ago})
        return await session.scalar(text(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args, status, "
            "worker_id) VALUES ('ingest', 'channels:ingest_webhooks', :lock, "
            "CAST(:args AS jsonb), 'doing', :worker) RETURNING id"), {
            "lock": lock or f"ingest:{uuid.uuid4()}", "worker": worker_id,
            "args": json.dumps({"tenant_id": str(uuid.uuid4()), "channel_id": str(uuid.uuid4())})})


async def _status(rt, job_id: int) -> str:
    async with rt.db.transaction() as session:
        return await session.scalar(text(
            "SELECT status::text FROM procrastinate_jobs WHERE id = :id"), {"id": job_id})


async def test_a_dead_workers_job_goes_back_to_the_queue_and_a_live_ones_stays(world, rt):
    dead = await _job_left_doing(rt, heartbeat_seconds_ago=SILENT_WORKER_SECONDS + 30)
    alive = await _job_left_doing(rt, heartbeat_seconds_ago=1)

    retried = await retry_stalled_jobs.func(types.SimpleNamespace(app=job_app), timestamp=0)

    assert retried >= 1
    assert await _status(rt, dead) == "todo"
    assert await _status(rt, alive) == "doing"
    async with rt.db.transaction() as session:  # leave no job behind for other tests' workers
        await session.execute(text("DELETE FROM procrastinate_jobs WHERE id = ANY(:ids)"),
                              {"ids": [dead, alive]})


async def test_a_dead_workers_job_already_deferred_again_is_finished_not_retried(world, rt):
    """Its channel got a new delivery meanwhile: a job with the same queueing lock waits, and
    only one may. The stalled one is finished; the retrier carries on with the others."""
    lock = f"ingest:{uuid.uuid4()}"
    dead = await _job_left_doing(rt, heartbeat_seconds_ago=SILENT_WORKER_SECONDS + 30,
                                 lock=lock)
    other_dead = await _job_left_doing(rt, heartbeat_seconds_ago=SILENT_WORKER_SECONDS + 30)
    async with rt.db.transaction() as session:
        waiting = await session.scalar(text(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args, "
            "status) VALUES ('ingest', 'channels:ingest_webhooks', :lock, '{}'::jsonb, "
            "'todo') RETURNING id"), {"lock": lock})

    await retry_stalled_jobs.func(types.SimpleNamespace(app=job_app), timestamp=0)

    assert [await _status(rt, job) for job in (dead, other_dead, waiting)] == [
        "failed", "todo", "todo"]
    async with rt.db.transaction() as session:
        await session.execute(text("DELETE FROM procrastinate_jobs WHERE id = ANY(:ids)"),
                              {"ids": [dead, other_dead, waiting]})

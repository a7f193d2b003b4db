"""`invekto worker` runs two procrastinate workers (``jobs.run_workers``): the AI's background
jobs wait on slots of their own, so a busy AI queue never holds up a message; SIGTERM stops
both gracefully. The test's own tasks and queues stand in for the real ones (a worker on the
real queues would also run every job the other tests left)."""

from __future__ import annotations

import asyncio
import os
import signal

from sqlalchemy import text

from invekto.core import jobs
from invekto.core.jobs import job_app

MESSAGES, AI = "tests-messages", "tests-ai"
started: dict[str, asyncio.Event] = {}
release = asyncio.Event()


def _mark(label: str) -> None:
    started.setdefault(label, asyncio.Event()).set()


async def _started(label: str) -> None:
    await asyncio.wait_for(started.setdefault(label, asyncio.Event()).wait(), timeout=15)


@job_app.task(name="tests:hold_ai", queue=AI)
async def hold_ai(label: str) -> None:
    _mark(label)
    await release.wait()


@job_app.task(name="tests:mark", queue=MESSAGES)
async def mark(label: str) -> None:
    _mark(label)


async def _statuses(rt, labels: list[str]) -> list[str]:
    async with rt.db.transaction() as session:
        rows = await session.execute(text(
            "SELECT args->>'label', status::text FROM procrastinate_jobs "
            "WHERE task_name LIKE 'tests:%' AND args->>'label' = ANY(:labels) ORDER BY id"),
            {"labels": labels})
        return [f"{label}:{status}" for label, status in rows]


async def test_a_busy_ai_queue_does_not_hold_up_messages_and_sigterm_stops_both(rt):
    started.clear()
    release.clear()
    run_id = os.urandom(4).hex()
    first, second, message = f"ai-1-{run_id}", f"ai-2-{run_id}", f"message-{run_id}"
    await hold_ai.defer_async(label=first)
    await hold_ai.defer_async(label=second)
    # The pool the test app opened is small: the workers poll rather than keep listening.
    workers = asyncio.create_task(jobs.run_workers(
        job_app, name="test", slots=[((MESSAGES,), 2), ((AI,), 1)], listen_notify=False))
    try:
        await _started(first)  # the AI queue's one slot is now taken

        await mark.defer_async(label=message)
        await _started(message)  # runs at once, beside the busy AI slot
        assert second not in started  # the second AI job waits for the AI's own slot

        release.set()
        await _started(second)
    finally:
        release.set()
        if not workers.done():  # else its handler is gone, and SIGTERM would end pytest
            os.kill(os.getpid(), signal.SIGTERM)  # run_workers' handler: a graceful stop
        await asyncio.wait_for(workers, timeout=20)
    assert await _statuses(rt, [first, second, message]) == [
        f"{first}:succeeded", f"{second}:succeeded", f"{message}:succeeded"]

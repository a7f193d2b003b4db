"""Outbound delivery throughput of one worker: deliver_message jobs (claim, adapter, record, event)
drained per second, against procrastinate draining the same number of no-op jobs."""

from __future__ import annotations

import time

from bench import common
from invekto import runtime
from invekto.config import Settings
from invekto.core import jobs
from invekto.core.actor import Actor
from invekto.db.provision import to_libpq_url
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage, MessageSend
from invekto.provisioning import provision_tenant

JOBS = 1000
CONCURRENCY = 8


@jobs.job_app.task(name="bench_noop", queue="default")
async def noop(index: int) -> None:
    return None


async def _drain(queue: str) -> float:
    started = time.perf_counter()
    await jobs.job_app.run_worker_async(queues=[queue], wait=False, concurrency=CONCURRENCY,
                                        install_signal_handlers=False, listen_notify=False)
    return time.perf_counter() - started


async def _measure(url: str) -> tuple[float, float]:
    rt = runtime.build(Settings(database_url=url), url, application_name="bench-jobs")
    runtime.install(rt)
    from invekto import tasks  # noqa: F401 - registers deliver_message
    from invekto.channels import service as channels
    from invekto.channels.schemas import ChannelCreate

    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug="bench", name="Bench",
                                           admin_username="admin")
        system = Actor.system(tenant.id)
        channel = await channels.create_channel(session, system, ChannelCreate(
            kind="webchat", name="Web"))
        inbound, _ = await inbox.receive_inbound(session, tenant.id, InboundMessage(
            channel_id=channel.id, handle="visitor", provider_message_id="1", body="Merhaba"))
    async with jobs.opened(to_libpq_url(url), max_size=CONCURRENCY + 2):
        for index in range(JOBS):
            async with rt.db.tenant_session(tenant.id) as session:
                await inbox.send_message(session, system, inbound.conversation_id,
                                         MessageSend(body=f"Yanıt {index}"))
            await noop.defer_async(index=index)
        ours = JOBS / await _drain("outbound")
        baseline = JOBS / await _drain("default")
    await rt.db.dispose()
    return ours, baseline


def run() -> dict:
    with common.database() as (_server, url, _directory):
        ours, baseline = common.run_async(_measure(url))
    return common.write_result("outbound_jobs_per_second", ours, "jobs/s", baseline, {
        "jobs": JOBS, "worker_concurrency": CONCURRENCY,
        "job": "inbox:deliver_message over the webchat adapter (2 transactions + NOTIFY)",
        "baseline": "procrastinate no-op job, same worker settings"})

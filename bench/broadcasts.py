"""Broadcast campaigns at size:

- ``broadcast_plan_100k``: seconds to plan a campaign for a segment of 100,000 contacts (one
  recipient row each, with every exclusion rule evaluated), against the bare baseline of
  copying the same 100,000 contact ids into a table of the same shape with no rule at all.
- ``broadcast_dispatch``: messages per second two worker processes send a campaign of 20,000
  to the WhatsApp stub (its own server process) when the channel's limit is 1,000 per second;
  the baseline is that limit, so the ratio is the share of the limit reached. Timed from the
  first recipient taken until every recipient is recorded sent; the median of three runs.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
import uuid

from sqlalchemy import func, insert, select, text

from bench import common
from invekto import runtime
from invekto.campaigns import service as campaigns
from invekto.campaigns.models import Campaign, CampaignRecipient
from invekto.campaigns.schemas import CampaignIn, Segment
from invekto.config import Settings
from invekto.contacts.models import Contact
from invekto.core import jobs
from invekto.core.actor import Actor
from invekto.db.base import new_id
from invekto.db.provision import to_libpq_url
from invekto.provisioning import provision_tenant

PLANNED = 100_000
DISPATCHED = 20_000
LIMIT = 1000.0
# Worker processes sharing the campaign (and the channel's pace).
WORKERS = 2
WORKER_CONCURRENCY = 2
RUNS = 3


async def _contacts(rt, tenant_id: uuid.UUID, count: int) -> None:
    async with rt.db.tenant_session(tenant_id) as session:
        for start in range(0, count, 10_000):
            await session.execute(insert(Contact), [
                {"id": new_id(), "tenant_id": tenant_id, "name": f"Müşteri {n}",
                 "phone": f"+90532{n:07d}", "tags": ["vip"] if n % 10 else ["vip", "bayi"]}
                for n in range(start, min(start + 10_000, count))])


async def _campaign(rt, tenant_id, channel_id, name: str) -> Campaign:
    async with rt.db.tenant_session(tenant_id) as session:
        return await campaigns.create(session, Actor.system(tenant_id), CampaignIn(
            name=name, channel_id=channel_id, content_kind="template",
            template_name="randevu_hatirlatma", template_language="tr",
            template_parameters={"1": "{{ contact.first_name }}", "2": "1 Aralık"},
            segment=Segment(tags_any=["vip"])))


async def _setup(url: str, stub_url: str):
    rt = runtime.build(Settings(database_url=url), url, application_name="bench-broadcasts")
    runtime.install(rt)
    from invekto import tasks  # noqa: F401 - registers the campaign jobs
    from invekto.channels import service as channels
    from invekto.channels.schemas import ChannelCreate

    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug="bench", name="Bench",
                                           admin_username="admin")
    async with rt.db.tenant_session(tenant.id) as session:
        channel = await channels.create_channel(session, Actor.system(tenant.id), ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id="1098765",
            settings={"api_base_url": stub_url, "waba_id": "214365870912345",
                      "max_messages_per_second": LIMIT},
            credentials={"app_secret": "bench-app-secret", "access_token": "bench-token"}))
    return rt, tenant.id, channel.id


async def _plan(rt, tenant_id, channel_id) -> tuple[float, float]:
    await _contacts(rt, tenant_id, PLANNED)
    campaign = await _campaign(rt, tenant_id, channel_id, "Plan")
    async with rt.db.tenant_session(tenant_id) as session:
        await session.execute(text("ANALYZE contacts"))
    async with rt.db.tenant_session(tenant_id) as session:
        started = time.perf_counter()
        await campaigns.plan_recipients(session, await session.get_one(Campaign, campaign.id))
    planned = time.perf_counter() - started
    async with rt.db.tenant_session(tenant_id) as session:
        count = await session.scalar(select(func.count()).where(
            CampaignRecipient.campaign_id == campaign.id))
        assert count == PLANNED, count
        await session.execute(text(
            "CREATE TEMP TABLE bare (LIKE campaign_recipients INCLUDING DEFAULTS)"))
        started = time.perf_counter()
        await session.execute(text(
            "INSERT INTO bare (tenant_id, campaign_id, contact_id, handle, phone) "
            "SELECT tenant_id, :campaign, id, phone, phone FROM contacts "
            "WHERE tenant_id = :tenant"), {"campaign": campaign.id, "tenant": tenant_id})
        bare = time.perf_counter() - started
    return planned, bare


async def _dispatch(rt, tenant_id, channel_id, url: str, run: int) -> float:
    # The previous run's 60,000 row updates are vacuumed now, not by autovacuum mid-run.
    async with rt.db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE campaign_recipients, contacts"))
    campaign = await _campaign(rt, tenant_id, channel_id, f"Dispatch {run}")
    async with (jobs.opened(to_libpq_url(url), max_size=2),
                rt.db.tenant_session(tenant_id) as session):
        await campaigns.send_now(session, Actor.system(tenant_id), campaign.id)
    workers = [subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [sys.executable, "-m", "invekto", "worker", "--concurrency", str(WORKER_CONCURRENCY)],
        env=common.env_with(INVEKTO_DATABASE_URL=url),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(WORKERS)]
    try:
        first = None
        while True:
            async with rt.db.tenant_session(tenant_id) as session:
                row = (await session.execute(select(
                    func.count().filter(CampaignRecipient.state == "sent"),
                    func.min(CampaignRecipient.claimed_at), func.max(CampaignRecipient.sent_at)
                ).where(CampaignRecipient.campaign_id == campaign.id))).one()
            if first is None and row[1] is not None:
                first = row[1]
            if row[0] == DISPATCHED:
                return DISPATCHED / (row[2] - first).total_seconds()
            await asyncio.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)


def run() -> list[dict]:
    stub_port = common.free_port()
    with common.database() as (_server, url, _directory):
        stub = subprocess.Popen([sys.executable, "-m", "bench.stub_whatsapp", str(stub_port)])
        try:
            common.wait_for_port(stub_port)

            async def both():
                rt, tenant_id, channel_id = await _setup(url, f"http://127.0.0.1:{stub_port}")
                plan = await _plan(rt, tenant_id, channel_id)
                async with rt.db.tenant_session(tenant_id) as session:
                    await session.execute(text(
                        "DELETE FROM contacts WHERE tenant_id = :t AND phone > :p"),
                        {"t": tenant_id, "p": f"+90532{DISPATCHED - 1:07d}"})
                # The machine's two cores carry the workers, the stub and PostgreSQL at once:
                # single runs vary by a fifth, so the median of three is reported.
                rates = [await _dispatch(rt, tenant_id, channel_id, url, run)
                         for run in range(RUNS)]
                await rt.db.dispose()
                return plan, statistics.median(rates), rates

            (planned, bare), rate, rates = common.run_async(both())
        finally:
            stub.terminate()
            stub.wait(timeout=30)
    return [
        common.write_result("broadcast_plan_100k", planned, "s", bare, {
            "recipients": PLANNED, "segment": "tags_any vip (every contact)",
            "what": "plan_recipients: candidates, de-duplication, 5 exclusion rules, insert",
            "baseline": "INSERT ... SELECT of the same contact ids into a copy of the table"}),
        common.write_result("broadcast_dispatch", rate, "messages/s", LIMIT, {
            "recipients": DISPATCHED, "channel_limit_per_second": LIMIT,
            "runs": [round(r, 1) for r in rates], "value_is": f"median of {RUNS} runs",
            "worker_processes": WORKERS, "worker_concurrency": WORKER_CONCURRENCY,
            "dispatchers_per_campaign": campaigns.DISPATCHERS,
            "provider": "WhatsApp Cloud API simulator, its own uvicorn process",
            "timed": "first recipient taken to last recorded sent",
            "baseline": "the channel's limit (1,000 messages/s)"}),
    ]

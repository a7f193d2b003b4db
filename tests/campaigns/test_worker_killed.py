"""A real worker process killed (SIGKILL) in the middle of a 10,000-recipient campaign, and a
new one started: every recipient gets the message exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from invekto.campaigns import service
from invekto.campaigns.models import Campaign, CampaignRecipient
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from tests.campaigns.conftest import CampaignWorld
from tests.processes import serving, start_worker, until_idle
from tests.templates.conftest import APP_SECRET, PHONE_NUMBER_ID

RECIPIENTS = 10_000


async def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_killed_worker_leaves_no_duplicate_and_no_gap(world, app, database_url):
    home = world.home
    simulator = create_simulator(APP_SECRET, phone_number_id=PHONE_NUMBER_ID,
                                 access_token="EAAG-test",
                                 webhook_transport=httpx.ASGITransport(app=app))
    async with serving(simulator) as provider_url:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            channel = await channels.create_channel(session, home.system, ChannelCreate(
                kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
                settings={"api_base_url": provider_url, "waba_id": WABA_ID,
                          "max_messages_per_second": 500},
                credentials={"app_secret": APP_SECRET, "access_token": "EAAG-test"}))
        simulator.webhook_url = f"http://testserver/webhooks/whatsapp_cloud/{channel.id}"
        wa = CampaignWorld(home, channel.id, simulator, "whatsapp_cloud")
        await wa.contacts(RECIPIENTS, tags=["vip"])
        campaign = await wa.create()
        assert (await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")).status_code == 200

        async def sent_at_least(count: int):
            return len(simulator.state.sent) >= count

        worker = start_worker(database_url)
        try:
            await wait_for(lambda: sent_at_least(RECIPIENTS // 3), seconds=60,
                           what="the first worker to send")
        finally:
            worker.kill()  # SIGKILL: no clean-up, mid-batch
            worker.wait()
        await until_idle(provider_url)  # requests it had sent before dying are still taken
        died_after = len(simulator.state.sent)
        assert died_after < RECIPIENTS

        # Meta reports every message it took, echoing our recipient ids.
        await wa.deliver(*simulator.statuses_of(list(simulator.state.sent), "sent"))
        later = datetime.now(UTC) + service.UNCONFIRMED_GRACE + timedelta(minutes=1)
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await service.tick(session, home.tenant_id, uuid.UUID(campaign["id"]), now=later)

        async def finished():
            status = await wa.scalar(select(Campaign.status).where(
                Campaign.id == uuid.UUID(campaign["id"])))
            return status == "completed"

        worker = start_worker(database_url)
        try:
            await wait_for(finished, seconds=180, what="the campaign to finish")
        finally:
            worker.terminate()
            worker.wait()

    numbers = [s.body["to"] for s in simulator.state.sent]
    assert len(numbers) == RECIPIENTS and len(set(numbers)) == RECIPIENTS  # no duplicate
    states = dict(await wa.rows_of(select(CampaignRecipient.state, func.count()).where(
        CampaignRecipient.campaign_id == uuid.UUID(campaign["id"])
    ).group_by(CampaignRecipient.state)))
    assert states == {"sent": RECIPIENTS}  # no gap

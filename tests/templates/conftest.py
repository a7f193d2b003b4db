"""A WhatsApp channel whose provider is the simulator: Meta's Graph API for templates (create,
list, delete) and the signed status webhooks it posts back to our intake."""

from __future__ import annotations

import httpx
import pytest

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from tests.channels.harness import ChannelWorld

APP_SECRET = "test-app-secret-do-not-use"
PHONE_NUMBER_ID = "109876543210987"


async def whatsapp_channel(company, *, name: str = "WhatsApp", waba_id: str | None = WABA_ID):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await channels.create_channel(session, company.system, ChannelCreate(
            kind="whatsapp_cloud", name=name, external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": "http://graph.simulator",
                      **({"waba_id": waba_id} if waba_id else {})},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-test"}))


@pytest.fixture
async def wa(world, app):
    home = world.home
    channel = await whatsapp_channel(home)
    simulator = create_simulator(
        APP_SECRET, webhook_url=f"http://testserver/webhooks/whatsapp_cloud/{channel.id}",
        webhook_transport=httpx.ASGITransport(app=app), phone_number_id=PHONE_NUMBER_ID,
        access_token="EAAG-test")
    original = adapters.adapter_for("whatsapp_cloud")
    adapters.register(WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield ChannelWorld(home, channel.id, simulator, "whatsapp_cloud")
    adapters.register(original)

"""Channels an agent can write first on: SMS (free text), Telegram, and WhatsApp through its
simulator (Meta's API in memory), whose approved templates are what a first message needs."""

from __future__ import annotations

import httpx
import pytest

from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import create_simulator

APP_SECRET = "test-app-secret-do-not-use"
PHONE_NUMBER_ID = "109876543210987"
WABA_ID = "214365870912345"


async def new_channel(home, kind: str, name: str, **fields):
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind=kind, name=name, **fields))
    return channel.id


@pytest.fixture
async def sms(world):
    return await new_channel(world.home, "sms_netgsm", "SMS")


@pytest.fixture
async def telegram(world):
    return await new_channel(world.home, "telegram", "Telegram", external_id="bot-1")


@pytest.fixture
async def whatsapp(world, app):
    """A WhatsApp channel whose adapter speaks to the simulator (its templates approved)."""
    home = world.home
    channel_id = await new_channel(
        home, "whatsapp_cloud", "WhatsApp", external_id=PHONE_NUMBER_ID,
        settings={"api_base_url": "http://graph.simulator", "waba_id": WABA_ID},
        credentials={"app_secret": APP_SECRET, "access_token": "EAAG-test"})
    simulator = create_simulator(
        APP_SECRET, webhook_url=f"http://testserver/webhooks/whatsapp_cloud/{channel_id}",
        webhook_transport=httpx.ASGITransport(app=app), phone_number_id=PHONE_NUMBER_ID,
        access_token="EAAG-test")
    original = adapters.adapter_for("whatsapp_cloud")
    adapters.register(WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield channel_id
    adapters.register(original)

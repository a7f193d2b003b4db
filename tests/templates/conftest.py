"""A WhatsApp channel whose provider is the simulator: Meta's Graph API for templates (create,
list, delete) and the signed status webhooks it posts back to our intake."""

from __future__ import annotations

import pytest

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID
from tests.channels.harness import (
    WHATSAPP_APP_SECRET,
    WHATSAPP_NUMBER_ID,
    whatsapp_simulated,
)

APP_SECRET, PHONE_NUMBER_ID = WHATSAPP_APP_SECRET, WHATSAPP_NUMBER_ID


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
    async with whatsapp_simulated(app, home, channel.id) as simulated:
        yield simulated

from __future__ import annotations

import uuid

import pytest

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from tests.widget.visitor import CONSENT, SITE, Widget


@pytest.fixture
async def channel_id(world) -> uuid.UUID:
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="webchat", name="Web sitesi", settings={
                "allowed_origins": f"{SITE} https://gulusdis.com.tr",
                "consent_text": CONSENT, "welcome_text": "Nasıl yardımcı olabiliriz?",
                "color": "#0ca678"}))
    return channel.id


@pytest.fixture
def widget(client, channel_id) -> Widget:
    return Widget(client, channel_id)

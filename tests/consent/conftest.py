"""The İYS simulator (``support.Iys``), a real server for every test that asks for it; the
campaigns' WhatsApp channel and the widget's web chat channel."""

from __future__ import annotations

import pytest

from invekto.consent.simulator import create_simulator
from tests.campaigns.conftest import wa  # noqa: F401 - a company's WhatsApp channel
from tests.consent.support import Iys
from tests.processes import serving
from tests.widget.conftest import channel_id as webchat_channel_id  # noqa: F401 - its web chat


@pytest.fixture
async def iys_stub():
    simulator = create_simulator()
    async with serving(simulator) as url:
        yield Iys(simulator, url)

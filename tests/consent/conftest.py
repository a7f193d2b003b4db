"""The İYS simulator (``support.Iys``), a real server for every test that asks for it."""

from __future__ import annotations

import pytest

from invekto.consent.simulator import create_simulator
from tests.consent.support import Iys
from tests.processes import serving


@pytest.fixture
async def iys_stub():
    simulator = create_simulator()
    async with serving(simulator) as url:
        yield Iys(simulator, url)

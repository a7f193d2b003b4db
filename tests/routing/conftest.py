from __future__ import annotations

import pytest

from tests.routing.team import join_group, online


@pytest.fixture
async def team(world):
    """Bora and Deniz in the reception group, both online; the web chat routed to it."""
    home = world.home
    await join_group(home, "deniz")
    await online(home, "bora", "deniz")
    return home

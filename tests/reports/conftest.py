from __future__ import annotations

import pytest

from tests.reports.support import add_two_known_days


@pytest.fixture
async def two_days(world):
    """``support.add_two_known_days``: Monday and Tuesday closed, Sunday left open."""
    await add_two_known_days(world.home)
    return world.home

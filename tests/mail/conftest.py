"""The mail tests' fixtures: the SMTP stub (``support.py``) and the reports' known days."""

from __future__ import annotations

import pytest

from tests.mail.support import smtp_stub  # noqa: F401 - the fixture, for every test here
from tests.reports.support import add_two_known_days


@pytest.fixture
async def two_days(world):
    """The reports' known conversations (``tests/reports/support.py``): Sunday 22 November
    2026, left open; Monday 23 and Tuesday 24, closed."""
    await add_two_known_days(world.home)
    return world.home

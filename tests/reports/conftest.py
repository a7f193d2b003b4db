from __future__ import annotations

from datetime import timedelta

import pytest

from tests.reports.support import T0, post, set_times, take_answer_close


@pytest.fixture
async def two_days(world):
    """Monday 10:00, Bora, a minute a step: in, assigned, out, in, out, closed (replies 120 s
    and 60 s, resolution 300 s). Tuesday 10:00, Deniz, two minutes a step (240 s, 120 s,
    600 s; tagged "implant"). Sunday 10:00, Bora, left open."""
    home = world.home
    monday = await take_answer_close(home, handle="pazartesi", agent="bora")
    await set_times(home, monday, T0, timedelta(minutes=1))
    tuesday = await take_answer_close(home, handle="sali", agent="deniz")
    await post(home.sevgi, "/tags", {"name": "implant"})
    await post(home.deniz, f"/conversations/{tuesday}/tags", {"add": ["implant"]})
    await set_times(home, tuesday, T0 + timedelta(days=1), timedelta(minutes=2))
    sunday = await take_answer_close(home, handle="pazar", agent="bora", close=False)
    await set_times(home, sunday, T0 - timedelta(days=1), timedelta(minutes=1))
    return home

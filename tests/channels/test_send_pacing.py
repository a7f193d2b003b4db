"""Sending pace: workers share each channel's messages-per-second limit through one row."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from invekto.channels import pacing
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate


async def _channel(home, name: str, settings: dict | None = None):
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name=name, external_id=f"pn-{name}", settings=settings or {},
            credentials={"app_secret": "s", "access_token": "t"}))


def test_each_kind_has_its_providers_default_rate_and_a_setting_overrides_it():
    assert pacing.rate_for("whatsapp_cloud", {}) == 80
    assert pacing.rate_for("instagram", None) == 300
    assert pacing.rate_for("whatsapp_cloud", {"max_messages_per_second": "20"}) == 20
    assert pacing.rate_for("whatsapp_cloud", {"max_messages_per_second": "many"}) == 80
    assert pacing.rate_for("webchat", {}) is None  # our own widget: no provider to spare


async def test_two_workers_taking_slots_at_once_get_consecutive_slots_a_gap_apart(world):
    home = world.home
    channel = await _channel(home, "Hız")

    async def worker() -> list:
        return [(await pacing.take_slot(home.rt.db, home.tenant_id, channel.id, 5))[0]
                for _ in range(5)]

    first, second = await asyncio.gather(worker(), worker())
    slots = sorted(first + second)
    assert len(set(slots)) == 10
    assert {b - a for a, b in itertools.pairwise(slots)} == {timedelta(seconds=0.2)}
    # The waits grow with the queue: the 11th slot is two seconds out, less the time taken.
    _, wait = await pacing.take_slot(home.rt.db, home.tenant_id, channel.id, 5)
    assert 1.0 < wait <= 2.0


async def test_channels_are_paced_apart(world):
    home = world.home
    busy, quiet = await _channel(home, "Yoğun"), await _channel(home, "Sakin")
    for _ in range(20):
        await pacing.take_slot(home.rt.db, home.tenant_id, busy.id, 10)
    _, wait = await pacing.take_slot(home.rt.db, home.tenant_id, quiet.id, 10)
    assert wait < 0.05  # the busy channel's queue is not the quiet one's

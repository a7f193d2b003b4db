"""A campaign over time: scheduled in the company's time zone and started once, paced at the
channel's limit, paused, resumed, cancelled, kept out of quiet hours, and finished without a
duplicate or a gap after a worker died in the middle of a batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, text, update

from invekto.campaigns import service
from invekto.campaigns.models import Campaign
from invekto.channels.adapters import adapter_for
from invekto.channels.models import Channel

ISTANBUL = ZoneInfo("Europe/Istanbul")


async def tick(wa, campaign_id, now: datetime) -> str:
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        return await service.tick(session, wa.home.tenant_id, uuid.UUID(str(campaign_id)),
                                  now=now)


async def dispatch_jobs(wa, campaign_id) -> int:
    async with wa.home.rt.db.system_session() as session:
        return await session.scalar(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'campaigns:dispatch' "
            "AND args->>'campaign_id' = :id"), {"id": str(campaign_id)})


async def test_a_scheduled_campaign_starts_once_at_the_local_time(wa):
    await wa.contacts(2, tags=["vip"])
    campaign = await wa.create()
    day = (datetime.now(ISTANBUL) + timedelta(days=3)).date()
    response = await wa.post(f"/api/v1/campaigns/{campaign['id']}/schedule",
                             json={"at": f"{day}T09:00:00"})  # the company's wall clock
    assert response.status_code == 200, response.text
    nine_local = datetime.combine(day, time(9), ISTANBUL)
    assert datetime.fromisoformat(response.json()["scheduled_at"]) == nine_local
    assert nine_local.astimezone(UTC).hour == 6  # Istanbul is UTC+3 all year

    assert await tick(wa, campaign["id"], nine_local - timedelta(seconds=1)) == "waiting"
    assert await dispatch_jobs(wa, campaign["id"]) == 0
    assert await tick(wa, campaign["id"], nine_local) == "started"
    assert await tick(wa, campaign["id"], nine_local + timedelta(minutes=1)) != "started"
    assert await dispatch_jobs(wa, campaign["id"]) == service.DISPATCHERS
    assert await wa.dispatch(campaign["id"]) == 2
    assert await wa.dispatch(campaign["id"]) == 0  # a second dispatcher finds nobody left
    assert len(wa.simulator.state.sent) == 2


async def test_a_time_in_the_past_is_refused(wa):
    await wa.contacts(1, tags=["vip"])
    campaign = await wa.create()
    response = await wa.post(f"/api/v1/campaigns/{campaign['id']}/schedule",
                             json={"at": "2020-01-01T09:00:00+03:00"})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "at")


async def test_the_channels_rate_is_honoured(wa):
    rate = 20.0
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        await session.execute(update(Channel).where(Channel.id == wa.channel_id).values(
            settings=Channel.settings.op("||")(
                func.jsonb_build_object("max_messages_per_second", rate))))
    await wa.contacts(60, tags=["vip"])
    campaign = await wa.create()
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    await wa.dispatch(campaign["id"])
    moments = sorted(s.at for s in wa.simulator.state.sent)
    assert len(moments) == 60
    measured = (len(moments) - 1) / (moments[-1] - moments[0])
    assert abs(measured - rate) <= rate * 0.1, measured


async def test_pause_resume_and_cancel(wa):
    await wa.contacts(4, tags=["vip"])
    campaign = await wa.create()
    path = f"/api/v1/campaigns/{campaign['id']}"
    await wa.post(f"{path}/send")
    assert (await wa.post(f"{path}/pause")).json()["status"] == "paused"
    assert await wa.dispatch(campaign["id"]) == 0
    assert (await wa.post(f"{path}/pause")).status_code == 409  # not running
    assert (await wa.post(f"{path}/resume")).json()["status"] == "running"
    assert await wa.dispatch(campaign["id"]) == 4

    other = await wa.create(name="İkinci")
    await wa.post(f"/api/v1/campaigns/{other['id']}/send")
    assert (await wa.post(f"/api/v1/campaigns/{other['id']}/cancel")).json()["status"] == \
        "cancelled"
    assert await wa.dispatch(other["id"]) == 0
    assert (await wa.report(other["id"]))["states"]["queued"] == 4  # never sent, still counted
    assert (await wa.home.sevgi.client.put(f"/api/v1/campaigns/{other['id']}", json={
        "name": "x", "channel_id": str(wa.channel_id)})).status_code == 409


async def test_nothing_goes_out_in_quiet_hours(wa):
    await wa.contacts(2, tags=["vip"])
    campaign = await wa.create(quiet_start="21:00:00", quiet_end="09:00:00")
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    night = datetime(2026, 12, 1, 23, 30, tzinfo=ISTANBUL)
    morning = datetime(2026, 12, 2, 9, 0, tzinfo=ISTANBUL)
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        found = await session.get_one(Campaign, uuid.UUID(campaign["id"]))
        assert await service.in_quiet_hours(session, found, night)
        assert not await service.in_quiet_hours(session, found, morning)
        assert await service.take_batch(session, wa.home.tenant_id, found.id, 10,
                                        now=night) is None
        assert await service.take_batch(session, wa.home.tenant_id, found.id, 10,
                                        now=morning) is not None


async def test_a_worker_dying_mid_batch_leaves_no_duplicate_and_no_gap(wa):
    """The worker took six, the provider got four of them, and the worker died before it
    recorded anything. Meta's status webhooks echo our recipient ids for the four; after the
    grace period the two it never got go again, and only they."""
    await wa.contacts(6, tags=["vip"])
    campaign = await wa.create()
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    tenant = wa.home.tenant_id
    async with wa.home.rt.db.tenant_session(tenant) as session:
        batch = await service.take_batch(session, tenant, uuid.UUID(campaign["id"]), 6)
    adapter = adapter_for("whatsapp_cloud")
    for recipient in batch.recipients[:4]:
        await adapter.send(batch.account, service.outbound_for(batch, recipient))
    # ... the worker is gone. Meta reports what it took:
    await wa.deliver(*wa.simulator.statuses_of(wa.simulator.state.sent, "sent"))
    states = [r.state for r in await wa.recipients(campaign["id"])]
    assert sorted(states) == ["sending"] * 2 + ["sent"] * 4

    soon = datetime.now(UTC) + timedelta(minutes=1)
    assert await tick(wa, campaign["id"], soon) == "sending"  # still within the grace period
    later = datetime.now(UTC) + service.UNCONFIRMED_GRACE + timedelta(minutes=1)
    assert await tick(wa, campaign["id"], later) == "dispatching"
    assert await wa.dispatch(campaign["id"]) == 2
    sent_to = [s.body["to"] for s in wa.simulator.state.sent]
    assert sorted(sent_to) == sorted(set(sent_to)) and len(sent_to) == 6
    assert (await wa.report(campaign["id"]))["campaign"]["status"] == "completed"


async def test_a_provider_that_takes_nothing_frees_the_worker_and_is_tried_again(wa):
    await wa.contacts(3, tags=["vip"])
    campaign = await wa.create()
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    wa.simulator.fail_next(3, status=429, code=130429)  # Meta's throughput limit, for all
    assert await wa.dispatch(campaign["id"]) == 0  # returns at once instead of looping
    assert {r.state for r in await wa.recipients(campaign["id"])} == {"queued"}
    assert await tick(wa, campaign["id"], datetime.now(UTC)) == "dispatching"
    assert await wa.dispatch(campaign["id"]) == 3

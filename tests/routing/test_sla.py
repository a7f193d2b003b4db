"""SLA policies with the clock moved forward: due times counted in business hours, the most
specific policy (tag, channel, default), breaches recorded once and kept, the supervisors told,
and each escalation (reassign, tag, priority)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Notification
from invekto.inbox.schemas import MessageSend
from invekto.routing import sla
from invekto.routing.models import SlaBreach
from tests.routing.team import acting, customer_writes, route

ISTANBUL = ZoneInfo("Europe/Istanbul")
WEEKDAYS = {str(d): [["09:00", "18:00"]] for d in range(5)}
FRIDAY_17 = datetime(2026, 11, 27, 17, 0, tzinfo=ISTANBUL)


async def _policy(company, **fields) -> dict:
    response = await company.sevgi.client.post("/api/v1/sla-policies", json={
        "name": f"SLA {uuid.uuid4().hex[:6]}", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def _scan(company, now: datetime) -> int:
    async with company.rt.db.system_session() as session:
        found = await sla.overdue(session, now=now)
    total = 0
    for tenant_id, conversation_id in found:
        if tenant_id == company.tenant_id:
            async with company.rt.db.tenant_session(tenant_id) as session:
                total += await inbox.escalate_breaches(session, tenant_id, conversation_id,
                                                       now=now)
    return total


async def _reload(company, conversation) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, conversation.id)


async def test_due_times_count_business_hours_and_breaches_are_kept_once(team):
    await team.sevgi.client.put("/api/v1/business-hours", json={"schedule": WEEKDAYS})
    await _policy(team, first_response_minutes=120, resolution_minutes=8 * 60)
    friday = await customer_writes(team, FRIDAY_17)
    # One business hour on Friday, the rest from Monday 09:00.
    assert friday.first_response_due_at == datetime(2026, 11, 30, 10, 0, tzinfo=ISTANBUL)
    assert friday.resolution_due_at == datetime(2026, 11, 30, 16, 0, tzinfo=ISTANBUL)

    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=ISTANBUL)
    assert await _scan(team, saturday_noon) == 0  # the weekend does not count
    monday = datetime(2026, 11, 30, 10, 30, tzinfo=ISTANBUL)
    assert await _scan(team, monday) == 1  # the first response is late
    assert await _scan(team, monday) == 0  # recorded once
    assert await _scan(team, monday + timedelta(hours=6)) == 1  # and now the resolution
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        breaches = {(b.target, b.due_at) for b in (await session.scalars(select(SlaBreach).where(
            SlaBreach.conversation_id == friday.id))).all()}
        told = {n.user_id for n in (await session.scalars(select(Notification).where(
            Notification.conversation_id == friday.id,
            Notification.kind == "sla_breach"))).all()}
    assert breaches == {("first_response", friday.first_response_due_at),
                        ("resolution", friday.resolution_due_at)}
    assert told == {team.sevgi.user_id, team.ayla.user_id}  # supervisors and admins


async def test_an_answer_in_time_meets_the_first_response_target(team):
    await _policy(team, first_response_minutes=30, business_hours=False)
    conversation = await customer_writes(team, datetime.now(ISTANBUL))
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.send_message(session, acting(team, "sevgi"), conversation.id,
                                 MessageSend(body="Buyurun"))
    assert await _scan(team, datetime.now(ISTANBUL) + timedelta(hours=2)) == 0


async def test_the_most_specific_policy_applies_and_follows_tags(team):
    await _policy(team, name="Varsayılan", resolution_minutes=24 * 60, business_hours=False)
    await _policy(team, name="Web", channel_id=str(team.channel_id), first_response_minutes=60,
                  business_hours=False)
    vip = await _policy(team, name="VIP", tag="vip", first_response_minutes=5,
                        business_hours=False)
    conversation = await customer_writes(team, datetime.now(ISTANBUL))
    assert conversation.first_response_due_at == conversation.opened_at + timedelta(hours=1)
    assert conversation.resolution_due_at is None  # the channel's policy has none
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        await inbox.change_tags(session, team.system, conversation.id, add=["vip"], remove=[],
                                create_missing=True)
    tagged = await _reload(team, conversation)
    assert str(tagged.sla_policy_id) == vip["id"]
    assert tagged.first_response_due_at == conversation.opened_at + timedelta(minutes=5)


async def test_escalations_reassign_tag_or_raise_the_priority(team):
    await route(team)
    await _policy(team, name="Aktar", tag="aktar", first_response_minutes=10,
                  business_hours=False, escalation="reassign")
    await _policy(team, name="Etiket", tag="etiket", first_response_minutes=10,
                  business_hours=False, escalation="tag", escalation_tag="geç-kaldı")
    await _policy(team, name="Öncelik", tag="oncelik", first_response_minutes=10,
                  business_hours=False, escalation="priority")
    now = datetime.now(ISTANBUL)
    conversations = {}
    for tag in ("aktar", "etiket", "oncelik"):
        conversation = await customer_writes(team, now)
        async with team.rt.db.tenant_session(team.tenant_id) as session:
            await inbox.change_tags(session, team.system, conversation.id, add=[tag],
                                    remove=[], create_missing=True)
        conversations[tag] = await _reload(team, conversation)
    assert await _scan(team, now + timedelta(minutes=11)) == 3

    moved = await _reload(team, conversations["aktar"])
    assert moved.assignee_id not in (None, conversations["aktar"].assignee_id)
    async with team.rt.db.tenant_session(team.tenant_id) as session:
        event = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == moved.id,
            ConversationEvent.kind == "assigned").order_by(
            ConversationEvent.created_at))).all()[-1]
    assert event.data["reason"] == "sla"
    assert "geç-kaldı" in (await _reload(team, conversations["etiket"])).tags
    assert (await _reload(team, conversations["oncelik"])).priority == "high"


async def test_policies_refuse_what_cannot_work(team):
    client = team.sevgi.client
    both = await client.post("/api/v1/sla-policies", json={
        "name": "İkisi", "channel_id": str(team.channel_id), "tag": "vip",
        "first_response_minutes": 5})
    assert (both.status_code, both.json()["error"]["field"]) == (422, "tag")
    empty = await client.post("/api/v1/sla-policies", json={"name": "Boş"})
    assert (empty.status_code, empty.json()["error"]["field"]) == (
        422, "first_response_minutes")
    untagged = await client.post("/api/v1/sla-policies", json={
        "name": "Etiketsiz", "first_response_minutes": 5, "escalation": "tag"})
    assert (untagged.status_code, untagged.json()["error"]["field"]) == (
        422, "escalation_tag")
    await _policy(team, name="Tek", first_response_minutes=5)
    twice = await client.post("/api/v1/sla-policies", json={
        "name": "Tek", "first_response_minutes": 9})
    assert (twice.status_code, twice.json()["error"]["field"]) == (409, "name")
    assert (await team.bora.client.post("/api/v1/sla-policies", json={
        "name": "Ajan", "first_response_minutes": 5})).status_code == 403


async def test_the_thread_shows_the_time_left_then_how_late(team):
    await _policy(team, first_response_minutes=30, business_hours=False)
    conversation = await customer_writes(team, datetime.now(ISTANBUL))
    hx = {"hx-request": "true"}
    html = (await team.sevgi.client.get(f"/inbox/c/{conversation.id}", headers=hx)).text
    due = html[html.index('id="sla-due"'):]
    due = due[:due.index("</span>")]
    assert 'data-late="false"' in due and "İlk yanıt" in due and "kaldı" in due
    late = await customer_writes(team, datetime.now(ISTANBUL) - timedelta(hours=1))
    html = (await team.sevgi.client.get(f"/inbox/c/{late.id}", headers=hx)).text
    due = html[html.index('id="sla-due"'):]
    assert 'data-late="true"' in due[:due.index("</span>")] and "gecikti" in due

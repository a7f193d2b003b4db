"""A call center's own PBX reporting calls to the generic voice webhook: token, final events only,
missed calls waiting for a call back, outbound calls as the business's, idempotent."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.intake import TOKEN_HEADER
from invekto.channels.schemas import ChannelCreate
from invekto.contacts.models import Contact
from invekto.inbox.models import Conversation, Message
from tests.channels.harness import ChannelWorld


class _Pbx:
    """The PBX side: posts call events with the channel's token."""

    def __init__(self, client, channel_id: uuid.UUID, token: str):
        self.client, self.url, self.token = client, f"/webhooks/voice/{channel_id}", token

    async def post(self, event: dict, token: str | None = "ours"):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers[TOKEN_HEADER] = self.token if token == "ours" else token
        return await self.client.post(self.url, content=json.dumps(event), headers=headers)


def call(call_id: str, **fields) -> dict:
    return {"event": "call.ended", "call_id": call_id, "direction": "inbound",
            "from": "+905321234567", "to": "+908501234567",
            "started_at": "2026-11-26T09:15:02+03:00", "ended_at": "2026-11-26T09:18:40+03:00",
            "outcome": "missed", **fields}


@pytest.fixture
async def pbx(world, client):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="voice", name="Santral"))
        token = channels.webhook_secret(channel)
    return ChannelWorld(home, channel.id, _Pbx(client, channel.id, token), "voice")


async def _entries(pbx) -> list[Message]:
    await pbx.ingest_all()
    return await pbx.rows(select(Message).where(Message.channel_id == pbx.channel_id)
                          .order_by(Message.created_at))


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_an_event_without_the_channels_token_is_401(pbx, token):
    response = await pbx.simulator.post(call("c-1"), token=token)
    assert response.status_code == 401
    assert await _entries(pbx) == []


async def test_a_missed_call_opens_the_conversation_and_waits_for_a_call_back(pbx):
    assert (await pbx.simulator.post(call("c-2"))).status_code == 200
    (entry,) = await _entries(pbx)
    assert (entry.direction, entry.content_kind) == ("inbound", "call")
    assert entry.payload["call"] == {
        "direction": "inbound", "outcome": "missed", "from": "+905321234567",
        "to": "+908501234567", "started_at": "2026-11-26T09:15:02+03:00",
        "ended_at": "2026-11-26T09:18:40+03:00", "duration_seconds": 0}
    conversation = await pbx.scalar(select(Conversation).where(
        Conversation.id == entry.conversation_id))
    assert (conversation.status, conversation.unread_count) == ("open", 1)
    assert conversation.waiting_since is not None and conversation.last_message_preview == "📞"
    contact = await pbx.scalar(select(Contact).where(Contact.id == entry.contact_id))
    assert contact.phone == "+905321234567"


async def test_an_answered_call_keeps_its_talk_time_agent_and_recording(pbx):
    await pbx.simulator.post(call("c-3", outcome="answered", agent="ahmet",
                                  answered_at="2026-11-26T09:15:10+03:00",
                                  recording_url="https://pbx.example.com/rec/c-3.mp3"))
    await pbx.simulator.post(call("c-4", outcome="answered",
                                  answered_at="2026-11-26T09:15:10+03:00",
                                  recording_url="javascript:alert(1)"))
    entries = {m.provider_message_id: m for m in await _entries(pbx)}  # same start: no order
    first, second = entries["call:c-3"], entries["call:c-4"]
    assert first.payload["call"]["duration_seconds"] == 210  # 09:15:10 to 09:18:40
    assert (first.payload["call"]["agent"], first.payload["call"]["recording_url"]) == (
        "ahmet", "https://pbx.example.com/rec/c-3.mp3")
    assert "recording_url" not in second.payload["call"]  # only http(s) links are kept


async def test_an_outbound_call_is_the_businesss_and_answers_the_customer(pbx):
    await pbx.simulator.post(call("c-5"))  # the customer's missed call
    await pbx.simulator.post(call("c-6", direction="outbound", outcome="answered",
                                  **{"from": "+908501234567", "to": "+905321234567"},
                                  answered_at="2026-11-26T09:30:00+03:00",
                                  started_at="2026-11-26T09:29:50+03:00",
                                  ended_at="2026-11-26T09:31:00+03:00"))
    missed, callback = await _entries(pbx)
    assert (callback.direction, callback.status, callback.sender_kind) == (
        "outbound", "sent", "agent")
    assert callback.conversation_id == missed.conversation_id
    conversation = await pbx.scalar(select(Conversation).where(
        Conversation.id == missed.conversation_id))
    assert (conversation.waiting_since, conversation.unread_count) == (None, 0)


async def test_only_the_final_event_counts_and_only_once(pbx):
    for event in ("call.ringing", "call.answered"):
        assert (await pbx.simulator.post({**call("c-7"), "event": event})).status_code == 200
    for _ in range(3):
        await pbx.simulator.post(call("c-7", outcome="answered",
                                      answered_at="2026-11-26T09:15:05+03:00"))
    assert len(await _entries(pbx)) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"event": "call.ended"}', b"[]"])
async def test_a_body_that_is_not_a_call_event_is_400(pbx, body):
    response = await pbx.simulator.client.post(
        pbx.simulator.url, content=body,
        headers={TOKEN_HEADER: pbx.simulator.token, "Content-Type": "application/json"})
    assert response.status_code == 400


async def test_a_reply_on_the_phone_line_fails_visibly(pbx):
    await pbx.simulator.post(call("c-8"))
    (entry,) = await _entries(pbx)
    reply_id = await pbx.reply(entry.conversation_id, "Sizi arayacağız")
    await pbx.deliver_reply(reply_id)
    reply = await pbx.scalar(select(Message).where(Message.id == reply_id))
    assert (reply.status, reply.error_code) == ("failed", "channel_cannot_send")


async def test_the_inbox_offers_no_composer_on_a_phone_line(pbx):
    await pbx.simulator.post(call("c-9"))
    (entry,) = await _entries(pbx)
    page = await pbx.home.bora.client.get(f"/inbox?c={entry.conversation_id}")
    assert 'id="phone-line-notice"' in page.text and 'id="composer"' not in page.text
    assert 'class="msg-call" data-outcome="missed"' in page.text


async def test_the_calls_add_up_for_the_reports(pbx, world):
    """Calls a PBX reported, summed for a period: each way, answered, missed, talk time, and
    each agent's answered calls; a call outside the period and another company's stay out."""
    home = world.home
    day = "2026-11-26T{}+03:00"
    for call_id, fields in {
            "s-1": {"outcome": "answered", "agent": "ahmet", "started_at": day.format("09:00:00"),
                    "answered_at": day.format("09:00:10"), "ended_at": day.format("09:05:10")},
            "s-2": {"outcome": "answered", "agent": "ahmet", "started_at": day.format("10:00:00"),
                    "answered_at": day.format("10:00:05"), "ended_at": day.format("10:01:05")},
            "s-3": {"outcome": "answered", "agent": "zeynep", "direction": "outbound",
                    "from": "+908501234567", "to": "+905559998877",
                    "started_at": day.format("11:00:00"), "answered_at": day.format("11:00:20"),
                    "ended_at": day.format("11:10:20")},
            "s-4": {"outcome": "missed", "started_at": day.format("12:00:00"),
                    "ended_at": day.format("12:00:30")},
            "s-5": {"outcome": "busy", "started_at": day.format("13:00:00"),
                    "ended_at": day.format("13:00:01")},
            "s-6": {"outcome": "answered", "agent": "ahmet",  # the day before: not counted
                    "started_at": "2026-11-25T09:00:00+03:00",
                    "answered_at": "2026-11-25T09:00:10+03:00",
                    "ended_at": "2026-11-25T09:30:10+03:00"}}.items():
        assert (await pbx.simulator.post(call(call_id, **fields))).status_code == 200
    await pbx.ingest_all()

    period = {"since": "2026-11-26T00:00:00+03:00", "until": "2026-11-27T00:00:00+03:00"}
    response = await home.sevgi.client.get("/api/v1/calls/summary", params=period)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "inbound": 4, "outbound": 1, "answered": 3, "missed": 2,
        "talk_seconds": 300 + 60 + 600,
        "agents": [{"agent": "zeynep", "calls": 1, "talk_seconds": 600},
                   {"agent": "ahmet", "calls": 2, "talk_seconds": 360}]}
    other = await world.charlie.ayla.client.get("/api/v1/calls/summary", params=period)
    assert other.json()["inbound"] == 0

    # Agents do not read the company's figures; a period must make sense.
    assert (await home.bora.client.get("/api/v1/calls/summary",
                                       params=period)).status_code == 403
    backwards = await home.sevgi.client.get("/api/v1/calls/summary", params={
        "since": period["until"], "until": period["since"]})
    assert (backwards.status_code, backwards.json()["error"]["field"]) == (422, "until")
    naive = await home.sevgi.client.get("/api/v1/calls/summary", params={
        "since": "2026-11-26T00:00:00", "until": period["until"]})
    assert (naive.status_code, naive.json()["error"]["field"]) == (422, "since")

"""Per-recipient pace: Telegram takes about one message a second per chat, so the outbound job
never sends two messages to one conversation less than the kind's interval apart. The times are
asserted as computed and stored, not measured."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from invekto.channels import adapters, pacing
from invekto.channels import service as channels
from invekto.channels.adapters.telegram import TelegramAdapter
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.telegram import BOT_TOKEN, CUSTOMER_ID, create_simulator
from invekto.inbox import service as inbox
from invekto.inbox.models import Message
from invekto.inbox.schemas import MessageSend
from invekto.inbox.tasks import deliver_message

SIM = "http://telegram.simulator"
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_only_kinds_whose_provider_caps_a_recipient_have_an_interval():
    assert pacing.recipient_interval("telegram") == 1.0
    for kind in ("whatsapp_cloud", "messenger", "sms_twilio", "sms_netgsm", "webchat"):
        assert pacing.recipient_interval(kind) is None


@pytest.mark.parametrize("previous, slot", [
    (None, NOW),  # nothing sent to the chat lately: now
    (NOW - timedelta(seconds=0.3), NOW + timedelta(seconds=0.7)),  # the rest of the second
    (NOW - timedelta(seconds=5), NOW),  # long enough ago
    (NOW + timedelta(seconds=2), NOW + timedelta(seconds=3)),  # behind one still waiting
])
def test_a_recipients_next_slot(previous, slot):
    assert pacing.recipient_slot(previous, NOW, 1.0) == slot


def test_seconds_until_is_never_negative():
    assert pacing.seconds_until(datetime.now(UTC) - timedelta(seconds=5)) == 0.0
    assert 0 < pacing.seconds_until(datetime.now(UTC) + timedelta(seconds=10)) <= 10


@pytest.fixture
async def telegram(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="telegram", name="Telegram", settings={"api_base_url": SIM},
            credentials={"bot_token": BOT_TOKEN}))
    return home, channel


async def _conversation(home, channel, handle: str = str(CUSTOMER_ID)) -> uuid.UUID:
    message = await home.inbound("Merhaba", handle=handle, channel_id=channel.id)
    return message.conversation_id


async def _replies(home, conversation_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    ids = []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        for n in range(count):
            reply, _ = await inbox.send_message(session, home.system, conversation_id,
                                                MessageSend(body=f"Yanıt {n + 1}"))
            ids.append(reply.id)
    return ids


async def _claim(home, message_id: uuid.UUID) -> datetime:
    """What the outbound job does in its first transaction: claim, then take the slot."""
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await inbox.deliver_outbound(session, home.tenant_id, message_id) == "send"
        slot = await inbox.take_recipient_slot(session, home.tenant_id, message_id, 1.0)
    return slot


async def _dispatched(home, message_id: uuid.UUID) -> datetime:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await session.scalar(select(Message.dispatched_at).where(
            Message.id == message_id))


async def test_messages_to_one_chat_get_slots_a_second_apart(telegram):
    home, channel = telegram
    first, second, third = await _replies(home, await _conversation(home, channel), 3)
    before = datetime.now(UTC)
    slots = [await _claim(home, message_id) for message_id in (first, second, third)]
    assert before <= slots[0] <= datetime.now(UTC)  # nothing before it: at once
    assert slots[1] - slots[0] >= SECOND and slots[2] - slots[1] >= SECOND
    assert [await _dispatched(home, m) for m in (first, second, third)] == slots


async def test_the_slot_follows_a_message_still_waiting_for_its_own(telegram):
    home, channel = telegram
    waiting, message_id = await _replies(home, await _conversation(home, channel), 2)
    later = datetime.now(UTC) + timedelta(seconds=30)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == waiting).values(
            dispatched_at=later))
    assert await _claim(home, message_id) == later + SECOND


async def test_other_chats_and_old_sends_do_not_hold_a_message_back(telegram):
    home, channel = telegram
    busy = await _conversation(home, channel, "111")
    quiet = await _conversation(home, channel, "222")
    (recent,) = await _replies(home, busy, 1)
    await _claim(home, recent)  # this chat is busy for the next second...
    (other,) = await _replies(home, quiet, 1)
    assert await _claim(home, other) <= datetime.now(UTC)  # ...the other chat is not
    (old, fresh) = await _replies(home, quiet, 2)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id.in_([other, old])).values(
            dispatched_at=datetime.now(UTC) - timedelta(seconds=5)))
    assert await _claim(home, fresh) <= datetime.now(UTC)


async def test_jobs_claiming_at_once_take_turns(telegram):
    home, channel = telegram
    replies = await _replies(home, await _conversation(home, channel), 4)
    slots = sorted(await asyncio.gather(*(_claim(home, m) for m in replies)))
    assert all(b - a >= SECOND for a, b in itertools.pairwise(slots))


async def test_the_outbound_job_sends_one_chats_messages_a_second_apart(telegram):
    home, channel = telegram
    simulator = create_simulator(BOT_TOKEN)
    original = adapters.adapter_for("telegram")
    adapters.register(TelegramAdapter(transport=httpx.ASGITransport(app=simulator)))
    try:
        replies = await _replies(home, await _conversation(home, channel), 2)
        await asyncio.gather(*(deliver_message(tenant_id=str(home.tenant_id),
                                               message_id=str(m)) for m in replies))
    finally:
        adapters.register(original)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sent = list((await session.scalars(select(Message).where(
            Message.id.in_(replies)).order_by(Message.dispatched_at))).all())
    assert [m.status for m in sent] == ["sent", "sent"]
    assert sent[1].dispatched_at - sent[0].dispatched_at >= SECOND
    # The provider got them in the order of their slots.
    assert [s.params["text"] for s in simulator.state.sent] == [m.body for m in sent]


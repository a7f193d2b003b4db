"""Outbound delivery through the job queue: deferred with the request's transaction, sent once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from invekto.auth.models import UserSession
from invekto.auth.tasks import prune_sessions
from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.base import PermanentFailure, Sent, TemporaryFailure
from invekto.channels.models import CHANNEL_KINDS
from invekto.channels.schemas import ChannelCreate
from invekto.core.jobs import job_app
from invekto.inbox import service as inbox
from invekto.inbox.models import Message
from invekto.inbox.schemas import MessageSend
from invekto.inbox.tasks import ProviderUnavailable, deliver_message


@dataclass
class ScriptedProvider:
    """Stands in for an SMS provider's HTTP API: answers each send from a script."""

    kind: str = "sms_netgsm"
    answers: list = field(default_factory=list)
    received: list = field(default_factory=list)

    async def send(self, account, message):
        self.received.append(message)
        return self.answers.pop(0) if self.answers else Sent(f"netgsm-{len(self.received)}")


@pytest.fixture
def provider(monkeypatch):
    scripted = ScriptedProvider()
    monkeypatch.setitem(adapters._ADAPTERS, scripted.kind, scripted)
    return scripted


async def _jobs_for(rt, message_id: uuid.UUID) -> list[tuple[str, str]]:
    async with rt.db.transaction() as session:
        rows = await session.execute(text(
            "SELECT task_name, status::text FROM procrastinate_jobs "
            "WHERE args->>'message_id' = :id"), {"id": str(message_id)})
        return [tuple(row) for row in rows]


async def _message(rt, company, message_id) -> Message:
    async with rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Message, message_id)


async def _reply(company, conversation_id, body="Merhaba, size nasıl yardımcı olabilirim?"):
    response = await company.sevgi.client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": body})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def _sms_conversation(company):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind="sms_netgsm", name=f"SMS {uuid.uuid4().hex[:6]}", external_id="8503000000"))
    inbound = await company.inbound("Fiyat alabilir miyim?", phone="+905321112233",
                                    handle="905321112233", channel_id=channel.id)
    return inbound.conversation_id


async def test_a_reply_is_queued_with_its_request_and_delivered_by_the_worker(world, rt):
    conversation_id = (await world.home.inbound("Merhaba")).conversation_id
    message_id = await _reply(world.home, conversation_id)
    assert await _jobs_for(rt, message_id) == [("inbox:deliver_message", "todo")]
    assert (await _message(rt, world.home, message_id)).status == "pending"

    await job_app.run_worker_async(queues=["outbound"], wait=False,
                                   install_signal_handlers=False, listen_notify=False)

    message = await _message(rt, world.home, message_id)
    assert message.status == "sent"
    assert message.provider_message_id == f"webchat:{message_id}"
    assert await _jobs_for(rt, message_id) == [("inbox:deliver_message", "succeeded")]


async def test_a_rolled_back_request_leaves_no_job_and_no_message(world, rt):
    conversation_id = (await world.home.inbound("Merhaba")).conversation_id
    client_id = f"rollback-{uuid.uuid4().hex}"

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with rt.db.tenant_session(world.home.tenant_id) as session:
            message, _ = await inbox.send_message(
                session, world.home.system, conversation_id,
                MessageSend(body="x", client_message_id=client_id))
            message_id = message.id
            assert await session.scalar(text(
                "SELECT count(*) FROM procrastinate_jobs WHERE args->>'message_id' = :id"),
                {"id": str(message_id)}) == 1  # deferred inside the transaction...
            raise Abort
    assert await _jobs_for(rt, message_id) == []  # ...and gone with it
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        assert await session.scalar(select(Message).where(
            Message.client_message_id == client_id)) is None


async def test_a_job_run_twice_sends_once(world, rt, provider):
    message_id = await _reply(world.home, await _sms_conversation(world.home))
    args = {"tenant_id": str(world.home.tenant_id), "message_id": str(message_id)}
    await deliver_message(**args)
    await deliver_message(**args)
    assert [m.message_id for m in provider.received] == [message_id]
    message = await _message(rt, world.home, message_id)
    assert (message.status, message.provider_message_id) == ("sent", "netgsm-1")
    assert provider.received[0].recipient_phone == "+905321112233"


async def test_a_send_interrupted_mid_flight_is_not_repeated(world, rt, provider):
    """The worker died after handing the message to the provider: it may have gone out, so the
    retry marks it failed for a person to check instead of sending it a second time."""
    message_id = await _reply(world.home, await _sms_conversation(world.home))
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == message_id).values(
            dispatched_at=datetime.now(UTC) - timedelta(minutes=1)))
    await deliver_message(tenant_id=str(world.home.tenant_id), message_id=str(message_id))
    assert provider.received == []
    message = await _message(rt, world.home, message_id)
    assert (message.status, message.error_code) == ("failed", "delivery_unknown")


async def test_a_temporary_provider_failure_is_retried_then_sent(world, rt, provider):
    provider.answers = [TemporaryFailure("HTTP 503")]
    message_id = await _reply(world.home, await _sms_conversation(world.home))
    args = {"tenant_id": str(world.home.tenant_id), "message_id": str(message_id)}
    with pytest.raises(ProviderUnavailable):
        await deliver_message(**args)
    message = await _message(rt, world.home, message_id)
    assert (message.status, message.dispatched_at) == ("pending", None)
    await deliver_message(**args)
    assert len(provider.received) == 2
    assert (await _message(rt, world.home, message_id)).status == "sent"


async def test_a_permanent_provider_failure_is_recorded_with_its_reason(world, rt, provider):
    provider.answers = [PermanentFailure("30", "invalid number")]
    message_id = await _reply(world.home, await _sms_conversation(world.home))
    await deliver_message(tenant_id=str(world.home.tenant_id), message_id=str(message_id))
    message = await _message(rt, world.home, message_id)
    assert (message.status, message.error_code, message.error_message) == (
        "failed", "30", "invalid number")


async def test_a_channel_kind_without_an_adapter_fails_visibly(world, rt, monkeypatch):
    # A kind whose adapter is missing (every kind has one now: one is taken away).
    kind = "sms_netgsm"
    assert kind in CHANNEL_KINDS
    monkeypatch.delitem(adapters._ADAPTERS, kind)
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        channel = await channels.create_channel(session, world.home.system, ChannelCreate(
            kind=kind, name="Henüz bağlanmayan kanal"))
    inbound = await world.home.inbound("Selam", channel_id=channel.id, handle="777")
    message_id = await _reply(world.home, inbound.conversation_id)
    await deliver_message(tenant_id=str(world.home.tenant_id), message_id=str(message_id))
    message = await _message(rt, world.home, message_id)
    assert (message.status, message.error_code) == ("failed", "channel_not_supported")


async def test_the_hourly_prune_job_removes_expired_sessions_only(world, rt):
    bora = world.home.bora
    long_ago = datetime.now(UTC) - timedelta(days=30)
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        session.add(UserSession(tenant_id=world.home.tenant_id, user_id=bora.user_id,
                                token_hash=uuid.uuid4().bytes * 2, created_at=long_ago,
                                expires_at=long_ago, last_seen_at=long_ago))
    await prune_sessions(timestamp=0)
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        remaining = (await session.scalars(select(UserSession.expires_at).where(
            UserSession.user_id == bora.user_id))).all()
    assert remaining and all(expiry > datetime.now(UTC) for expiry in remaining)
    assert (await bora.client.get("/api/v1/auth/me")).status_code == 200


def test_periodic_housekeeping_is_registered():
    assert "auth:prune_sessions" in {task.task.name for task in
                                     job_app.periodic_registry.periodic_tasks.values()}

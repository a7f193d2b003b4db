"""A channel under test: a company, one of its channels and that provider's simulator, with the
steps the worker would take (ingest deliveries, send replies) done inline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select

from invekto.channels import adapters, intake
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.simulator.whatsapp import create_simulator
from invekto.inbox import service as inbox
from invekto.inbox.models import Message
from invekto.inbox.schemas import MessageSend
from invekto.inbox.tasks import deliver_message


class ChannelWorld:
    def __init__(self, home, channel_id: uuid.UUID, simulator, kind: str | None = None):
        self.home, self.channel_id, self.simulator, self.kind = (home, channel_id, simulator,
                                                                 kind)

    async def deliver(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """The provider posts a webhook to our intake; the ingest job then runs."""
        response = await self.simulator.deliver(body, headers)
        await self.ingest_all()
        return response

    async def ingest_all(self) -> None:
        """What the worker's ingest job does with the channel's waiting deliveries."""
        home = self.home
        await intake.ingest_pending(home.rt.db, home.rt.storage, home.tenant_id, self.channel_id,
                                    max_attachment_bytes=home.rt.settings.max_attachment_bytes)

    async def customer_writes(self, *args, **kwargs) -> Message:
        """A customer message delivered and ingested; returns the stored message."""
        await self.deliver(*self.simulator.customer_message(*args, **kwargs))
        return await self.scalar(select(Message).where(
            Message.channel_id == self.channel_id, Message.direction == "inbound"
        ).order_by(Message.created_at.desc()).limit(1))

    async def reply(self, conversation_id: uuid.UUID, text: str) -> uuid.UUID:
        """An agent's reply, stored and waiting for the outbound job."""
        home = self.home
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            reply, _ = await inbox.send_message(session, home.system, conversation_id,
                                                MessageSend(body=text))
        return reply.id

    async def reply_with_file(self, conversation_id: uuid.UUID, data: bytes, *,
                              content_type: str, filename: str, kind: str,
                              caption: str = "") -> uuid.UUID:
        """An agent's file (uploaded in the composer), stored and waiting for the outbound job."""
        home = self.home
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            attachment = await inbox.store_attachment(
                session, home.system, home.rt.storage, filename=filename,
                content_type=content_type, data=data, max_bytes=10_000_000)
            reply, _ = await inbox.send_message(session, home.system, conversation_id,
                                                MessageSend(body=caption, content_kind=kind,
                                                            attachment_id=attachment.id))
        return reply.id

    async def deliver_reply(self, message_id: uuid.UUID) -> None:
        """The outbound job for one message."""
        await deliver_message(tenant_id=str(self.home.tenant_id), message_id=str(message_id))

    async def scalar(self, query):
        async with self.home.rt.db.tenant_session(self.home.tenant_id) as session:
            return await session.scalar(query)

    async def rows(self, query):
        async with self.home.rt.db.tenant_session(self.home.tenant_id) as session:
            return list((await session.scalars(query)).all())


# The test WhatsApp number's app secret and phone number id, as its channels are set up.
WHATSAPP_APP_SECRET = "test-app-secret-do-not-use"
WHATSAPP_NUMBER_ID = "109876543210987"


@asynccontextmanager
async def whatsapp_simulated(app, home, channel_id: uuid.UUID, world=ChannelWorld
                             ) -> AsyncIterator[ChannelWorld]:
    """The company's WhatsApp channel with the Graph API simulator as its provider: the
    adapter the worker uses speaks to it, and it posts its signed webhooks to our app."""
    simulator = create_simulator(
        WHATSAPP_APP_SECRET, webhook_url=f"http://testserver/webhooks/whatsapp_cloud/{channel_id}",
        webhook_transport=httpx.ASGITransport(app=app), phone_number_id=WHATSAPP_NUMBER_ID,
        access_token="EAAG-test")
    original = adapters.adapter_for("whatsapp_cloud")
    adapters.register(WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator)))
    try:
        yield world(home, channel_id, simulator, "whatsapp_cloud")
    finally:
        adapters.register(original)

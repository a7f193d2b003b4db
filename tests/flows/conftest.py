"""Chatbot flows under test: a company's flow built, saved and published through the API as
the builder does, a customer writing through the real ingest (web chat unless a test sets up
another channel), and the steps the worker would take (``flows:advance``, the minute scan with
its clock moved forward) run inline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from invekto.flows import tasks
from invekto.flows.models import FlowSession
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Message, Note
from invekto.inbox.schemas import InboundMessage


def later(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


async def make_flow(company, graph: dict, *, triggers: dict | None = None,
                    name: str | None = None, publish: bool = True) -> dict:
    """A flow saved as a draft and published by Sevgi (a supervisor), as the builder does."""
    client = company.sevgi.client
    created = await client.post("/api/v1/flows",
                                json={"name": name or f"Akış {uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.text
    flow = created.json()
    saved = await client.patch(f"/api/v1/flows/{flow['id']}", json={
        "graph": graph,
        "triggers": {"first_message": True} if triggers is None else triggers})
    assert saved.status_code == 200, saved.text
    if publish:
        published = await client.post(f"/api/v1/flows/{flow['id']}/publish")
        assert published.status_code == 201, published.text
    return saved.json()


async def republish(company, flow_id: str, graph: dict, triggers: dict | None = None) -> dict:
    client = company.sevgi.client
    saved = await client.patch(f"/api/v1/flows/{flow_id}", json={
        "graph": graph, **({"triggers": triggers} if triggers else {})})
    assert saved.status_code == 200, saved.text
    published = await client.post(f"/api/v1/flows/{flow_id}/publish")
    assert published.status_code == 201, published.text
    return published.json()


class Customer:
    """One web chat visitor of the company, writing through the ingest."""

    def __init__(self, company, handle: str | None = None, *, channel_id=None, name="Ayşe Yılmaz"):
        self.company = company
        self.handle = handle or f"visitor-{uuid.uuid4().hex[:8]}"
        self.channel_id = channel_id or company.channel_id
        self.name = name
        self.conversation_id: uuid.UUID | None = None
        self.contact_id: uuid.UUID | None = None

    async def says(self, body: str = "Merhaba", **fields) -> Message:
        return await self._receive(body=body, **fields)

    async def taps(self, choice_id: str, title: str) -> Message:
        """A tapped button or list row, as the WhatsApp and Telegram adapters store it."""
        return await self._receive(body=title, content_kind="interactive",
                                   payload={"type": "button_reply", "id": choice_id,
                                            "title": title})

    async def _receive(self, **fields) -> Message:
        company = self.company
        async with company.rt.db.tenant_session(company.tenant_id) as session:
            message, _ = await inbox.receive_inbound(session, company.tenant_id, InboundMessage(
                channel_id=self.channel_id, handle=self.handle,
                provider_message_id=f"evt-{uuid.uuid4().hex}", contact_name=self.name,
                **fields))
        self.conversation_id, self.contact_id = message.conversation_id, message.contact_id
        return message

    async def heard(self) -> list[str]:
        """What the company sent this customer, oldest first."""
        return [m.body for m in await self.sent()]

    async def sent(self) -> list[Message]:
        async with self.company.rt.db.tenant_session(self.company.tenant_id) as session:
            return list((await session.scalars(select(Message).where(
                Message.contact_id == self.contact_id, Message.direction == "outbound"
            ).order_by(Message.created_at, Message.id))).all())

    async def conversation(self) -> Conversation:
        async with self.company.rt.db.tenant_session(self.company.tenant_id) as session:
            return await session.get_one(Conversation, self.conversation_id)

    async def sessions(self) -> list[FlowSession]:
        async with self.company.rt.db.tenant_session(self.company.tenant_id) as session:
            return list((await session.scalars(select(FlowSession).where(
                FlowSession.conversation_id == self.conversation_id
            ).order_by(FlowSession.started_at, FlowSession.id))).all())

    async def session(self) -> FlowSession:
        return (await self.sessions())[-1]

    async def bot_events(self) -> list[dict]:
        async with self.company.rt.db.tenant_session(self.company.tenant_id) as session:
            return [e.data for e in (await session.scalars(select(ConversationEvent).where(
                ConversationEvent.conversation_id == self.conversation_id,
                ConversationEvent.kind == "bot").order_by(ConversationEvent.created_at,
                                                          ConversationEvent.id))).all()]

    async def notes(self) -> list[str]:
        async with self.company.rt.db.tenant_session(self.company.tenant_id) as session:
            return [n.body for n in (await session.scalars(select(Note).where(
                Note.conversation_id == self.conversation_id).order_by(Note.created_at))).all()]

    async def advance(self) -> bool:
        """The ``flows:advance`` job the session's external step or delay deferred."""
        current = await self.session()
        return await tasks.advance(tenant_id=str(self.company.tenant_id),
                                   session_id=str(current.id), step=current.step)


async def tick(company, now: datetime) -> int:
    """One minute of ``flows:tick`` for this company only."""
    return await tasks.run_due(company.rt.db, now=now, tenant_id=company.tenant_id)

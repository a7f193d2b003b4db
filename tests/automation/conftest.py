"""Rules under test: made through the API as a supervisor would, fired by the real services
(ingest, tagging, closing...), their log and effects read from the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from invekto.automation import tasks
from invekto.automation.models import AutomationRun
from invekto.inbox.models import Conversation, ConversationEvent, Message


def later(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


async def make_rule(company, **fields) -> dict:
    fields.setdefault("name", f"Kural {uuid.uuid4().hex[:6]}")
    response = await company.sevgi.client.post("/api/v1/automation/rules", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def make_tags(company, *names: str) -> None:
    for name in names:
        response = await company.sevgi.client.post("/api/v1/tags", json={"name": name})
        assert response.status_code == 201, response.text


async def make_field(company, key: str, field_type: str = "text") -> None:
    response = await company.people["ayla"].client.post("/api/v1/custom-fields", json={
        "key": key, "label": key.title(), "field_type": field_type})
    assert response.status_code == 201, response.text


async def runs(company, rule_id=None) -> list[AutomationRun]:
    """The company's rule firings (one rule's), oldest first."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        query = select(AutomationRun)
        if rule_id is not None:
            query = query.where(AutomationRun.rule_id == uuid.UUID(str(rule_id)))
        return list((await session.scalars(query.order_by(AutomationRun.created_at,
                                                          AutomationRun.id))).all())


async def conversation(company, conversation_id) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, conversation_id)


async def sent(company, conversation_id) -> list[str]:
    """The bodies of what the company sent in the conversation, oldest first."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message.body).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound"
        ).order_by(Message.created_at, Message.id))).all())


async def thread_events(company, conversation_id, kind: str = "automation") -> list[dict]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return [e.data for e in (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id,
            ConversationEvent.kind == kind).order_by(ConversationEvent.created_at))).all()]


async def tick(company, now: datetime) -> int:
    """One minute of ``automation:tick`` at ``now``, for this company only (the scans list
    every company's; other tests' are left alone)."""
    return await tasks.run_tick(now, tenant_id=company.tenant_id)

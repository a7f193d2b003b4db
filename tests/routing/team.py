"""A company's reception team for the routing tests, and the steps around it."""

from __future__ import annotations

import uuid
from datetime import datetime

from invekto.core.actor import Actor
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation
from invekto.inbox.schemas import InboundMessage
from invekto.users import service as users
from invekto.users.schemas import UserUpdate


async def route(company, algorithm: str = "round_robin", **fields) -> None:
    response = await company.sevgi.client.put(
        f"/api/v1/channels/{company.channel_id}/routing",
        json={"group_ids": [str(company.group_id)], "algorithm": algorithm, **fields})
    assert response.status_code == 200, response.text


async def online(company, *usernames: str) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for name in usernames:
            await users.touch_presence(session, company.tenant_id, company.people[name].user_id)


async def join_group(company, *usernames: str) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for name in usernames:
            await users.update_user(session, company.system, company.people[name].user_id,
                                    UserUpdate(group_ids=[company.group_id]))


async def conversation_of(company, message) -> Conversation:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Conversation, message.conversation_id)


async def assignees(company, messages) -> list[str | None]:
    by_id = {p.user_id: name for name, p in company.people.items()}
    return [by_id.get((await conversation_of(company, m)).assignee_id) for m in messages]


def acting(company, username):
    person = company.people[username]
    return Actor(tenant_id=company.tenant_id, role=person.role, user_id=person.user_id)


async def customer_writes(company, at: datetime) -> Conversation:
    """A new customer's first message, written at ``at`` (the provider's time): the moment
    business hours, shifts and SLAs are judged by."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        message, _ = await inbox.receive_inbound(session, company.tenant_id, InboundMessage(
            channel_id=company.channel_id, handle=f"c-{uuid.uuid4().hex[:8]}",
            provider_message_id=f"p-{uuid.uuid4().hex}", body="Merhaba", sent_at=at))
        return await session.get_one(Conversation, message.conversation_id)

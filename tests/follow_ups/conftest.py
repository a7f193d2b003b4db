"""Follow-ups under test: helpers that run the minute scan for one company with the clock moved
forward (the scans take ``now``), as the ``follow_ups:run_due`` job runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.follow_ups import service as follow_ups
from invekto.follow_ups.models import CsatResponse, FollowUpRun
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message
from tests.channels.harness import (
    WHATSAPP_APP_SECRET,
    WHATSAPP_NUMBER_ID,
    whatsapp_simulated,
)

APP_SECRET, PHONE_NUMBER_ID = WHATSAPP_APP_SECRET, WHATSAPP_NUMBER_ID


def later(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


async def scan(company, now: datetime) -> int:
    """One minute of ``follow_ups:run_due`` for this company only (other tests' companies are
    left alone): how many runs and surveys it acted on."""
    done = 0
    for listed, act in ((follow_ups.due_runs, follow_ups.advance_run),
                        (follow_ups.due_surveys, follow_ups.ask_survey)):
        async with company.rt.db.system_session() as session:
            found = await listed(session, now=now)
        for tenant_id, item_id in found:
            if tenant_id == company.tenant_id:
                async with company.rt.db.tenant_session(tenant_id) as session:
                    done += bool(await act(session, tenant_id, item_id, now=now))
    return done


async def create_sequence(company, **fields) -> dict:
    response = await company.sevgi.client.post("/api/v1/follow-ups", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def set_survey(company, channel_id, **fields) -> None:
    response = await company.sevgi.client.put(f"/api/v1/channels/{channel_id}/csat",
                                              json=fields)
    assert response.status_code == 200, response.text


async def close(company, conversation_id) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await inbox.close(session, company.system, conversation_id)


async def outbound(company, contact_id) -> list[Message]:
    """What the company sent the customer, oldest first, over all their conversations."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Message).where(
            Message.contact_id == contact_id, Message.direction == "outbound"
        ).order_by(Message.created_at, Message.id))).all())


async def runs(company) -> list[tuple[str, str | None, int]]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return [(r.state, r.stop_reason, r.next_step) for r in (await session.scalars(
            select(FollowUpRun).order_by(FollowUpRun.started_at))).all()]


async def responses(company) -> list[CsatResponse]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(CsatResponse).order_by(
            CsatResponse.due_at))).all())


async def conversations(company, contact_id) -> list[tuple[str, int]]:
    """(status, messages) of the customer's conversations, oldest first."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        found = (await session.scalars(select(Conversation).where(
            Conversation.contact_id == contact_id).order_by(Conversation.opened_at))).all()
        return [(c.status, len((await session.scalars(select(Message.id).where(
            Message.conversation_id == c.id))).all())) for c in found]


@pytest.fixture
async def wa(world, app):
    """The home company's WhatsApp channel, its provider the simulator."""
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="whatsapp_cloud", name="WhatsApp", external_id=PHONE_NUMBER_ID,
            settings={"api_base_url": "http://graph.simulator"},
            credentials={"app_secret": APP_SECRET, "access_token": "EAAG-test"}))
    async with whatsapp_simulated(app, home, channel.id) as simulated:
        yield simulated

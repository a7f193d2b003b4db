"""A WhatsApp channel on the Graph API simulator, contacts made in bulk, and the campaign's
jobs run as the worker runs them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import insert, select

from invekto.campaigns import service as campaigns
from invekto.campaigns import tasks
from invekto.campaigns.models import CampaignRecipient
from invekto.contacts.models import Contact
from invekto.db.base import new_id
from tests.channels.harness import ChannelWorld, whatsapp_simulated
from tests.templates.conftest import whatsapp_channel


class CampaignWorld(ChannelWorld):
    async def contacts(self, count: int, *, start: int = 0, tags: list[str] = (),
                       **fields) -> list[uuid.UUID]:
        """``count`` contacts with numbers +90532 000 xxxx (from ``start``)."""
        rows = [{"id": new_id(), "tenant_id": self.home.tenant_id, "name": f"Müşteri {n}",
                 "phone": f"+90532{n:07d}", "tags": list(tags), **fields}
                for n in range(start, start + count)]
        async with self.home.rt.db.tenant_session(self.home.tenant_id) as session:
            await session.execute(insert(Contact), rows)
        return [row["id"] for row in rows]

    async def create(self, **spec):
        body = {"name": "Kış indirimi", "channel_id": str(self.channel_id),
                "content_kind": "template", "template_name": "randevu_hatirlatma",
                "template_language": "tr",
                "template_parameters": {"1": "{{ contact.first_name }}", "2": "1 Aralık"},
                "segment": {"tags_any": ["vip"]}, **spec}
        response = await self.home.sevgi.client.post("/api/v1/campaigns", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def post(self, path: str, **kwargs) -> httpx.Response:
        return await self.home.sevgi.client.post(path, **kwargs)

    async def dispatch(self, campaign_id) -> int:
        """One dispatcher job, run to its end."""
        return await tasks.dispatch(tenant_id=str(self.home.tenant_id),
                                    campaign_id=str(campaign_id))

    async def recipients(self, campaign_id) -> list[CampaignRecipient]:
        return await self.rows(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == uuid.UUID(str(campaign_id))
        ).order_by(CampaignRecipient.id))

    async def rows_of(self, query) -> list:
        async with self.home.rt.db.tenant_session(self.home.tenant_id) as session:
            return list((await session.execute(query)).all())

    async def report(self, campaign_id) -> dict:
        response = await self.home.sevgi.client.get(f"/api/v1/campaigns/{campaign_id}/report")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def wa(world, app):
    home = world.home
    channel = await whatsapp_channel(home)
    async with whatsapp_simulated(app, home, channel.id, CampaignWorld) as simulated:
        yield simulated


__all__ = ["campaigns"]

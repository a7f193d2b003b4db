"""Consent under test: the İYS simulator served over real HTTP, a company's İYS settings made
through the API, contacts and channels made through the services, and İYS's jobs run for one
company as the worker runs them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.consent import sync, tasks
from invekto.consent.models import ConsentEvent, IysPush
from invekto.consent.simulator import BRAND_CODE, IYS_CODE, PASSWORD, USERNAME, IysSimulator
from invekto.contacts import service as contacts
from invekto.contacts.models import ContactConsent
from invekto.contacts.schemas import ContactCreate
from tests.factories import Company


@dataclass
class Iys:
    simulator: IysSimulator
    url: str


async def enable_iys(company: Company, url: str, **overrides: Any) -> dict:
    """The company's İYS account on the simulator, turned on by its admin."""
    response = await company.ayla.client.put("/api/v1/settings/iys", json={
        "enabled": True, "base_url": url, "iys_code": IYS_CODE, "brand_code": BRAND_CODE,
        "username": USERNAME, "password": PASSWORD, **overrides})
    assert response.status_code == 200, response.text
    return response.json()


async def new_contact(company: Company, phone: str | None = "+905321112233", *,
                      name: str = "Ayşe Yılmaz", email: str | None = None) -> uuid.UUID:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        contact = await contacts.create_contact(session, company.system, ContactCreate(
            name=name, phone=phone, email=email))
    return contact.id


async def new_channel(company: Company, kind: str, **fields: Any) -> uuid.UUID:
    defaults: dict[str, Any] = {
        "sms_netgsm": {"external_id": "8505551234", "settings": {"header": "ORNEKKLNK"},
                       "credentials": {"usercode": "u", "password": "p"}},
        "whatsapp_cloud": {"external_id": "109876543210987",
                           "settings": {"api_base_url": "http://127.0.0.1:9"},
                           "credentials": {"access_token": "t"}},
        "telegram": {"credentials": {"bot_token": "123456789:AAbbccddeeffgghhiijjkkll"}},
    }.get(kind, {})
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind=kind, name=f"{kind} hattı", **{**defaults, **fields}))
    return channel.id


async def rows(company: Company, query) -> list:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(query)).all())


async def consent_of(company: Company, contact_id: uuid.UUID, kind: str = "message"
                     ) -> ContactConsent | None:
    found = await rows(company, select(ContactConsent).where(
        ContactConsent.contact_id == contact_id, ContactConsent.consent_type == kind))
    return found[0] if found else None


async def events_of(company: Company, contact_id: uuid.UUID) -> list[ConsentEvent]:
    return await rows(company, select(ConsentEvent).where(
        ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.recorded_at,
                                                        ConsentEvent.id))


async def pushes_of(company: Company) -> list[IysPush]:
    return await rows(company, select(IysPush).order_by(IysPush.created_at, IysPush.id))


async def push(company: Company) -> int:
    """The push job, as a worker runs it."""
    return await tasks.push_to_iys(tenant_id=str(company.tenant_id))


async def pull(company: Company) -> int | None:
    """One company's pull, as the periodic job runs it for each."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await sync.pull_changes(session, company.tenant_id)


async def set_consent(company: Company, contact_id: uuid.UUID, granted: bool, *,
                      person: str = "sevgi", kind: str = "message", **body: Any):
    return await company.people[person].client.put(
        f"/api/v1/contacts/{contact_id}/consents/{kind}", json={"granted": granted, **body})

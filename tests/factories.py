"""Factories and the named cast.

A ``World`` is one company: Ayla the admin, Sevgi the supervisor, Bora the agent (in the
"Resepsiyon" group), Deniz the agent (in no group), a web-chat channel and an API key; and beside it
Charlie's company, whose ids must never work for Ayla's people (Healthchecks' "charlie").
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

import httpx

from invekto.core.actor import Actor
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.provisioning import provision_tenant
from invekto.runtime import Runtime
from invekto.users import service as users
from invekto.users.schemas import GroupCreate, UserCreate

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery"


def unique_slug(prefix: str = "co") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Person:
    user_id: uuid.UUID
    username: str
    role: str
    client: httpx.AsyncClient
    csrf: str = ""


@dataclass
class Company:
    rt: Runtime
    app: object
    tenant_id: uuid.UUID
    slug: str
    api_key: str
    people: dict[str, Person] = field(default_factory=dict)
    group_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None

    @property
    def system(self) -> Actor:
        return Actor.system(self.tenant_id)

    def __getattr__(self, name: str) -> Person:
        people = self.__dict__.get("people", {})
        if name in people:
            return people[name]
        raise AttributeError(name)

    def api_client(self, key: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {key or self.api_key}"})

    async def inbound(self, body: str = "Merhaba", *, handle: str | None = None,
                      phone: str | None = None, name: str = "Müşteri",
                      channel_id: uuid.UUID | None = None,
                      provider_message_id: str | None = None):
        """A customer's message arriving through ingest; returns the stored message."""
        async with self.rt.db.tenant_session(self.tenant_id) as session:
            message, _ = await inbox.receive_inbound(session, self.tenant_id, InboundMessage(
                channel_id=channel_id or self.channel_id,
                handle=handle or f"visitor-{next(_counter)}",
                provider_message_id=provider_message_id or f"evt-{uuid.uuid4().hex}",
                phone=phone, contact_name=name, body=body))
        return message

    async def add_person(self, username: str, role: str, *, groups: list[uuid.UUID] = ()
                         ) -> Person:
        async with self.rt.db.tenant_session(self.tenant_id) as session:
            user, _ = await users.create_user(session, self.system, UserCreate(
                username=username, display_name=username.title(), role=role,
                password=PASSWORD, group_ids=list(groups)))
        person = Person(user.id, username, role, await self.login(username))
        person.csrf = person.client.headers["x-csrf-token"]
        self.people[username] = person
        return person

    async def login(self, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                   base_url="http://testserver")
        response = await client.post("/api/v1/auth/login", json={
            "company": self.slug, "username": username, "password": password})
        assert response.status_code == 200, response.text
        client.headers["x-csrf-token"] = response.json()["csrf_token"]
        return client

    async def close(self) -> None:
        for person in self.people.values():
            await person.client.aclose()


async def create_company(rt: Runtime, app, *, cast: bool = True) -> Company:
    async with rt.db.transaction() as session:
        tenant, provisioned = await provision_tenant(
            session, slug=unique_slug(), name="Test Kliniği", admin_username="ayla",
            admin_password=PASSWORD)
    company = Company(rt=rt, app=app, tenant_id=tenant.id, slug=tenant.slug,
                      api_key=provisioned.api_key)
    async with rt.db.tenant_session(tenant.id) as session:
        (admin,) = [u for u in await users.list_users(session, company.system)]
        group = await users.create_group(session, company.system, GroupCreate(name="Resepsiyon"))
        company.group_id = group.id
        from invekto.channels import service as channels
        from invekto.channels.schemas import ChannelCreate

        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind="webchat", name="Web"))
        company.channel_id = channel.id
    admin_person = Person(admin.id, "ayla", "admin", await company.login("ayla"))
    admin_person.csrf = admin_person.client.headers["x-csrf-token"]
    company.people["ayla"] = admin_person
    if cast:
        await company.add_person("sevgi", "supervisor")
        await company.add_person("bora", "agent", groups=[group.id])
        await company.add_person("deniz", "agent")
    return company


@dataclass
class World:
    home: Company
    charlie: Company

    @classmethod
    async def create(cls, rt: Runtime, app) -> World:
        return cls(home=await create_company(rt, app),
                   charlie=await create_company(rt, app, cast=False))

    async def close(self) -> None:
        await self.home.close()
        await self.charlie.close()

"""Zoho CRM sync end to end: a company connects through the API; contacts created and changed
here reach the simulator's Zoho through the push job; records changed in Zoho reach our
contacts through the pull, and are not pushed back; the contact card links the Zoho record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from invekto.contacts import service as contacts
from invekto.contacts.models import Contact
from invekto.contacts.schemas import ContactCreate
from invekto.integrations.contacts import SYNCING
from invekto.integrations.models import Integration
from invekto.integrations.service import connection_of
from invekto.integrations.zoho import sync, tasks
from invekto.integrations.zoho.models import ZohoLink
from invekto.integrations.zoho.simulator import ORG, zoho_time

HX = {"hx-request": "true"}


async def connect(company, zoho, **overrides: str) -> None:
    response = await company.ayla.client.put("/api/v1/integrations/zoho", json={
        "settings": zoho.settings(**overrides)})
    assert response.status_code == 200, response.text
    tested = await company.ayla.client.post("/api/v1/integrations/zoho/test")
    assert tested.json()["ok"], tested.text


PUSH_JOBS = ("FROM procrastinate_jobs WHERE task_name = 'zoho:push_contact' "
             "AND args->>'contact_id' = :contact AND status = 'todo'")


async def push_jobs(company, contact_id: uuid.UUID) -> int:
    """The contact's push jobs waiting for a worker."""
    async with company.rt.db.transaction() as session:
        return await session.scalar(text(f"SELECT count(*) {PUSH_JOBS}"),
                                    {"contact": str(contact_id)})


async def run_push(company, contact_id: uuid.UUID) -> str:
    """The push job, as a worker runs it: the waiting one is taken, then done."""
    async with company.rt.db.transaction() as session:
        await session.execute(text(f"UPDATE procrastinate_jobs SET status = 'doing' "
                                   f"WHERE id IN (SELECT id {PUSH_JOBS})"),
                              {"contact": str(contact_id)})
    return await tasks.push_contact(tenant_id=str(company.tenant_id),
                                    contact_id=str(contact_id))


async def pull(company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await sync.pull(session, company.tenant_id)


async def contact(company, contact_id: uuid.UUID) -> Contact:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get(Contact, contact_id)


async def link(company, contact_id: uuid.UUID) -> ZohoLink | None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await sync.link_of(session, contact_id)


async def test_a_contact_made_and_changed_here_appears_in_zoho_and_its_card_links_it(world,
                                                                                      zoho):
    home = world.home
    await connect(home, zoho)
    created = await home.sevgi.client.post("/api/v1/contacts", json={
        "name": "Ayşe Yılmaz", "phone": "0532 111 22 33", "email": "Ayse@Example.com"})
    assert created.status_code == 201, created.text
    contact_id = uuid.UUID(created.json()["id"])
    assert await push_jobs(home, contact_id) == 1  # deferred with the change

    assert await run_push(home, contact_id) == "insert"
    (record,) = zoho.simulator.records("Leads")
    assert (record["First_Name"], record["Last_Name"], record["Phone"], record["Email"]) == (
        "Ayşe", "Yılmaz", "+905321112233", "ayse@example.com")
    assert zoho.simulator.state.upserts[-1]["duplicate_check_fields"] == ["Email", "Phone"]
    linked = await link(home, contact_id)
    assert (linked.record_id, linked.module, linked.error) == (record["id"], "Leads", None)

    changed = await home.sevgi.client.patch(f"/api/v1/contacts/{contact_id}",
                                            json={"name": "Ayşe Demir"})
    assert changed.status_code == 200, changed.text
    assert await run_push(home, contact_id) == "update"
    assert zoho.simulator.state.upserts[-1]["data"][0]["id"] == record["id"]
    assert zoho.simulator.records("Leads")[0]["Last_Name"] == "Demir"
    assert await run_push(home, contact_id) == "unchanged"  # nothing new: no call
    assert len(zoho.simulator.state.upserts) == 2

    card = (await home.ayla.client.get(f"/inbox/contacts/{contact_id}/card", headers=HX)).text
    assert f'hx-get="/inbox/contacts/{contact_id}/zoho"' in card
    part = (await home.ayla.client.get(f"/inbox/contacts/{contact_id}/zoho", headers=HX)).text
    assert (f'href="https://crm.zoho.com/crm/{ORG["domain_name"]}/tab/Leads/{record["id"]}"'
            in part)
    assert 'data-zoho-state="synced"' in part


async def test_a_change_made_in_zoho_reaches_the_contact_and_is_not_pushed_back(world, zoho):
    home = world.home
    await connect(home, zoho)
    created = await home.sevgi.client.post("/api/v1/contacts", json={
        "name": "Mehmet Kaya", "phone": "+905447778899"})
    contact_id = uuid.UUID(created.json()["id"])
    await run_push(home, contact_id)
    (record,) = zoho.simulator.records("Leads")

    zoho.simulator.edit("Leads", record["id"], First_Name="Mehmet Ali",
                        Email="mehmet@example.com", Phone="0544 777 88 99")
    assert await pull(home) == 1
    pulled = await contact(home, contact_id)
    assert (pulled.name, pulled.email, pulled.phone) == (
        "Mehmet Ali Kaya", "mehmet@example.com", "+905447778899")
    assert await push_jobs(home, contact_id) == 0  # nothing deferred to send back
    assert await run_push(home, contact_id) == "unchanged"
    assert len(zoho.simulator.state.upserts) == 1

    # The next pull asks only for what changed since (If-Modified-Since): nothing.
    assert await pull(home) == 0
    listed = [h for h in zoho.simulator.state.requests if h[1] == "/crm/v8/Leads"]
    assert len(listed) == 2
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        row = await session.scalar(select(Integration).where(Integration.kind == "zoho"))
        assert connection_of(row).state["pulled_until"] == \
            zoho.simulator.records("Leads")[0]["Modified_Time"]


async def test_the_pull_matches_by_phone_and_creates_contacts_only_when_told(world, zoho):
    home = world.home
    await connect(home, zoho)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        session.info[SYNCING] = True  # made without a push, as if before the connection
        known = (await contacts.create_contact(session, home.system, ContactCreate(
            name="Zeynep", phone="+905051234567"))).id
    matched = zoho.simulator.seed(First_Name="Zeynep", Last_Name="Çelik",
                                  Phone="+90 505 123 45 67")
    stranger = zoho.simulator.seed(Last_Name="Yabancı", Email="yabanci@example.com")

    assert await pull(home) == 1
    assert (await contact(home, known)).name == "Zeynep Çelik"
    assert (await link(home, known)).record_id == matched["id"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(select(Contact).where(
            Contact.email == "yabanci@example.com")) is None

    await connect(home, zoho, create_contacts="yes")  # new settings: a full pull again
    zoho.simulator.edit("Leads", stranger["id"], First_Name="Can")
    assert await pull(home) == 1
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        made = await session.scalar(select(Contact).where(
            Contact.email == "yabanci@example.com"))
        assert made is not None and made.name == "Can Yabancı"
        assert (await sync.link_of(session, made.id)).record_id == stranger["id"]
    assert await push_jobs(home, made.id) == 0


async def test_the_newer_change_wins_a_conflict(world, zoho):
    home = world.home
    await connect(home, zoho)
    created = await home.sevgi.client.post("/api/v1/contacts", json={
        "name": "Elif Şahin", "phone": "+905369998877"})
    contact_id = uuid.UUID(created.json()["id"])
    await run_push(home, contact_id)
    (record,) = zoho.simulator.records("Leads")
    # Both sides changed since the last sync; Zoho's change is the older (an hour ago).
    zoho.simulator.edit("Leads", record["id"], Last_Name="Eski")
    record["Modified_Time"] = zoho_time(datetime.now(UTC) - timedelta(hours=1))
    await rename(home, contact_id, "Elif Burak")
    assert await pull(home) == 0
    assert (await contact(home, contact_id)).name == "Elif Burak"
    assert await push_jobs(home, contact_id) == 1  # ours is sent instead (one job waiting)
    assert await run_push(home, contact_id) == "update"
    assert zoho.simulator.records("Leads")[0]["Last_Name"] == "Burak"

    # Now Zoho's change is the newer (an hour ahead): it is applied over ours.
    zoho.simulator.edit("Leads", record["id"], Last_Name="Yeni")
    record["Modified_Time"] = zoho_time(datetime.now(UTC) + timedelta(hours=1))
    await rename(home, contact_id, "Elif Başka")
    assert await pull(home) == 1
    assert (await contact(home, contact_id)).name == "Elif Yeni"


async def rename(company, contact_id: uuid.UUID, name: str) -> None:
    """A change here that no push follows yet (the job would run later)."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        session.info[SYNCING] = True
        row = await session.get(Contact, contact_id)
        row.name = name


async def test_zoho_unavailable_retries_the_push_and_a_refused_value_shows_on_the_card(world,
                                                                                       zoho):
    home = world.home
    await connect(home, zoho)
    created = await home.sevgi.client.post("/api/v1/contacts", json={
        "name": "Deniz Ak", "phone": "+905301112233"})
    contact_id = uuid.UUID(created.json()["id"])
    zoho.simulator.fail_next(503, "INTERNAL_ERROR")
    try:
        await run_push(home, contact_id)
    except tasks.ZohoUnavailable:
        pass
    else:
        raise AssertionError("an unavailable Zoho must make the job try again")
    assert await run_push(home, contact_id) == "insert"

    zoho.simulator.fail_next(400, "INVALID_DATA")
    await home.sevgi.client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "Deniz Aksoy"})
    assert await run_push(home, contact_id) == "failed"
    part = (await home.ayla.client.get(f"/inbox/contacts/{contact_id}/zoho", headers=HX)).text
    assert 'data-zoho-state="failed"' in part

    synced = await home.ayla.client.post(f"/inbox/contacts/{contact_id}/zoho/sync",
                                         headers={**HX, "x-csrf-token": home.ayla.csrf})
    assert synced.status_code == 200 and "zoho-sync-button" not in synced.text


async def test_a_bad_mapping_is_refused_naming_the_field(world, zoho):
    response = await world.home.ayla.client.put("/api/v1/integrations/zoho", json={
        "settings": zoho.settings(field_mapping="first_name=First_Name, phone=Phone")})
    assert response.status_code == 422, response.text
    assert "field_mapping" in response.text


async def test_the_periodic_pull_runs_each_connected_company(world, zoho):
    home = world.home
    await connect(home, zoho)
    created = await home.sevgi.client.post("/api/v1/contacts", json={
        "name": "Selin Koç", "phone": "+905551112233"})
    contact_id = uuid.UUID(created.json()["id"])
    zoho.simulator.seed(First_Name="Selin", Last_Name="Koç Aydın", Phone="+905551112233")
    assert await tasks.pull_zoho_changes(timestamp=0) >= 1
    assert (await contact(home, contact_id)).name == "Selin Koç Aydın"


async def test_the_settings_page_offers_zoho_with_its_fields(world):
    page = await world.home.ayla.client.get("/settings/integrations")
    assert page.status_code == 200
    assert "Zoho CRM" in page.text and 'name="field_mapping"' in page.text
    assert 'name="refresh_token"' in page.text

"""Contacts over the REST API: phone numbers in E.164, the tag catalogue, custom fields, search
with Turkish folding, keyset pagination, and deletion (of contacts, tags and field definitions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from invekto.contacts import service as contacts
from invekto.contacts.models import Contact, CustomFieldDefinition, Tag
from invekto.contacts.schemas import ContactCreate
from invekto.inbox.models import Conversation, Message

NUMBER = "+905321234567"


# ---- helpers -----------------------------------------------------------------------------------

def error_of(response) -> dict:
    assert "error" in response.json(), response.text
    return response.json()["error"]


async def create_contact(person, expect: int = 201, **body):
    response = await person.client.post("/api/v1/contacts", json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def create_tag(company, name: str) -> dict:
    response = await company.sevgi.client.post("/api/v1/tags", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def create_field(company, key: str, field_type: str, options: list[str] | None = None
                       ) -> dict:
    response = await company.ayla.client.post("/api/v1/custom-fields", json={
        "key": key, "label": key.title(), "field_type": field_type, "options": options or []})
    assert response.status_code == 201, response.text
    return response.json()


async def stored_contacts(company) -> list[Contact]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(Contact))).all())


async def stored_contact(company, contact_id) -> Contact | None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get(Contact, uuid.UUID(str(contact_id)))


async def search(person, **params) -> list[dict]:
    response = await person.client.get("/api/v1/contacts", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def search_names(person, **params) -> set[str]:
    return {c["name"] for c in await search(person, **params)}


# ---- phone numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["0532 123 45 67", "+90 (532) 123-4567", "905321234567",
                                 "  05321234567 "])
async def test_phone_is_stored_in_e164_whatever_the_input_form(world, raw):
    created = await create_contact(world.home.bora, name="Ayşe Kaya", phone=raw)
    assert created["phone"] == NUMBER
    assert (await stored_contact(world.home, created["id"])).phone == NUMBER
    fetched = await world.home.bora.client.get(f"/api/v1/contacts/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["phone"] == NUMBER


async def test_a_second_contact_with_the_same_number_in_another_form_conflicts(world):
    first = await create_contact(world.home.bora, name="Ayşe", phone="0532 123 45 67")
    response = await world.home.bora.client.post("/api/v1/contacts", json={
        "name": "Ayşe (again)", "phone": "+90 (532) 123-4567"})
    assert response.status_code == 409
    assert error_of(response)["field"] == "phone"
    assert [c.id for c in await stored_contacts(world.home)] == [uuid.UUID(first["id"])]


async def test_changing_a_phone_to_a_taken_number_conflicts_and_changes_nothing(world):
    await create_contact(world.home.bora, name="Ayşe", phone=NUMBER)
    other = await create_contact(world.home.bora, name="Mehmet", phone="0533 765 43 21")
    response = await world.home.bora.client.patch(f"/api/v1/contacts/{other['id']}",
                                                  json={"phone": "905321234567"})
    assert response.status_code == 409
    assert error_of(response)["field"] == "phone"
    assert (await stored_contact(world.home, other["id"])).phone == "+905337654321"

    # With other checked fields in the same PATCH (their catalogue queries autoflush).
    await create_tag(world.home, "vip")
    await create_field(world.home, "kaynak", "text")
    response = await world.home.bora.client.patch(f"/api/v1/contacts/{other['id']}", json={
        "name": "Mehmet Y.", "phone": "0532 123 45 67", "tags": ["vip"],
        "custom_fields": {"kaynak": "web"}})
    assert response.status_code == 409
    assert error_of(response)["field"] == "phone"
    assert NUMBER in error_of(response)["message"]
    stored = await stored_contact(world.home, other["id"])
    assert (stored.name, stored.phone, stored.tags, stored.custom_fields) == (
        "Mehmet", "+905337654321", [], {})

    # And a free number still goes through, with everything else in the PATCH.
    response = await world.home.bora.client.patch(f"/api/v1/contacts/{other['id']}", json={
        "name": "Mehmet Y.", "phone": "0532 000 00 01", "tags": ["vip"],
        "custom_fields": {"kaynak": "web"}})
    assert response.status_code == 200, response.text
    stored = await stored_contact(world.home, other["id"])
    assert (stored.name, stored.phone, stored.tags, stored.custom_fields) == (
        "Mehmet Y.", "+905320000001", ["vip"], {"kaynak": "web"})


async def test_the_same_number_may_exist_in_another_company(world):
    await create_contact(world.home.bora, name="Ayşe", phone=NUMBER)
    created = await create_contact(world.charlie.ayla, name="Ayşe", phone=NUMBER)
    assert created["phone"] == NUMBER
    assert [c.phone for c in await stored_contacts(world.charlie)] == [NUMBER]


@pytest.mark.parametrize("raw", ["12345", "not a phone", "0532 123", "+90 532 123 45 67 89 01"])
async def test_an_invalid_phone_is_a_422_on_phone_and_stores_nothing(world, raw):
    response = await world.home.bora.client.post("/api/v1/contacts",
                                                 json={"name": "X", "phone": raw})
    assert response.status_code == 422
    assert error_of(response)["field"] == "phone"
    assert await stored_contacts(world.home) == []


async def test_a_contact_without_a_phone_is_fine_and_several_may_exist(world):
    await create_contact(world.home.bora, name="Web ziyaretçisi 1")
    await create_contact(world.home.bora, name="Web ziyaretçisi 2")
    assert sorted(c.phone or "" for c in await stored_contacts(world.home)) == ["", ""]


async def test_another_company_cannot_read_change_or_delete_a_contact(world):
    created = await create_contact(world.home.bora, name="Ayşe", phone=NUMBER)
    outsider = world.charlie.ayla.client
    assert (await outsider.get(f"/api/v1/contacts/{created['id']}")).status_code == 404
    assert (await outsider.patch(f"/api/v1/contacts/{created['id']}",
                                 json={"name": "Hacked"})).status_code == 404
    assert (await outsider.delete(f"/api/v1/contacts/{created['id']}")).status_code == 404
    assert (await stored_contact(world.home, created["id"])).name == "Ayşe"


# ---- tags --------------------------------------------------------------------------------------

async def test_tags_must_exist_in_the_catalogue(world):
    response = await world.home.bora.client.post("/api/v1/contacts", json={
        "name": "Ayşe", "tags": ["vip"]})
    assert response.status_code == 422
    assert error_of(response)["field"] == "tags"
    assert await stored_contacts(world.home) == []

    await create_tag(world.home, "vip")
    created = await create_contact(world.home.bora, name="Ayşe", tags=["vip", " vip ", "vip"])
    assert created["tags"] == ["vip"]
    assert (await stored_contact(world.home, created["id"])).tags == ["vip"]


async def test_another_company_s_tag_does_not_count(world):
    response = await world.charlie.ayla.client.post("/api/v1/tags", json={"name": "vip"})
    assert response.status_code == 201
    response = await world.home.bora.client.post("/api/v1/contacts", json={
        "name": "Ayşe", "tags": ["vip"]})
    assert response.status_code == 422
    assert error_of(response)["field"] == "tags"


async def test_supervisors_create_tags_agents_cannot(world):
    response = await world.home.bora.client.post("/api/v1/tags", json={"name": "vip"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"

    response = await world.home.sevgi.client.post("/api/v1/tags",
                                                  json={"name": "vip", "color": "#ff0000"})
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["color"]) == ("vip", "#ff0000")

    duplicate = await world.home.ayla.client.post("/api/v1/tags", json={"name": "vip"})
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "name"

    listed = await world.home.bora.client.get("/api/v1/tags")
    assert [t["name"] for t in listed.json()] == ["vip"]
    async with world.home.rt.db.tenant_session(world.home.tenant_id) as session:
        assert list((await session.scalars(select(Tag.name))).all()) == ["vip"]


async def test_patch_replaces_tags_and_checks_them(world):
    await create_tag(world.home, "vip")
    await create_tag(world.home, "borçlu")
    created = await create_contact(world.home.bora, name="Ayşe", tags=["vip"])
    response = await world.home.bora.client.patch(f"/api/v1/contacts/{created['id']}",
                                                  json={"tags": ["borçlu"]})
    assert response.status_code == 200
    assert response.json()["tags"] == ["borçlu"]

    response = await world.home.bora.client.patch(f"/api/v1/contacts/{created['id']}",
                                                  json={"tags": ["borçlu", "yok-boyle"]})
    assert response.status_code == 422
    assert error_of(response)["field"] == "tags"
    assert (await stored_contact(world.home, created["id"])).tags == ["borçlu"]


async def test_deleting_a_tag_removes_it_from_contacts_and_conversations(world):
    home = world.home
    vip = await create_tag(home, "vip")
    await create_tag(home, "acil")
    tagged = await create_contact(home.bora, name="Ayşe", tags=["acil", "vip"])
    untouched = await create_contact(home.bora, name="Mehmet", tags=["acil"])
    message = await home.inbound("Merhaba", name="Zeynep")
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/tags", json={"add": ["vip", "acil"]})
    assert response.status_code == 200
    assert response.json()["tags"] == ["vip", "acil"]
    # Charlie's own "vip" tag is another catalogue entirely.
    assert (await world.charlie.ayla.client.post("/api/v1/tags",
                                                 json={"name": "vip"})).status_code == 201
    charlie_contact = await create_contact(world.charlie.ayla, name="Charlie", tags=["vip"])

    assert (await home.bora.client.delete(f"/api/v1/tags/{vip['id']}")).status_code == 403
    assert (await stored_contact(home, tagged["id"])).tags == ["acil", "vip"]

    assert (await world.charlie.ayla.client.delete(
        f"/api/v1/tags/{vip['id']}")).status_code == 404

    response = await home.sevgi.client.delete(f"/api/v1/tags/{vip['id']}")
    assert response.status_code == 204
    assert (await stored_contact(home, tagged["id"])).tags == ["acil"]
    assert (await stored_contact(home, untouched["id"])).tags == ["acil"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        conversation = await session.get_one(Conversation, message.conversation_id)
        assert conversation.tags == ["acil"]
        assert list((await session.scalars(select(Tag.name))).all()) == ["acil"]
    assert (await stored_contact(world.charlie, charlie_contact["id"])).tags == ["vip"]
    # Gone from the catalogue: it can no longer be put on a contact.
    response = await home.bora.client.patch(f"/api/v1/contacts/{tagged['id']}",
                                            json={"tags": ["vip"]})
    assert response.status_code == 422


# ---- custom fields -----------------------------------------------------------------------------

async def test_only_admins_define_custom_fields_and_at_most_ten(world):
    home = world.home
    for person in (home.bora, home.sevgi):
        response = await person.client.post("/api/v1/custom-fields", json={
            "key": "tier", "label": "Tier", "field_type": "text"})
        assert response.status_code == 403
    for n in range(10):
        await create_field(home, f"field_{n}", "text")
    response = await home.ayla.client.post("/api/v1/custom-fields", json={
        "key": "field_10", "label": "One too many", "field_type": "text"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.scalar(
            select(func.count()).select_from(CustomFieldDefinition)) == 10
    listed = await home.bora.client.get("/api/v1/custom-fields")
    assert len(listed.json()) == 10
    # The limit is per company.
    await create_field(world.charlie, "field_10", "text")


async def test_custom_field_definitions_are_checked(world):
    ayla = world.home.ayla.client
    bad_key = await ayla.post("/api/v1/custom-fields", json={
        "key": "Bad Key", "label": "x", "field_type": "text"})
    assert bad_key.status_code == 422
    assert error_of(bad_key)["field"] == "key"
    no_options = await ayla.post("/api/v1/custom-fields", json={
        "key": "tier", "label": "Tier", "field_type": "select"})
    assert no_options.status_code == 422
    assert error_of(no_options)["field"] == "options"
    await create_field(world.home, "tier", "text")
    duplicate = await ayla.post("/api/v1/custom-fields", json={
        "key": "tier", "label": "Again", "field_type": "text"})
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "key"


_OPTIONS = ["bronz", "gümüş", "altın"]


@pytest.mark.parametrize(("field_type", "value", "stored"), [
    ("number", "12,5", 12.5),
    ("number", "12.5", 12.5),
    ("number", 7, 7),
    ("number", "42", 42),
    ("number", "-3,25", -3.25),
    ("boolean", True, True),
    ("boolean", False, False),
    ("date", "2024-02-29", "2024-02-29"),
    ("select", "gümüş", "gümüş"),
    ("url", "https://example.com.tr/randevu?id=5", "https://example.com.tr/randevu?id=5"),
    ("email", "ayse@example.com", "ayse@example.com"),
    ("text", "  Kat 3, daire 12  ", "Kat 3, daire 12"),
])
async def test_custom_field_values_are_coerced_by_type(world, field_type, value, stored):
    await create_field(world.home, "alan", field_type, _OPTIONS if field_type == "select" else [])
    created = await create_contact(world.home.bora, name="Ayşe", custom_fields={"alan": value})
    assert created["custom_fields"] == {"alan": stored}
    assert (await stored_contact(world.home, created["id"])).custom_fields == {"alan": stored}


@pytest.mark.parametrize(("field_type", "value"), [
    ("number", "on iki"),
    ("number", "12,5,3"),
    ("number", True),
    ("number", "NaN"),
    ("number", "inf"),
    ("number", "-Infinity"),
    ("number", "1e999"),
    ("boolean", "true"),
    ("boolean", 1),
    ("boolean", "evet"),
    ("date", "29.02.2024"),
    ("date", "2023-02-29"),
    ("date", "yarın"),
    ("select", "platin"),
    ("select", "Gümüş"),
    ("url", "example.com"),
    ("url", "javascript:alert(1)"),
    ("email", "ayse@"),
    ("email", "ayse example.com"),
    ("text", "x" * 1001),
])
async def test_a_custom_field_value_of_the_wrong_type_is_a_422_on_its_key(world, field_type,
                                                                         value):
    await create_field(world.home, "alan", field_type, _OPTIONS if field_type == "select" else [])
    response = await world.home.bora.client.post("/api/v1/contacts", json={
        "name": "Ayşe", "custom_fields": {"alan": value}})
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == "custom_fields.alan"
    assert await stored_contacts(world.home) == []


async def test_an_undefined_custom_field_is_a_422_on_its_key(world):
    response = await world.home.bora.client.post("/api/v1/contacts", json={
        "name": "Ayşe", "custom_fields": {"nereden": "instagram"}})
    assert response.status_code == 422
    assert error_of(response)["field"] == "custom_fields.nereden"


async def test_patch_merges_custom_fields_and_null_clears_a_key(world):
    home = world.home
    await create_field(home, "boy", "number")
    await create_field(home, "uyelik", "select", _OPTIONS)
    await create_field(home, "dogum", "date")
    created = await create_contact(home.bora, name="Ayşe", custom_fields={
        "boy": "170", "uyelik": "altın"})
    url = f"/api/v1/contacts/{created['id']}"

    response = await home.bora.client.patch(url, json={"custom_fields": {
        "boy": "172,5", "dogum": "1990-05-17"}})
    assert response.status_code == 200
    expected = {"boy": 172.5, "uyelik": "altın", "dogum": "1990-05-17"}
    assert response.json()["custom_fields"] == expected
    assert (await stored_contact(home, created["id"])).custom_fields == expected

    response = await home.bora.client.patch(url, json={"custom_fields": {"uyelik": None}})
    assert response.status_code == 200
    expected = {"boy": 172.5, "dogum": "1990-05-17"}
    assert response.json()["custom_fields"] == expected

    # Other fields leave custom fields alone.
    response = await home.bora.client.patch(url, json={"name": "Ayşe Kaya"})
    assert response.status_code == 200
    assert response.json()["custom_fields"] == expected

    # A bad value fails the whole update: nothing is half-applied.
    response = await home.bora.client.patch(url, json={"name": "Başka", "custom_fields": {
        "boy": "uzun", "dogum": None}})
    assert response.status_code == 422
    assert error_of(response)["field"] == "custom_fields.boy"
    stored = await stored_contact(home, created["id"])
    assert (stored.name, stored.custom_fields) == ("Ayşe Kaya", expected)


async def test_deleting_a_definition_removes_its_key_from_every_contact(world):
    home = world.home
    tier = await create_field(home, "tier", "select", _OPTIONS)
    await create_field(home, "kaynak", "text")
    first = await create_contact(home.bora, name="Ayşe", custom_fields={
        "tier": "altın", "kaynak": "instagram"})
    second = await create_contact(home.bora, name="Mehmet", custom_fields={"tier": "bronz"})
    third = await create_contact(home.bora, name="Zeynep", custom_fields={"kaynak": "web"})
    # Charlie's "tier" is another company's field and keeps its values.
    await create_field(world.charlie, "tier", "text")
    charlie_contact = await create_contact(world.charlie.ayla, name="C",
                                           custom_fields={"tier": "x"})

    assert (await home.sevgi.client.delete(
        f"/api/v1/custom-fields/{tier['id']}")).status_code == 403
    assert (await world.charlie.ayla.client.delete(
        f"/api/v1/custom-fields/{tier['id']}")).status_code == 404
    response = await home.ayla.client.delete(f"/api/v1/custom-fields/{tier['id']}")
    assert response.status_code == 204

    assert (await stored_contact(home, first["id"])).custom_fields == {"kaynak": "instagram"}
    assert (await stored_contact(home, second["id"])).custom_fields == {}
    assert (await stored_contact(home, third["id"])).custom_fields == {"kaynak": "web"}
    assert (await stored_contact(world.charlie, charlie_contact["id"])).custom_fields == {
        "tier": "x"}
    listed = await home.bora.client.get("/api/v1/custom-fields")
    assert [f["key"] for f in listed.json()] == ["kaynak"]
    response = await home.bora.client.patch(f"/api/v1/contacts/{second['id']}",
                                            json={"custom_fields": {"tier": "altın"}})
    assert response.status_code == 422
    assert error_of(response)["field"] == "custom_fields.tier"


# ---- search ------------------------------------------------------------------------------------

@pytest.fixture
async def people(world):
    home = world.home
    await create_tag(home, "vip")
    await create_field(home, "uyelik", "select", _OPTIONS)
    await create_contact(home.bora, name="Şükrü Çelik", phone="0532 123 45 67", tags=["vip"],
                         custom_fields={"uyelik": "altın"})
    await create_contact(home.bora, name="İlker Yılmaz", phone="0533 987 65 43",
                         email="ilker@example.com", custom_fields={"uyelik": "bronz"})
    await create_contact(home.bora, name="Işık Demir", tags=["vip"],
                         custom_fields={"uyelik": "altın"})
    await create_contact(home.bora, name="sukru yazici")
    await create_contact(home.bora, name="Ayşe Öztürk", email="ayse.ozturk@example.com")
    # Another company's namesake must never show up.
    await create_contact(world.charlie.ayla, name="Şükrü Çelik", phone="0532 123 45 67")
    return home


@pytest.mark.parametrize(("q", "expected"), [
    ("sukru", {"Şükrü Çelik", "sukru yazici"}),
    ("ŞÜKRÜ", {"Şükrü Çelik", "sukru yazici"}),
    ("Şükrü Çelik", {"Şükrü Çelik"}),
    ("celik", {"Şükrü Çelik"}),
    ("ilker", {"İlker Yılmaz"}),
    ("İLKER", {"İlker Yılmaz"}),
    ("yilmaz", {"İlker Yılmaz"}),
    ("ISIK", {"Işık Demir"}),
    ("ışık", {"Işık Demir"}),
    ("isik", {"Işık Demir"}),
    ("ozturk", {"Ayşe Öztürk"}),
    ("1234", {"Şükrü Çelik"}),
    ("0532 123", {"Şükrü Çelik"}),
    ("987-65", {"İlker Yılmaz"}),
    ("ilker@example", {"İlker Yılmaz"}),
    ("%", set()),
    ("_", set()),
    ("nobody", set()),
])
async def test_search_folds_turkish_letters_both_ways_and_matches_phone_fragments(people, q,
                                                                                   expected):
    assert await search_names(people.bora, q=q) == expected


async def test_search_by_tag_and_custom_field(people):
    assert await search_names(people.bora, tag="vip") == {"Şükrü Çelik", "Işık Demir"}
    assert await search_names(people.bora, custom_field="uyelik=altın") == {
        "Şükrü Çelik", "Işık Demir"}
    assert await search_names(people.bora, custom_field="uyelik=bronz") == {"İlker Yılmaz"}
    assert await search_names(people.bora, custom_field="uyelik=platin") == set()
    assert await search_names(people.bora, tag="vip", q="isik") == {"Işık Demir"}
    assert await search_names(people.bora) == {
        "Şükrü Çelik", "İlker Yılmaz", "Işık Demir", "sukru yazici", "Ayşe Öztürk"}
    response = await people.bora.client.get("/api/v1/contacts",
                                            params={"custom_field": "uyelik"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "custom_field"


async def _page_through(person, *, limit: int, **params) -> list[dict]:
    seen: list[dict] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await person.client.get("/api/v1/contacts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert len(page["items"]) == limit
    raise AssertionError("pagination never ended")


async def test_cursor_pagination_returns_every_contact_exactly_once_newest_first(world):
    home = world.home
    ids = [uuid.UUID((await create_contact(home.bora, name=f"Kişi {n:02}"))["id"])
           for n in range(23)]
    seen = await _page_through(home.bora, limit=5)
    assert [uuid.UUID(c["id"]) for c in seen] == list(reversed(ids))
    assert (await home.bora.client.get("/api/v1/contacts",
                                       params={"cursor": "bozuk!"})).status_code == 422


async def test_pagination_survives_contacts_sharing_a_creation_time(world):
    """An import creates many contacts in one transaction: they share ``created_at`` (now()),
    and the keyset must fall back on the id so page borders inside such a run lose nothing."""
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        imported = [(await contacts.create_contact(session, home.system, ContactCreate(
            name=f"İthal {n:02}"))).id for n in range(17)]
    singles = [uuid.UUID((await create_contact(home.bora, name=f"Tek {n}"))["id"])
               for n in range(4)]
    seen = [uuid.UUID(c["id"]) for c in await _page_through(home.bora, limit=4)]
    assert len(seen) == len(set(seen)) == 21
    assert set(seen) == set(imported) | set(singles)
    assert seen[:4] == list(reversed(singles))
    assert seen[4:] == sorted(imported, reverse=True)
    stored = {c.id: c.created_at for c in await stored_contacts(home)}
    assert len({stored[i] for i in imported}) == 1  # the case under test: one shared instant


async def test_search_pagination_keeps_the_filter(world):
    home = world.home
    wanted = {uuid.UUID((await create_contact(home.bora, name=f"Gül {n}"))["id"])
              for n in range(7)}
    for n in range(5):
        await create_contact(home.bora, name=f"Ali {n}")
    seen = [uuid.UUID(c["id"]) for c in await _page_through(home.bora, limit=3, q="gul")]
    assert len(seen) == 7
    assert set(seen) == wanted


# ---- delete ------------------------------------------------------------------------------------

async def test_deleting_a_contact_needs_a_supervisor_and_takes_its_conversations(world):
    home = world.home
    message = await home.inbound("Merhaba", phone="0532 123 45 67", name="Ayşe")
    contact_id = message.contact_id
    note = await home.bora.client.post(f"/api/v1/contacts/{contact_id}/notes",
                                       json={"body": "Aradı, geri dönülecek"})
    assert note.status_code == 201

    response = await home.bora.client.delete(f"/api/v1/contacts/{contact_id}")
    assert response.status_code == 403
    assert await stored_contact(home, contact_id) is not None

    response = await home.sevgi.client.delete(f"/api/v1/contacts/{contact_id}")
    assert response.status_code == 204
    assert await stored_contact(home, contact_id) is None
    assert (await home.sevgi.client.get(f"/api/v1/contacts/{contact_id}")).status_code == 404
    assert (await home.sevgi.client.delete(f"/api/v1/contacts/{contact_id}")).status_code == 404
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.get(Conversation, message.conversation_id) is None
        assert await session.get(Message, message.id) is None

    # The number is free again: the next message from it makes a new contact.
    again = await home.inbound("Ben yine", phone="905321234567", name="Ayşe")
    assert again.contact_id != contact_id


async def test_contact_timestamps_and_activity(world):
    home = world.home
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = await create_contact(home.bora, name="Ayşe", phone=NUMBER, email="AYSE@Example.com",
                                   language="tr")
    assert created["email"] == "ayse@example.com"
    assert created["last_activity_at"] is None
    assert datetime.fromisoformat(created["created_at"]) > before
    await home.inbound("Merhaba", phone=NUMBER)
    fetched = (await home.bora.client.get(f"/api/v1/contacts/{created['id']}")).json()
    assert fetched["last_activity_at"] is not None

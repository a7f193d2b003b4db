"""The settings pages: users, groups, tags, quick replies, custom fields, channels and the company
profile. For each section: who may open it (a readable 403 page for everyone else), who may change
it (the services' 403), create/edit/delete round trips seen both in the re-rendered HTML and in the
database, bad input as a 422 naming its field, escaping of everything a user types, and another
company's ids as 404s. Assertions are on structure, ids and values, not on translated wording."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select

from invekto.audit.models import AuditEvent
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.contacts import service as contacts
from invekto.contacts.models import Contact, CustomFieldDefinition, Tag
from invekto.contacts.schemas import ContactCreate, CustomFieldCreate, TagCreate
from invekto.replies import service as replies
from invekto.tenants import service as tenants
from invekto.users import service as users
from invekto.users.models import AgentGroup, User
from invekto.users.schemas import GroupCreate
from tests.factories import Company, Person

XSS = "<script>alert(1)</script>"
ESCAPED = str(escape(XSS))
HX = {"hx-request": "true"}
SECTIONS = ("users", "groups", "tags", "quick-replies", "custom-fields", "channels", "company")
ADMIN_ONLY = ("users", "groups", "custom-fields", "channels", "company")
SUPERVISOR = ("tags", "quick-replies")


# ---- helpers -----------------------------------------------------------------------------------

async def db(company: Company, work) -> Any:
    """Reads (or sets up) through the services, as the company's system actor."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await work(session, company.system)


async def page(person: Person, path: str, expect: int = 200) -> str:
    response = await person.client.get(path)
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def post(person: Person, path: str, data: Any = None, expect: int = 200
               ) -> httpx.Response:
    """An HTMX form post, as the page sends it (the client carries the CSRF header)."""
    response = await person.client.post(path, data=data or {}, headers=HX)
    assert response.status_code == expect, response.text
    return response


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert "error" in body, response.text
    return body["error"]


async def refused(person: Person, path: str, data: Any, status: int, field: str | None = None
                  ) -> dict:
    error = error_of(await post(person, path, data, expect=status))
    if field is not None:
        assert error["field"] == field, error
    return error


def rows(html: str) -> dict[str, str]:
    """Each list row's HTML by its element id (a row runs until the next one starts)."""
    starts = [m.start() for m in re.finditer(r'<div class="list-group-item settings-row', html)]
    ends = [*starts[1:], len(html)] if starts else []
    chunks = [html[a:b] for a, b in zip(starts, ends, strict=True)]
    return {re.search(r'\bid="([^"]+)"', chunk).group(1): chunk for chunk in chunks}


def assert_escaped(html: str) -> None:
    assert XSS not in html
    assert ESCAPED in html


def assert_forbidden_page(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="settings-forbidden"' in response.text
    assert '<html lang="tr">' in response.text


async def user_named(company: Company, username: str) -> User | None:
    return await db(company, lambda s, a: users.find_by_username(s, company.tenant_id, username))


async def group_ids_of(company: Company, user_id: uuid.UUID) -> set[uuid.UUID]:
    return set(await db(company, lambda s, a: users.group_ids_of(s, company.tenant_id, user_id)))


async def one(company: Company, model, **where) -> Any:
    async def find(session, _actor):
        query = select(model).where(model.tenant_id == company.tenant_id)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return await session.scalar(query)
    return await db(company, find)


# ---- the area as a whole -----------------------------------------------------------------------

async def test_settings_opens_the_first_section_each_role_may_see(world):
    home = world.home
    response = await home.ayla.client.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/users"
    response = await home.sevgi.client.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/tags"
    assert_forbidden_page(await home.bora.client.get("/settings"))


async def test_pages_are_turkish_by_default_and_follow_the_users_language(world):
    html = await page(world.home.ayla, "/settings/users")
    assert '<html lang="tr">' in html
    assert 'data-section="users"' in html
    response = await world.home.ayla.client.post("/me/language", data={"language": "en"})
    assert response.status_code == 303
    html = await page(world.home.ayla, "/settings/users")
    assert '<html lang="en">' in html
    assert ">Users<" in html  # the English source text


async def test_the_sub_nav_lists_only_the_sections_the_user_may_open(world):
    admin = await page(world.home.ayla, "/settings/company")
    for slug in SECTIONS:
        assert f'href="/settings/{slug}"' in admin
    assert 'aria-current="page"' in admin
    supervisor = await page(world.home.sevgi, "/settings/tags")
    for slug in SUPERVISOR:
        assert f'href="/settings/{slug}"' in supervisor
    for slug in ADMIN_ONLY:
        assert f'href="/settings/{slug}"' not in supervisor
    # The app shell's nav marks the settings area.
    assert re.search(r'class="shell-link active" href="/settings"', supervisor)


@pytest.mark.parametrize("slug", SECTIONS)
async def test_agents_get_a_readable_403_page_for_every_section(world, slug):
    for agent in (world.home.bora, world.home.deniz):
        response = await agent.client.get(f"/settings/{slug}")
        assert_forbidden_page(response)
        assert 'href="/settings/' not in response.text  # no sections to offer them
    # An HTMX request gets the JSON error the page shows as a toast.
    response = await world.home.bora.client.get(f"/settings/{slug}", headers=HX)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


@pytest.mark.parametrize("slug", ADMIN_ONLY)
async def test_supervisors_get_a_403_page_for_admin_sections(world, slug):
    response = await world.home.sevgi.client.get(f"/settings/{slug}")
    assert_forbidden_page(response)
    assert 'href="/settings/tags"' in response.text  # the sections they may open


@pytest.mark.parametrize("slug", SECTIONS)
async def test_the_allowed_role_sees_each_section(world, slug):
    person = world.home.sevgi if slug in SUPERVISOR else world.home.ayla
    html = await page(person, f"/settings/{slug}")
    assert f'data-section="{slug}"' in html
    assert 'id="settings-body"' in html
    assert '<html lang="tr">' in html


async def test_an_unknown_section_is_a_404(world):
    response = await world.home.ayla.client.get("/settings/nope")
    assert response.status_code == 404


async def test_a_page_needs_a_session_and_a_change_needs_the_csrf_token(world, client):
    response = await client.get("/settings/users")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    ayla = world.home.ayla
    response = await ayla.client.post("/settings/tags", data={"name": "yanlis"},
                                      headers={"x-csrf-token": "wrong"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"
    # A plain form (no HTMX header) carries the token as a hidden field.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.home.app),
                                 base_url="http://testserver",
                                 cookies=ayla.client.cookies) as browser:
        response = await browser.post("/settings/tags", data={"name": "tokensiz"})
        assert response.status_code == 403
        response = await browser.post("/settings/tags", data={
            "name": "formdan", "csrf_token": ayla.csrf})
        assert response.status_code == 200, response.text
    assert await one(world.home, Tag, name="yanlis") is None
    assert await one(world.home, Tag, name="tokensiz") is None
    assert await one(world.home, Tag, name="formdan") is not None


# ---- users -------------------------------------------------------------------------------------

async def test_users_page_lists_everyone_with_role_groups_state_and_presence(world):
    home = world.home
    html = await page(home.ayla, "/settings/users")
    listed = rows(html)
    for person in (home.ayla, home.sevgi, home.bora, home.deniz):
        row = listed[f"user-{person.user_id}"]
        assert f'data-role="{person.role}"' in row
        assert 'data-active="true"' in row
        assert f"@{person.username}" in row
        assert "presence-dot presence-" in row
    assert f'data-group="{home.group_id}"' in listed[f"user-{home.bora.user_id}"]
    assert "data-group=" not in listed[f"user-{home.deniz.user_id}"]
    # Ayla cannot deactivate herself from the list.
    assert f"/settings/users/{home.ayla.user_id}/active" not in html
    assert f"/settings/users/{home.deniz.user_id}/active" in html


async def test_admin_creates_a_user_with_password_and_groups(world):
    home = world.home
    response = await post(home.ayla, "/settings/users", {
        "username": "Yeni.Kisi", "display_name": "Yeni Kişi", "email": "yeni@example.com",
        "role": "supervisor", "language": "en", "password": "uzun-bir-parola-1",
        "group_ids": ["", str(home.group_id)]})
    user = await user_named(home, "yeni.kisi")
    assert user is not None
    assert (user.role, user.language, user.email) == ("supervisor", "en", "yeni@example.com")
    assert await group_ids_of(home, user.id) == {home.group_id}
    row = rows(response.text)[f"user-{user.id}"]
    assert 'data-role="supervisor"' in row
    assert f'data-group="{home.group_id}"' in row
    assert 'id="generated-password"' not in response.text
    client = await home.login("yeni.kisi", "uzun-bir-parola-1")
    await client.aclose()


async def test_a_user_created_without_password_gets_one_shown_once(world):
    home = world.home
    response = await post(home.ayla, "/settings/users", {
        "username": "sifresiz", "display_name": "Şifresiz", "role": "agent", "language": "tr",
        "email": "", "password": ""})
    match = re.search(r'id="generated-password".*?<code[^>]*>([^<]+)</code>', response.text,
                      re.S)
    assert match, response.text
    client = await home.login("sifresiz", match.group(1))
    await client.aclose()
    user = await user_named(home, "sifresiz")
    assert user.email is None
    # Not shown again.
    assert match.group(1) not in await page(home.ayla, "/settings/users")


async def test_admin_edits_role_groups_name_and_language(world):
    home = world.home
    deniz = home.deniz
    response = await post(home.ayla, f"/settings/users/{deniz.user_id}", {
        "display_name": "Deniz Yıldız", "email": "deniz@example.com", "role": "supervisor",
        "language": "en", "group_ids": ["", str(home.group_id)]})
    row = rows(response.text)[f"user-{deniz.user_id}"]
    assert "Deniz Yıldız" in row
    assert 'data-role="supervisor"' in row
    assert f'data-group="{home.group_id}"' in row
    user = await db(home, lambda s, a: users.get_user(s, a, deniz.user_id))
    assert (user.display_name, user.role, user.language) == ("Deniz Yıldız", "supervisor", "en")
    assert await group_ids_of(home, deniz.user_id) == {home.group_id}
    # Unticking every group (only the empty hidden value is sent) leaves none.
    await post(home.ayla, f"/settings/users/{deniz.user_id}", {
        "display_name": "Deniz Yıldız", "role": "supervisor", "language": "en",
        "group_ids": ""})
    assert await group_ids_of(home, deniz.user_id) == set()


async def test_admin_deactivates_and_reactivates_a_user(world):
    home = world.home
    deniz = home.deniz
    response = await post(home.ayla, f"/settings/users/{deniz.user_id}/active",
                          {"is_active": "false"})
    assert 'data-active="false"' in rows(response.text)[f"user-{deniz.user_id}"]
    assert not (await db(home, lambda s, a: users.get_user(s, a, deniz.user_id))).is_active
    # Their sessions ended with it.
    assert (await deniz.client.get("/settings/tags", headers=HX)).status_code == 401
    response = await post(home.ayla, f"/settings/users/{deniz.user_id}/active",
                          {"is_active": "true"})
    assert 'data-active="true"' in rows(response.text)[f"user-{deniz.user_id}"]
    assert (await db(home, lambda s, a: users.get_user(s, a, deniz.user_id))).is_active
    await refused(home.ayla, f"/settings/users/{deniz.user_id}/active", {}, 422, "is_active")
    await refused(home.ayla, f"/settings/users/{deniz.user_id}/active",
                  {"is_active": "belki"}, 422, "is_active")


async def test_an_admin_cannot_demote_or_deactivate_themselves(world):
    home = world.home
    ayla = home.ayla
    error = await refused(ayla, f"/settings/users/{ayla.user_id}", {
        "display_name": "Ayla", "role": "agent", "language": "tr"}, 422, "role")
    assert error["message"]
    await refused(ayla, f"/settings/users/{ayla.user_id}/active", {"is_active": "false"}, 422,
                  "role")
    user = await db(home, lambda s, a: users.get_user(s, a, ayla.user_id))
    assert (user.role, user.is_active) == ("admin", True)
    # Her own page says so next to the role.
    html = await page(ayla, "/settings/users")
    assert "form-hint" in rows(html)[f"user-{ayla.user_id}"]
    # Other changes to herself are fine.
    await post(ayla, f"/settings/users/{ayla.user_id}", {
        "display_name": "Ayla Hanım", "role": "admin", "language": "tr"})
    assert (await db(home, lambda s, a: users.get_user(s, a, ayla.user_id))).display_name == \
        "Ayla Hanım"


@pytest.mark.parametrize(("data", "field"), [
    ({"username": "Çağrı", "display_name": "Çağrı"}, "username"),
    ({"username": "x", "display_name": "X"}, "username"),
    ({"username": "bos-ad", "display_name": ""}, "display_name"),
    ({"username": "rolsuz", "display_name": "R", "role": "owner"}, "role"),
    ({"username": "postasiz", "display_name": "P", "email": "yok"}, "email"),
    ({"username": "kisa", "display_name": "K", "password": "kisa"}, "password"),
    ({"username": "grupsuz", "display_name": "G", "group_ids": "grup"}, "group_ids.0"),
    ({"username": "dilsiz", "display_name": "D", "language": "de"}, "language"),
])
async def test_bad_user_input_is_a_422_naming_the_field(world, data, field):
    await refused(world.home.ayla, "/settings/users", data, 422, field)
    assert await user_named(world.home, data["username"].lower()) is None


async def test_user_conflicts_and_other_companies_ids(world):
    home, charlie = world.home, world.charlie
    await refused(home.ayla, "/settings/users", {"username": "bora", "display_name": "B2"}, 409,
                  "username")
    # Charlie's group is not one of ours: a 422 on the field, nobody is created.
    charlie_group = await db(charlie, lambda s, a: users.create_group(
        s, a, GroupCreate(name="Charlie ekibi")))
    await refused(home.ayla, "/settings/users", {
        "username": "sizinti", "display_name": "S", "group_ids": str(charlie_group.id)}, 422,
        "group_ids")
    await refused(home.ayla, f"/settings/users/{charlie.ayla.user_id}", {
        "display_name": "Ele geçirildi", "role": "agent"}, 404)
    await refused(home.ayla, f"/settings/users/{charlie.ayla.user_id}/active",
                  {"is_active": "false"}, 404)
    user = await db(charlie, lambda s, a: users.get_user(s, a, charlie.ayla.user_id))
    assert (user.display_name, user.role, user.is_active) == ("Yönetici", "admin", True)


async def test_only_admins_change_users(world):
    home = world.home
    for person in (home.sevgi, home.bora):
        await refused(person, "/settings/users", {
            "username": f"izinsiz-{person.username}", "display_name": "İ"}, 403)
        await refused(person, f"/settings/users/{home.deniz.user_id}", {
            "display_name": "Değişti", "role": "admin"}, 403)
        await refused(person, f"/settings/users/{home.deniz.user_id}/active",
                      {"is_active": "false"}, 403)
    user = await db(home, lambda s, a: users.get_user(s, a, home.deniz.user_id))
    assert (user.display_name, user.role, user.is_active) == ("Deniz", "agent", True)
    assert await user_named(home, "izinsiz-sevgi") is None


async def test_user_values_are_escaped(world):
    home = world.home
    response = await post(home.ayla, "/settings/users", {
        "username": "betik", "display_name": XSS, "email": "", "password": ""})
    assert_escaped(response.text)
    assert_escaped(await page(home.ayla, "/settings/users"))
    assert_escaped(await page(home.ayla, "/settings/groups"))  # a member to tick


# ---- groups ------------------------------------------------------------------------------------

async def test_groups_round_trip(world):
    home = world.home
    html = await page(home.ayla, "/settings/groups")
    row = rows(html)[f"group-{home.group_id}"]
    assert "Resepsiyon" in row
    assert f'data-member="{home.bora.user_id}"' in row

    response = await post(home.ayla, "/settings/groups", {
        "name": "Satış", "description": "Yeni müşteriler",
        "member_ids": ["", str(home.deniz.user_id)]})
    group = await one(home, AgentGroup, name="Satış")
    assert group.description == "Yeni müşteriler"
    row = rows(response.text)[f"group-{group.id}"]
    assert f'data-member="{home.deniz.user_id}"' in row
    assert await group_ids_of(home, home.deniz.user_id) == {group.id}

    response = await post(home.ayla, f"/settings/groups/{group.id}", {
        "name": "Satış Ekibi", "description": "",
        "member_ids": ["", str(home.bora.user_id), str(home.sevgi.user_id)]})
    row = rows(response.text)[f"group-{group.id}"]
    assert "Satış Ekibi" in row
    assert f'data-member="{home.deniz.user_id}"' not in row
    assert f'data-member="{home.sevgi.user_id}"' in row
    group = await db(home, lambda s, a: users.get_group(s, a, group.id))
    assert (group.name, group.description) == ("Satış Ekibi", "")
    assert await group_ids_of(home, home.bora.user_id) == {home.group_id, group.id}

    response = await post(home.ayla, f"/settings/groups/{group.id}/delete")
    assert f"group-{group.id}" not in rows(response.text)
    assert await one(home, AgentGroup, name="Satış Ekibi") is None
    assert await group_ids_of(home, home.bora.user_id) == {home.group_id}


async def test_bad_group_input_conflicts_rights_and_other_companies(world):
    home, charlie = world.home, world.charlie
    await refused(home.ayla, "/settings/groups", {"name": ""}, 422, "name")
    await refused(home.ayla, "/settings/groups", {"name": "x" * 101}, 422, "name")
    await refused(home.ayla, "/settings/groups", {"name": "Y", "member_ids": "biri"}, 422,
                  "member_ids.0")
    await refused(home.ayla, "/settings/groups", {"name": "Resepsiyon"}, 409, "name")
    await refused(home.ayla, f"/settings/groups/{home.group_id}", {"name": ""}, 422, "name")
    for path in (f"/settings/groups/{charlie.group_id}", f"/settings/groups/{charlie.group_id}"
                 "/delete"):
        await refused(home.ayla, path, {"name": "Ele geçirildi"}, 404)
    assert (await db(charlie, lambda s, a: users.get_group(s, a, charlie.group_id))).name == \
        "Resepsiyon"
    for person in (home.sevgi, home.bora):
        await refused(person, "/settings/groups", {"name": "İzinsiz"}, 403)
        await refused(person, f"/settings/groups/{home.group_id}", {"name": "İzinsiz"}, 403)
        await refused(person, f"/settings/groups/{home.group_id}/delete", {}, 403)
    assert (await db(home, lambda s, a: users.get_group(s, a, home.group_id))).name == \
        "Resepsiyon"


async def test_group_values_are_escaped(world):
    response = await post(world.home.ayla, "/settings/groups", {
        "name": XSS, "description": XSS})
    assert_escaped(response.text)
    assert_escaped(await page(world.home.ayla, "/settings/groups"))
    assert_escaped(await page(world.home.ayla, "/settings/users"))  # a group to tick


# ---- tags --------------------------------------------------------------------------------------

async def test_tags_round_trip(world):
    home = world.home
    response = await post(home.sevgi, "/settings/tags", {"name": " VIP ", "color": "#ff0000"})
    tag = await one(home, Tag, name="VIP")
    assert tag.color == "#ff0000"
    row = rows(response.text)[f"tag-{tag.id}"]
    assert 'data-color="#ff0000"' in row
    assert "VIP" in row

    assert not tag.marks_conversion and "badge bg-green-lt tag-conversion" not in row
    response = await post(home.sevgi, f"/settings/tags/{tag.id}",
                          {"color": "#00AA00", "marks_conversion": "true"})
    row = rows(response.text)[f"tag-{tag.id}"]
    assert 'data-color="#00AA00"' in row and "badge bg-green-lt tag-conversion" in row
    saved = await one(home, Tag, name="VIP")
    assert saved.color == "#00AA00" and saved.marks_conversion
    # An unticked box is a "no" (a form sends nothing for it).
    await post(home.sevgi, f"/settings/tags/{tag.id}", {"color": "#00AA00"})
    assert not (await one(home, Tag, name="VIP")).marks_conversion

    # Deleting takes it off contacts and conversations too.
    contact = await db(home, lambda s, a: contacts.create_contact(
        s, a, ContactCreate(name="Etiketli", tags=["VIP"])))
    response = await post(home.ayla, f"/settings/tags/{tag.id}/delete")
    assert f"tag-{tag.id}" not in rows(response.text)
    assert await one(home, Tag, name="VIP") is None
    assert (await one(home, Contact, id=contact.id)).tags == []


async def test_bad_tag_input_rights_and_other_companies(world):
    home, charlie = world.home, world.charlie
    await refused(home.sevgi, "/settings/tags", {"name": "", "color": "#ffffff"}, 422, "name")
    await refused(home.sevgi, "/settings/tags", {"name": "Kırmızı", "color": "red"}, 422,
                  "color")
    await refused(home.sevgi, "/settings/tags", {"name": "x" * 51}, 422, "name")
    tag = await db(home, lambda s, a: contacts.create_tag(s, a, TagCreate(name="Sıcak")))
    await refused(home.sevgi, "/settings/tags", {"name": "Sıcak"}, 409, "name")
    await refused(home.sevgi, f"/settings/tags/{tag.id}", {"color": "#12345"}, 422, "color")
    charlie_tag = await db(charlie, lambda s, a: contacts.create_tag(
        s, a, TagCreate(name="Charlie", color="#123456")))
    await refused(home.ayla, f"/settings/tags/{charlie_tag.id}", {"color": "#000000"}, 404)
    await refused(home.ayla, f"/settings/tags/{charlie_tag.id}/delete", {}, 404)
    assert (await one(charlie, Tag, id=charlie_tag.id)).color == "#123456"
    for agent in (home.bora, home.deniz):
        await refused(agent, "/settings/tags", {"name": "Ajan etiketi"}, 403)
        await refused(agent, f"/settings/tags/{tag.id}", {"color": "#000000"}, 403)
        await refused(agent, f"/settings/tags/{tag.id}/delete", {}, 403)
    assert (await one(home, Tag, id=tag.id)).color == "#6c757d"
    assert await one(home, Tag, name="Ajan etiketi") is None


async def test_tag_names_are_escaped(world):
    response = await post(world.home.sevgi, "/settings/tags", {"name": XSS, "color": "#000000"})
    assert_escaped(response.text)
    assert_escaped(await page(world.home.sevgi, "/settings/tags"))


# ---- quick replies -----------------------------------------------------------------------------

async def test_quick_replies_round_trip_and_search(world):
    home = world.home
    sevgi = home.sevgi
    await post(sevgi, "/settings/quick-replies", {"shortcut": "/Saat", "body": "09:00-18:00"})
    response = await post(sevgi, "/settings/quick-replies", {
        "shortcut": "adres", "body": "Kadıköy, İstanbul", "q": ""})
    found = {r.shortcut: r for r in await db(home, lambda s, a: replies.search(s, a))}
    assert set(found) == {"saat", "adres"}
    listed = rows(response.text)
    assert "/saat" in listed[f"reply-{found['saat'].id}"]
    assert "Kadıköy" in listed[f"reply-{found['adres'].id}"]

    # The search box's results (accent- and case-folded), and the page's own ?q=.
    response = await sevgi.client.get("/settings/quick-replies/list", params={"q": "kadikoy"},
                                      headers=HX)
    assert response.status_code == 200
    assert list(rows(response.text)) == [f"reply-{found['adres'].id}"]
    html = await page(sevgi, "/settings/quick-replies?q=saat")
    assert list(rows(html)) == [f"reply-{found['saat'].id}"]
    assert 'value="saat"' in html

    # A change keeps the list filtered as the search box says.
    reply_id = found["saat"].id
    response = await post(sevgi, f"/settings/quick-replies/{reply_id}", {
        "shortcut": "mesai", "body": "Hafta içi 09:00-18:00", "q": "mesai"})
    assert list(rows(response.text)) == [f"reply-{reply_id}"]
    assert "Hafta içi" in response.text
    reply = (await db(home, lambda s, a: replies.search(s, a, "mesai")))[0]
    assert (reply.id, reply.body) == (reply_id, "Hafta içi 09:00-18:00")

    response = await post(home.ayla, f"/settings/quick-replies/{reply_id}/delete")
    assert f"reply-{reply_id}" not in rows(response.text)
    assert [r.shortcut for r in await db(home, lambda s, a: replies.search(s, a))] == ["adres"]


async def test_bad_quick_reply_input_rights_and_other_companies(world):
    home, charlie = world.home, world.charlie
    sevgi = home.sevgi
    await refused(sevgi, "/settings/quick-replies", {"shortcut": "Kötü Kısayol", "body": "x"},
                  422, "shortcut")
    await refused(sevgi, "/settings/quick-replies", {"shortcut": "bos", "body": "  "}, 422,
                  "body")
    await refused(sevgi, "/settings/quick-replies", {"shortcut": "uzun", "body": "x" * 4097},
                  422, "body")
    response = await sevgi.client.get("/settings/quick-replies/list", params={"q": "x" * 201},
                                      headers=HX)
    assert response.status_code == 422
    assert error_of(response)["field"] == "q"
    reply = await db(home, lambda s, a: replies.create(s, a, shortcut="selam", body="Merhaba"))
    await refused(sevgi, "/settings/quick-replies", {"shortcut": "selam", "body": "x"}, 409,
                  "shortcut")
    await refused(sevgi, f"/settings/quick-replies/{reply.id}", {"shortcut": "", "body": "x"},
                  422, "shortcut")
    theirs = await db(charlie, lambda s, a: replies.create(s, a, shortcut="gizli", body="Sır"))
    await refused(home.ayla, f"/settings/quick-replies/{theirs.id}",
                  {"shortcut": "gizli", "body": "Ele geçirildi"}, 404)
    await refused(home.ayla, f"/settings/quick-replies/{theirs.id}/delete", {}, 404)
    assert [r.body for r in await db(charlie, lambda s, a: replies.search(s, a))] == ["Sır"]
    for agent in (home.bora, home.deniz):
        assert_forbidden_page(await agent.client.get("/settings/quick-replies"))
        response = await agent.client.get("/settings/quick-replies/list", headers=HX)
        assert response.status_code == 403
        await refused(agent, "/settings/quick-replies", {"shortcut": "ajan", "body": "x"}, 403)
        await refused(agent, f"/settings/quick-replies/{reply.id}",
                      {"shortcut": "selam", "body": "Değişti"}, 403)
        await refused(agent, f"/settings/quick-replies/{reply.id}/delete", {}, 403)
    assert [r.body for r in await db(home, lambda s, a: replies.search(s, a))] == ["Merhaba"]


async def test_quick_reply_text_is_escaped(world):
    response = await post(world.home.sevgi, "/settings/quick-replies", {
        "shortcut": "betik", "body": XSS})
    assert_escaped(response.text)
    assert_escaped(await page(world.home.sevgi, "/settings/quick-replies"))


# ---- custom fields -----------------------------------------------------------------------------

async def test_custom_fields_round_trip(world):
    home = world.home
    response = await post(home.ayla, "/settings/custom-fields", {
        "key": "sehir", "label": "Şehir", "field_type": "select",
        "options": "İstanbul\r\nAnkara\n\n İzmir ", "position": "2"})
    field = await one(home, CustomFieldDefinition, key="sehir")
    assert (field.label, field.field_type, field.options, field.position) == (
        "Şehir", "select", ["İstanbul", "Ankara", "İzmir"], 2)
    row = rows(response.text)[f"field-{field.id}"]
    assert 'data-type="select"' in row
    assert "İstanbul, Ankara, İzmir" in row
    assert 'data-count="1"' in response.text

    await post(home.ayla, "/settings/custom-fields", {
        "key": "dogum_gunu", "label": "Doğum günü", "field_type": "date", "position": ""})
    birthday = await one(home, CustomFieldDefinition, key="dogum_gunu")
    assert (birthday.position, birthday.options) == (0, [])

    response = await post(home.ayla, f"/settings/custom-fields/{field.id}", {
        "label": "İl", "options": "Bursa\nİzmir", "position": "-1"})
    assert "Bursa, İzmir" in rows(response.text)[f"field-{field.id}"]
    # Listed by position: the edited field now comes first.
    assert list(rows(response.text)) == [f"field-{field.id}", f"field-{birthday.id}"]
    field = await one(home, CustomFieldDefinition, key="sehir")
    assert (field.label, field.options, field.position) == ("İl", ["Bursa", "İzmir"], -1)

    response = await post(home.ayla, f"/settings/custom-fields/{field.id}/delete")
    assert f"field-{field.id}" not in rows(response.text)
    assert await one(home, CustomFieldDefinition, key="sehir") is None


@pytest.mark.parametrize(("data", "field"), [
    ({"key": "Kötü Anahtar", "label": "K", "field_type": "text"}, "key"),
    ({"key": "renk", "label": "Renk", "field_type": "colour"}, "field_type"),
    ({"key": "secim", "label": "Seçim", "field_type": "select", "options": " \n "}, "options"),
    ({"key": "sira", "label": "Sıra", "field_type": "text", "position": "ilk"}, "position"),
    ({"key": "etiketsiz", "label": "", "field_type": "text"}, "label"),
])
async def test_bad_custom_field_input_is_a_422_naming_the_field(world, data, field):
    await refused(world.home.ayla, "/settings/custom-fields", data, 422, field)
    assert await one(world.home, CustomFieldDefinition, key=data["key"]) is None


async def test_custom_fields_stop_at_ten(world):
    home = world.home
    for n in range(10):
        await db(home, lambda s, a, n=n: contacts.create_custom_field(s, a, CustomFieldCreate(
            key=f"alan_{n}", label=f"Alan {n}", field_type="text")))
    html = await page(home.ayla, "/settings/custom-fields")
    assert 'id="fields-full"' in html
    assert 'id="field-create"' not in html
    await refused(home.ayla, "/settings/custom-fields", {
        "key": "onbirinci", "label": "On birinci", "field_type": "text"}, 422, "key")


async def test_custom_field_rights_and_other_companies(world):
    home, charlie = world.home, world.charlie
    mine = await db(home, lambda s, a: contacts.create_custom_field(s, a, CustomFieldCreate(
        key="not", label="Not", field_type="text")))
    theirs = await db(charlie, lambda s, a: contacts.create_custom_field(
        s, a, CustomFieldCreate(key="gizli", label="Gizli", field_type="text")))
    await refused(home.ayla, f"/settings/custom-fields/{theirs.id}", {"label": "Ele"}, 404)
    await refused(home.ayla, f"/settings/custom-fields/{theirs.id}/delete", {}, 404)
    assert (await one(charlie, CustomFieldDefinition, id=theirs.id)).label == "Gizli"
    await refused(home.ayla, f"/settings/custom-fields/{mine.id}", {"label": ""}, 422, "label")
    for person in (home.sevgi, home.bora):
        await refused(person, "/settings/custom-fields", {
            "key": "izinsiz", "label": "İ", "field_type": "text"}, 403)
        await refused(person, f"/settings/custom-fields/{mine.id}", {"label": "Değişti"}, 403)
        await refused(person, f"/settings/custom-fields/{mine.id}/delete", {}, 403)
    assert (await one(home, CustomFieldDefinition, id=mine.id)).label == "Not"
    assert await one(home, CustomFieldDefinition, key="izinsiz") is None


async def test_custom_field_labels_and_options_are_escaped(world):
    response = await post(world.home.ayla, "/settings/custom-fields", {
        "key": "betik", "label": XSS, "field_type": "select", "options": XSS})
    assert_escaped(response.text)
    assert_escaped(await page(world.home.ayla, "/settings/custom-fields"))


# ---- channels (their forms: test_channel_settings.py) ------------------------------------------

async def test_channels_are_listed(world):
    home = world.home
    await db(home, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="telegram", name=XSS)))
    html = await page(home.ayla, "/settings/channels")
    row = rows(html)[f"channel-{home.channel_id}"]
    assert 'data-kind="webchat"' in row
    assert ">Web<" in row
    assert 'data-status="active"' in row
    assert 'data-kind="telegram"' in html
    assert_escaped(html)
    # Charlie's channel is not listed.
    assert str(world.charlie.channel_id) not in html


# ---- company profile ---------------------------------------------------------------------------

async def test_company_profile_round_trip_is_audited(world):
    home, charlie = world.home, world.charlie
    html = await page(home.ayla, "/settings/company")
    assert f'<code id="company-slug">{home.slug}</code>' in html
    assert '<option value="Europe/Istanbul" selected>' in html
    assert 'value="Test Kliniği"' in html

    response = await post(home.ayla, "/settings/company", {
        "name": "  Yeni   Klinik ", "timezone": "Asia/Tokyo", "default_language": "en"})
    assert 'id="company-saved"' in response.text
    assert '<option value="Asia/Tokyo" selected>' in response.text  # listed, though uncommon
    tenant = await db(home, lambda s, a: tenants.get(s, home.tenant_id))
    assert (tenant.name, tenant.timezone, tenant.default_language) == (
        "Yeni Klinik", "Asia/Tokyo", "en")
    event = await one(home, AuditEvent, action="tenant.updated")
    assert event.actor_id == home.ayla.user_id
    assert event.data == {"name": "Yeni Klinik", "timezone": "Asia/Tokyo",
                          "default_language": "en"}
    # New users are offered the company's language.
    select_html = re.search(r'<select[^>]*id="new-language">(.*?)</select>',
                            await page(home.ayla, "/settings/users"), re.S).group(1)
    assert re.search(r'<option value="en"[^>]*selected>', select_html)
    assert not re.search(r'<option value="tr"[^>]*selected>', select_html)
    theirs = await db(charlie, lambda s, a: tenants.get(s, charlie.tenant_id))
    assert (theirs.name, theirs.timezone) == ("Test Kliniği", "Europe/Istanbul")


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "  ", "timezone": "Europe/Istanbul", "default_language": "tr"}, "name"),
    ({"name": "x" * 201, "timezone": "Europe/Istanbul", "default_language": "tr"}, "name"),
    ({"name": "K", "timezone": "Mars/Olympus", "default_language": "tr"}, "timezone"),
    ({"name": "K", "timezone": "", "default_language": "tr"}, "timezone"),
    ({"name": "K", "timezone": "Europe/Istanbul", "default_language": "de"}, "default_language"),
])
async def test_bad_company_profile_is_a_422_naming_the_field(world, data, field):
    home = world.home
    await refused(home.ayla, "/settings/company", data, 422, field)
    tenant = await db(home, lambda s, a: tenants.get(s, home.tenant_id))
    assert (tenant.name, tenant.timezone) == ("Test Kliniği", "Europe/Istanbul")


async def test_only_admins_change_the_company_profile(world):
    home = world.home
    for person in (home.sevgi, home.bora):
        await refused(person, "/settings/company", {
            "name": "Ele geçirildi", "timezone": "UTC", "default_language": "en"}, 403)
    tenant = await db(home, lambda s, a: tenants.get(s, home.tenant_id))
    assert (tenant.name, tenant.timezone, tenant.default_language) == (
        "Test Kliniği", "Europe/Istanbul", "tr")


async def test_company_name_is_escaped(world):
    response = await post(world.home.ayla, "/settings/company", {
        "name": XSS, "timezone": "Europe/Istanbul", "default_language": "tr"})
    assert_escaped(response.text)
    assert_escaped(await page(world.home.ayla, "/settings/company"))


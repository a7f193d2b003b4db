"""Custom roles: built from named permissions, honoured by every service check, and never a way
to hand out more than one holds."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from invekto.audit.models import AuditEvent
from invekto.core.actor import PERMISSION_NAMES, Permission
from invekto.users import roles
from invekto.users.models import CustomRole, User
from tests.api.test_auth import assert_error
from tests.factories import Company

API = "/api/v1"


async def make_role(company: Company, name: str, permissions: list[str]) -> str:
    response = await company.ayla.client.post(f"{API}/roles", json={
        "name": name, "permissions": permissions})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def person_with_role(company: Company, username: str, role_id: str, *,
                           base: str = "agent") -> httpx.AsyncClient:
    response = await company.ayla.client.post(f"{API}/users", json={
        "username": username, "display_name": username.title(), "role": base,
        "custom_role_id": role_id, "password": "uzun-bir-parola-123"})
    assert response.status_code == 201, response.text
    assert response.json()["custom_role_id"] == role_id
    return await company.login(username, "uzun-bir-parola-123")


async def shared_conversation(company: Company) -> uuid.UUID:
    return (await company.inbound("Randevu almak istiyorum")).conversation_id


async def test_permissions_are_listed_with_the_built_in_roles_that_hold_them(world):
    response = await world.home.bora.client.get(f"{API}/permissions")
    assert response.status_code == 200
    listed = {p["name"]: p for p in response.json()}
    assert set(listed) == {p.value for p in Permission}
    assert listed["reports.see"]["roles"] == ["supervisor", "admin"]
    assert listed["conversations.handle"]["roles"] == ["agent", "supervisor", "admin"]
    assert listed["security.manage"]["roles"] == ["admin"]
    # Named in the caller's language (Bora's is Turkish): the label is the catalogue's.
    assert all(p["label"] for p in listed.values())
    assert len(PERMISSION_NAMES) == len(Permission)


async def test_a_reports_only_role_reads_reports_but_cannot_touch_conversations(world):
    home = world.home
    role_id = await make_role(home, "Raporcu", ["reports.see"])
    client = await person_with_role(home, "raporcu", role_id)
    conversation_id = await shared_conversation(home)
    try:
        assert (await client.get(f"{API}/reports/overview")).status_code == 200
        # No "see unassigned": the shared queue is not theirs to see.
        listed = (await client.get(f"{API}/conversations")).json()
        assert str(conversation_id) not in {c["id"] for c in listed["items"]}
        assert_error(await client.get(f"{API}/conversations/{conversation_id}"), 404,
                     "not_found")
        assert_error(await client.post(f"{API}/tags", json={"name": "rapor"}), 403, "forbidden")
    finally:
        await client.aclose()


async def test_without_handling_a_visible_conversation_cannot_be_answered(world):
    home = world.home
    role_id = await make_role(home, "İzleyici", ["conversations.see_unassigned"])
    client = await person_with_role(home, "izleyici", role_id)
    conversation_id = await shared_conversation(home)
    try:
        assert (await client.get(f"{API}/conversations/{conversation_id}")).status_code == 200
        error = assert_error(await client.post(
            f"{API}/conversations/{conversation_id}/messages", json={"body": "Merhaba"}),
            403, "forbidden")
        assert error["message"] == "this action needs the “Handle conversations” permission"
    finally:
        await client.aclose()


async def test_an_agent_given_a_role_with_tags_can_manage_tags(world):
    home = world.home
    role_id = await make_role(home, "Etiketçi", ["conversations.handle",
                                                 "conversations.see_unassigned",
                                                 "contacts.manage"])
    client = await person_with_role(home, "etiketci", role_id)
    try:
        response = await client.post(f"{API}/tags", json={"name": "vip-hasta"})
        assert response.status_code == 201, response.text
        # Still no reports: the role, not the built-in agent role, decides, and it lacks them.
        assert_error(await client.get(f"{API}/reports/overview"), 403, "forbidden")
    finally:
        await client.aclose()


async def test_a_changed_role_applies_on_the_next_request(world):
    home = world.home
    role_id = await make_role(home, "Değişken", ["conversations.handle"])
    client = await person_with_role(home, "degisken", role_id)
    try:
        assert_error(await client.get(f"{API}/reports/overview"), 403, "forbidden")
        response = await home.ayla.client.put(f"{API}/roles/{role_id}", json={
            "name": "Değişken", "permissions": ["conversations.handle", "reports.see"]})
        assert response.status_code == 200, response.text
        assert (await client.get(f"{API}/reports/overview")).status_code == 200
    finally:
        await client.aclose()
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (event,) = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "role.updated",
            AuditEvent.target_id == uuid.UUID(role_id)))).all()
    assert event.before["permissions"] == ["conversations.handle"]
    assert event.after["permissions"] == ["conversations.handle", "reports.see"]
    assert event.actor_id == home.ayla.user_id


async def test_bad_roles_are_refused_with_the_field_at_fault(world):
    ayla = world.home.ayla.client
    assert_error(await ayla.post(f"{API}/roles", json={"name": "Boş", "permissions": []}),
                 422, "validation_failed", field="permissions")
    response = await ayla.post(f"{API}/roles", json={"name": "Bilinmeyen",
                                                     "permissions": ["root.everything"]})
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("permissions")
    await make_role(world.home, "Aynı", ["reports.see"])
    assert_error(await ayla.post(f"{API}/roles", json={"name": "Aynı",
                                                       "permissions": ["reports.see"]}),
                 409, "conflict", field="name")


async def test_a_role_in_use_cannot_be_deleted_until_nobody_has_it(world):
    home = world.home
    role_id = await make_role(home, "Geçici rol", ["conversations.handle"])
    client = await person_with_role(home, "gecici", role_id)
    await client.aclose()
    assert_error(await home.ayla.client.delete(f"{API}/roles/{role_id}"), 409, "conflict",
                 field="role_id")
    user_id = (await home.ayla.client.get(f"{API}/users")).json()
    (gecici,) = [u for u in user_id if u["username"] == "gecici"]
    response = await home.ayla.client.patch(f"{API}/users/{gecici['id']}",
                                            json={"custom_role_id": None})
    assert response.status_code == 200 and response.json()["custom_role_id"] is None
    assert (await home.ayla.client.delete(f"{API}/roles/{role_id}")).status_code == 204
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.get(CustomRole, uuid.UUID(role_id)) is None


async def test_managing_users_does_not_let_one_grant_more_than_one_holds(world):
    home = world.home
    role_id = await make_role(home, "İK", ["users.manage", "conversations.handle",
                                           "conversations.see_unassigned",
                                           "contacts.see_personal_data"])
    client = await person_with_role(home, "ik", role_id)
    try:
        # An agent is within what they hold...
        response = await client.post(f"{API}/users", json={
            "username": "yeni-ajan", "display_name": "Yeni", "role": "agent",
            "password": "uzun-bir-parola-123"})
        assert response.status_code == 201, response.text
        new_id = response.json()["id"]
        # ...an admin, a supervisor, or a role with more, is not.
        for role in ("admin", "supervisor"):
            assert_error(await client.post(f"{API}/users", json={
                "username": f"yeni-{role}", "display_name": "Yeni", "role": role,
                "password": "uzun-bir-parola-123"}), 403, "forbidden", field="role")
        assert_error(await client.patch(f"{API}/users/{new_id}", json={"role": "admin"}),
                     403, "forbidden", field="role")
        assert_error(await client.post(f"{API}/roles", json={
            "name": "Kendi", "permissions": ["security.manage"]}), 403, "forbidden",
            field="permissions")
        # Nor may they change Ayla, whose admin role is more than theirs, in any way.
        assert_error(await client.patch(f"{API}/users/{home.ayla.user_id}",
                                        json={"custom_role_id": role_id}), 403, "forbidden")
        assert_error(await client.patch(f"{API}/users/{home.ayla.user_id}",
                                        json={"is_active": False}), 403, "forbidden")
    finally:
        await client.aclose()
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        names = set((await session.scalars(select(User.username))).all())
        ayla = await session.get(User, home.ayla.user_id)
    assert "yeni-admin" not in names and "yeni-supervisor" not in names
    assert ayla.role == "admin" and ayla.custom_role_id is None and ayla.is_active


async def test_another_companys_role_cannot_be_given(world):
    charlie_role = await world.charlie.ayla.client.post(f"{API}/roles", json={
        "name": "Charlie", "permissions": ["reports.see"]})
    assert charlie_role.status_code == 201
    response = await world.home.ayla.client.patch(
        f"{API}/users/{world.home.deniz.user_id}",
        json={"custom_role_id": charlie_role.json()["id"]})
    assert_error(response, 422, "validation_failed", field="custom_role_id")


async def test_users_holding_a_permission_through_either_kind_of_role(world):
    home = world.home
    role_id = await make_role(home, "Vardiya amiri", ["conversations.supervise"])
    client = await person_with_role(home, "amir", role_id)
    await client.aclose()
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        supervising = set(await roles.user_ids_with(session, home.tenant_id,
                                                    Permission.SUPERVISE))
        amir = await session.scalar(select(User.id).where(User.username == "amir"))
    assert supervising == {home.ayla.user_id, home.sevgi.user_id, amir}

"""Settings → Roles: custom roles made, edited and deleted from the page, given to a user on the
users page, and what that user then sees of the app."""

from __future__ import annotations

from invekto.users.models import CustomRole, User
from tests.web.test_settings_pages import ESCAPED, XSS, one, page, post, rows


async def test_roles_round_trip_and_a_user_given_one(world):
    home = world.home
    html = await page(home.ayla, "/settings/roles")
    assert 'id="roles-empty"' in html
    assert 'value="reports.see"' in html and 'value="security.manage"' in html

    response = await post(home.ayla, "/settings/roles", {
        "name": f"Raporcu {XSS}", "description": "Yalnızca raporlar",
        "permissions": ["", "reports.see", "conversations.handle"]})
    role = await one(home, CustomRole, name=f"Raporcu {XSS}")
    assert sorted(role.permissions) == ["conversations.handle", "reports.see"]
    row = rows(response.text)[f"role-{role.id}"]
    assert ESCAPED in row and XSS not in response.text
    assert 'data-permission="reports.see"' in row

    # Given to Deniz on the users page, beside the built-in role.
    response = await post(home.ayla, f"/settings/users/{home.deniz.user_id}", {
        "display_name": "Deniz", "role": "agent", "custom_role_id": str(role.id),
        "language": "tr", "group_ids": [""]})
    assert f"user-{home.deniz.user_id}" in rows(response.text)
    deniz = await one(home, User, id=home.deniz.user_id)
    assert deniz.custom_role_id == role.id
    # Deniz now reaches the reports and no longer the settings (no "manage" permission).
    assert (await home.deniz.client.get("/reports")).status_code == 200
    settings = await home.deniz.client.get("/settings/tags")
    assert settings.status_code == 403

    # In use, the role cannot go.
    response = await home.ayla.client.post(f"/settings/roles/{role.id}/delete",
                                           headers={"hx-request": "true"})
    assert response.status_code == 409
    assert await one(home, CustomRole, id=role.id) is not None

    response = await post(home.ayla, f"/settings/roles/{role.id}", {
        "name": "Raporcu", "description": "", "permissions": ["", "reports.see"]})
    assert 'data-permission="conversations.handle"' not in rows(response.text)[f"role-{role.id}"]

    await post(home.ayla, f"/settings/users/{home.deniz.user_id}", {
        "display_name": "Deniz", "role": "agent", "custom_role_id": "", "language": "tr",
        "group_ids": [""]})
    response = await post(home.ayla, f"/settings/roles/{role.id}/delete")
    assert f"role-{role.id}" not in rows(response.text)
    assert await one(home, CustomRole, id=role.id) is None


async def test_roles_page_is_for_those_who_manage_users(world):
    home = world.home
    for person in (home.sevgi, home.bora):
        assert (await person.client.get("/settings/roles")).status_code == 403
        response = await person.client.post("/settings/roles", data={
            "name": "Sızma", "permissions": ["security.manage"]}, headers={"hx-request": "true"})
        assert response.status_code == 403
    assert await one(home, CustomRole, name="Sızma") is None


async def test_a_role_without_permissions_is_refused_naming_the_field(world):
    response = await world.home.ayla.client.post("/settings/roles", data={
        "name": "Boş", "permissions": [""]}, headers={"hx-request": "true"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "permissions"

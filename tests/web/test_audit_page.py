"""Settings → Audit log: the entries with their before/after values, the filters, and who may
open it."""

from __future__ import annotations

from datetime import date

from tests.web.test_settings_pages import ESCAPED, XSS, page


async def test_the_log_lists_changes_with_before_and_after_and_filters(world):
    home = world.home
    response = await home.ayla.client.patch(f"/api/v1/users/{home.deniz.user_id}",
                                            json={"display_name": f"Deniz {XSS}"})
    assert response.status_code == 200
    html = await page(home.ayla, "/settings/audit")
    assert 'data-action="user.updated"' in html and 'data-action="auth.login"' in html
    assert "<del>Deniz</del>" in html and ESCAPED in html and XSS not in html

    html = await page(home.ayla, "/settings/audit?action=user.updated")
    assert 'data-action="auth.login"' not in html and 'data-action="user.updated"' in html
    assert 'href="/api/v1/audit-events/export?format=csv&amp;action=user.updated"' in html

    today = date.today().isoformat()
    html = await page(home.ayla, f"/settings/audit?since={today}&until={today}&action=user.updated")
    assert 'data-action="user.updated"' in html
    html = await page(home.ayla, "/settings/audit?since=2001-01-01&until=2001-01-02")
    assert 'id="audit-empty"' in html

    html = await page(home.ayla, "/settings/audit?since=dün")
    assert 'id="audit-filter-error"' in html


async def test_only_security_managers_open_the_log(world):
    for person in (world.home.sevgi, world.home.bora):
        assert (await person.client.get("/settings/audit")).status_code == 403

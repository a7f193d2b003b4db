"""Routing in the browser: a supervisor sets the web chat to round robin in the settings, and
two new customers land, live, in two different agents' "Mine" lists."""

from __future__ import annotations

from playwright.async_api import expect

from invekto.users import service as users
from invekto.users.schemas import UserUpdate


async def test_a_supervisor_sets_round_robin_and_two_customers_go_to_two_agents(
        world, open_browser):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await users.update_user(session, home.system, home.deniz.user_id,
                                UserUpdate(group_ids=[home.group_id]))
    # Both agents at work: their open inbox keeps them online.
    bora = await open_browser(home, "bora")
    deniz = await open_browser(home, "deniz")

    sevgi = (await open_browser(home, "sevgi", path="/settings/routing")).page
    row = sevgi.locator(f"#routing-{home.channel_id}")
    await expect(row).to_have_attribute("data-routed", "false")
    await row.get_by_label("Resepsiyon").check()
    await row.locator("select[name=algorithm]").select_option("round_robin")
    await row.get_by_role("button", name="Kaydet").click()
    row = sevgi.locator(f"#routing-{home.channel_id}")
    await expect(row.locator("[data-saved]")).to_be_visible()
    await expect(row).to_have_attribute("data-routed", "true")

    await home.inbound("Merhaba, randevu almak istiyorum", handle="ayse", name="Ayşe Yılmaz")
    await home.inbound("Fiyat bilgisi alabilir miyim?", handle="mehmet", name="Mehmet Öztürk")
    # Each row shows up in exactly one agent's list, live, and not the same agent twice.
    await expect(bora.page.locator(".conv-row")).to_have_count(1)
    await expect(deniz.page.locator(".conv-row")).to_have_count(1)
    await expect(bora.page.locator(".conv-row")).not_to_have_id(
        await deniz.page.locator(".conv-row").get_attribute("id"))
    names = [await bora.page.locator(".conv-row").inner_text(),
             await deniz.page.locator(".conv-row").inner_text()]
    assert sorted("Ayşe" in n for n in names) == [False, True]
    assert sorted("Mehmet" in n for n in names) == [False, True]

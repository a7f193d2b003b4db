"""Two-step verification in a real browser: set up from "My account" (the secret read off the
page, as an authenticator app would scan it), the recovery codes shown, then logging out and in
again with the password and a code the app would show."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from invekto.auth import totp
from tests.factories import PASSWORD


async def test_set_up_from_the_account_page_then_log_in_with_a_code(world, open_browser,
                                                                   artifacts):
    home = world.home
    page = (await open_browser(home, "deniz", path="/account")).page
    await expect(page.locator("#account-two-factor")).to_have_attribute("data-state", "off")
    await page.locator("#setup-form button[type=submit]").click()
    await expect(page.locator("#account-two-factor")).to_have_attribute("data-state",
                                                                        "setting-up")
    await expect(page.locator("#two-factor-setup svg")).to_be_visible()
    secret = await page.locator("#two-factor-secret").get_attribute("data-secret")
    assert secret and re.fullmatch(r"[A-Z2-7]{32}", secret)

    await page.locator("#enable-code").fill(totp.code_at(secret, datetime.now(UTC)))
    await page.locator("#enable-form button[type=submit]").click()
    await expect(page.locator("#account-two-factor")).to_have_attribute("data-state", "on")
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    await page.screenshot(path=str(artifacts / "account-two-factor.png"), full_page=True)

    # Out through the user menu, and in again: the password, then the code.
    await page.locator("#me-button").click()
    await page.locator("#me-menu button:has-text('Çıkış')").click()
    await page.wait_for_url(re.compile(r"/login$"))
    await page.fill("#company", home.slug)
    await page.fill("#username", "deniz")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/login/2fa$"))
    await expect(page.locator("#code")).to_be_focused()
    # The next 30 seconds' code: the one used to turn it on is good only once.
    await page.fill("#code", totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30)))
    await page.click("#code-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/inbox"))
    await expect(page.locator("body")).to_have_attribute("data-live", "true")

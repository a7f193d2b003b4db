"""Settings → E-mail in a real browser: the mail server saved (the password never shown again),
a refused field shown beside it in Turkish, a test e-mail that reaches a real SMTP server, and
last week's summary sent at once, its record shown under the form."""

from __future__ import annotations

from playwright.async_api import expect

from tests.mail.support import SMTP_PASSWORD, SMTP_USER, smtp_stub  # noqa: F401 - a fixture


async def test_an_admin_sets_up_the_mail_server_and_the_weekly_summary(world, open_browser,
                                                                      smtp_stub, artifacts):  # noqa: F811
    page = (await open_browser(world.home, "ayla", path="/settings/email")).page
    form = page.locator("#email-server-form")
    await form.locator("#email-host").fill("smtp example com")
    await form.locator("#email-port").fill(str(smtp_stub.port))
    await form.locator("#email-security").select_option("none")
    await expect(form.locator("#email-port")).to_have_value(str(smtp_stub.port))  # not a default
    await form.locator("#email-username").fill(SMTP_USER)
    await form.locator("#email-password").fill(SMTP_PASSWORD)
    await form.locator("#email-from_address").fill("rapor@example.com")
    await form.locator("#email-from_name").fill("Test Kliniği")
    await form.locator("#email-server-save").click()
    # Refused beside the field, in Turkish, what was typed kept but the password.
    await expect(page.locator('[data-error-for="host"]')).to_be_visible()
    await expect(page.locator("#email-host")).to_have_value("smtp example com")
    await expect(page.locator("#email-password")).to_have_value("")
    await expect(page.locator(".app-toast")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "settings-email-refused.png"))

    await page.locator("#email-host").fill("127.0.0.1")
    await page.locator("#email-password").fill(SMTP_PASSWORD)
    await page.locator("#email-server-save").click()
    await expect(page.locator("#email-saved")).to_be_visible()
    await expect(page.locator("#email-password-saved")).to_be_visible()
    await expect(page.locator("#email-password")).to_have_value("")
    assert SMTP_PASSWORD not in await page.content()

    await page.locator("#email-test-to").fill("ayla@example.com")
    await page.locator("#email-test-send").click()
    await expect(page.locator('#email-test-result [data-ok="true"]')).to_be_visible()
    assert [r.rcpt_tos for r in smtp_stub.received] == [["ayla@example.com"]]
    assert smtp_stub.received[0].login == SMTP_USER

    summary = page.locator("#email-summary-form")
    await summary.locator("#email-enabled").check()
    await summary.locator("#email-recipients").fill("mudur@example.com\nekip@example.com")
    await summary.locator("#email-summary-save").click()
    await expect(page.locator("#email-saved")).to_be_visible()
    await expect(page.locator("#email-last-send")).to_have_attribute("data-status", "none")
    await page.locator("#email-send-now").click()
    await expect(page.locator('#email-send-now-alert[data-ok="true"]')).to_be_visible()
    await expect(page.locator("#email-last-send")).to_have_attribute("data-status", "sent")
    assert sorted(smtp_stub.received[-1].rcpt_tos) == ["ekip@example.com", "mudur@example.com"]
    await page.screenshot(path=str(artifacts / "settings-email.png"), full_page=True)

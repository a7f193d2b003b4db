"""Erasing a person from the contact card in a real browser: the dialog asks for a typed
word, a wrong one is refused (nothing changes), the right one anonymises the card, and after
a reload the thread shows only the markers; Settings → Privacy lists the request and previews
and saves a retention policy."""

from __future__ import annotations

from playwright.async_api import expect

from invekto.core import i18n
from invekto.privacy.anonymise import CONTENT_ERASED, ERASED_CONTACT
from invekto.web.privacy_views import CONFIRM_WORD
from tests.privacy.support import NAME, PHONE, SECRET, all_text_of, customer_with_history


async def test_an_admin_erases_a_person_after_typing_the_word(world, open_browser, artifacts):
    home = world.home
    history = await customer_with_history(home)
    page = (await open_browser(home, "ayla",
                               path=f"/inbox?c={history.conversation_id}&status=")).page
    await expect(page.locator("#contact-name")).to_have_value(NAME)
    await expect(page.locator("#privacy-panel-body")).to_have_attribute("data-erased", "false")
    await expect(page.locator("#privacy-erase-dialog")).to_be_hidden()  # until asked for

    await page.locator("#privacy-erase").click()
    dialog = page.locator("#privacy-erase-dialog")
    await expect(dialog).to_be_visible()
    await page.screenshot(path=str(artifacts / "privacy-erase-dialog.png"))
    # The wrong word: refused, said so, nothing erased.
    await page.fill("#privacy-confirm-word", "tamam")
    await page.locator("#privacy-erase-confirm").click()
    await expect(page.locator("#toasts")).to_contain_text(i18n.text("tr", CONFIRM_WORD))
    await expect(dialog).to_be_visible()
    assert NAME in await all_text_of(home, history.contact_id)
    # Cancelled: closed, nothing erased.
    await page.locator("#privacy-erase-cancel").click()
    await expect(dialog).to_be_hidden()

    await page.locator("#privacy-erase").click()
    await page.fill("#privacy-confirm-word", i18n.text("tr", CONFIRM_WORD).lower())
    await page.locator("#privacy-erase-confirm").click()
    await expect(page.locator("#contact-name")).to_have_value(i18n.text("tr", ERASED_CONTACT))
    await expect(page.locator("#privacy-panel-body")).to_have_attribute("data-erased", "true")
    await expect(page.locator("#privacy-erased")).to_be_visible()
    await expect(page.locator('#contact-card input[name="phone"]')).to_have_value("")
    text = await all_text_of(home, history.contact_id)
    assert NAME.split()[0] not in text and PHONE not in text and SECRET not in text

    await page.reload()
    await expect(page.locator("#thread .msg-body").first).to_have_text(
        i18n.text("tr", CONTENT_ERASED))
    assert SECRET not in await page.locator("#thread").inner_text()
    await page.screenshot(path=str(artifacts / "privacy-erased.png"), full_page=True)

    # Settings → Privacy lists the request, and previews a policy before saving it.
    await page.goto("/settings/privacy")
    await expect(page.locator('.privacy-request[data-kind="erasure"]')).to_have_attribute(
        "data-contact-id", str(history.contact_id))
    await page.fill("#privacy-audit_days", "180")
    await page.locator("#privacy-preview").click()
    await expect(page.locator("#privacy-preview-result")).to_have_attribute(
        "data-audit-events", "0")
    await page.locator("#privacy-retention-save").click()
    await expect(page.locator("#privacy-saved")).to_be_visible()
    await expect(page.locator("#privacy-audit_days")).to_have_value("180")
    await page.screenshot(path=str(artifacts / "settings-privacy.png"), full_page=True)
